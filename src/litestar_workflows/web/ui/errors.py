"""Error pages of the UI: the API's error mapping, answered as HTML a person can act on.

The status of each workflow error is the API's (:data:`~litestar_workflows.web.errors.STATUS_OF`):
a user who may not act gets 403, a missing or other tenant's instance 404, a finished instance
409. Litestar's own HTTP errors (a refused CSRF token, a malformed query) get the same page.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Final

from litestar.exceptions import HTTPException
from litestar.status_codes import (
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from litestar_workflows.core.errors import WorkflowsError
from litestar_workflows.web.errors import (
    STATUS_OF,
    STORE_UNAVAILABLE,
    field_errors,
    malformed_id_detail,
    malformed_path_id,
    not_found_detail,
)
from litestar_workflows.web.identity import Actor
from litestar_workflows.web.ui.rendering import page

if TYPE_CHECKING:
    from litestar import Request, Response
    from litestar.types import ExceptionHandlersMap

__all__ = ("ui_exception_handlers",)

logger = logging.getLogger("litestar_workflows.web")

_TITLES: Final = {
    HTTP_403_FORBIDDEN: "Not allowed",
    HTTP_404_NOT_FOUND: "Not found",
    HTTP_409_CONFLICT: "Not possible now",
    HTTP_422_UNPROCESSABLE_ENTITY: "Invalid input",
    HTTP_503_SERVICE_UNAVAILABLE: "Temporarily unavailable",
}


def _status_of(error: WorkflowsError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_OF.get(cls)
        if status is not None:
            return status
    return HTTP_409_CONFLICT


def _explain(request: Request[Any, Any, Any], error: Exception) -> tuple[int, str, list[str]]:
    """Status, message and failing fields of ``error``."""
    if isinstance(error, WorkflowsError):
        status = _status_of(error)
        if status == HTTP_503_SERVICE_UNAVAILABLE:
            return status, STORE_UNAVAILABLE, []
        detail = not_found_detail(error) if status == HTTP_404_NOT_FOUND else error.detail
        fields = [f"{e.field}: {e.message}" if e.field else e.message for e in field_errors(error)]
        return status, detail, fields
    if isinstance(error, HTTPException):
        malformed = malformed_path_id(request, error)
        if malformed is not None:  # an id that is not a UUID names nothing, as an unknown one
            return HTTP_404_NOT_FOUND, malformed_id_detail(request, malformed)[0], []
        detail = error.detail
        if error.status_code == HTTP_403_FORBIDDEN and "CSRF" in detail:
            detail = (
                "The form's security token is missing or expired (CSRF check). "
                "Reload the page and submit the form again."
            )
        return error.status_code, detail, _parameter_problems(error)
    return HTTP_500_INTERNAL_SERVER_ERROR, "Something went wrong on the server", []


def _parameter_problems(error: HTTPException) -> list[str]:
    """``"offset: expected int"`` lines from what Litestar's validation error carries in ``extra``."""
    extra = getattr(error, "extra", None)
    if not isinstance(extra, list):
        return []
    problems = []
    for item in extra:
        if isinstance(item, dict) and item.get("message"):
            key = item.get("key")
            problems.append(f"{key}: {item['message']}" if key else str(item["message"]))
    return problems


def _handle(request: Request[Any, Any, Any], error: Exception) -> Response[str]:
    status, detail, fields = _explain(request, error)
    if status >= HTTP_500_INTERNAL_SERVER_ERROR:
        logger.error("%s %s answered %s: %s", request.method, request.url.path, status, error, exc_info=error)
    context = {
        "status_code": status,
        "title": _TITLES.get(status, "Error"),
        "detail": detail,
        "fields": fields,
    }
    return page(request, Actor(), "workflows/error.html", context, status_code=status)


def ui_exception_handlers() -> ExceptionHandlersMap:
    """HTML pages for workflow errors and HTTP errors, for the UI's routes."""
    handlers: ExceptionHandlersMap = dict.fromkeys(STATUS_OF, _handle)
    handlers[HTTPException] = _handle
    return handlers
