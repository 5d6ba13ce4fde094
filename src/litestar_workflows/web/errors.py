"""Map workflow errors to HTTP responses, once, for every route of the REST API.

The handlers are registered on the API's router only, so an application's own routes keep
their own error handling. Lookup follows the exception's MRO, so the most specific entry wins:
``TaskValidationError`` is a ``HumanTaskError`` (409) but answers 422, ``TaskNotFoundError``
answers 404 and ``UnauthorizedTaskError`` 403.

Litestar's own errors on these routes (its 400 for a parameter or body failing validation, the
body guard's 400 and 413, a 429) get the same body, ``{"status_code", "detail", "error",
"errors"}``, so a client reads every error one way: ``error`` is the exception's class name and
``errors`` names each failing field from Litestar's ``extra`` (kept as it was, for clients that
read it). An id in the path that is not a UUID answers like an unknown one, 404, saying so.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

import msgspec
from litestar import MediaType, Response
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_429_TOO_MANY_REQUESTS,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from litestar_workflows.core.errors import (
    ConcurrencyError,
    ContextSerializationError,
    HumanTaskError,
    InvalidTransitionError,
    StoreError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    UnauthorizedError,
    UnauthorizedTaskError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowValidationError,
)
from litestar_workflows.web.schemas import ErrorBody, FieldError

if TYPE_CHECKING:
    from litestar import Request
    from litestar.types import ExceptionHandlersMap

__all__ = (
    "STATUS_OF",
    "STORE_UNAVAILABLE",
    "WHOLE_BODY",
    "error_body",
    "error_responses",
    "exception_handlers",
    "field_errors",
    "malformed_id_detail",
    "malformed_path_id",
    "not_found_detail",
)

logger = logging.getLogger("litestar_workflows.web")

STORE_UNAVAILABLE: Final = "The workflow database is unavailable; try again later"
"""The detail of every 503: the driver's own message (hosts, SQL, paths) goes to the log only."""

STATUS_OF: Final[dict[type[WorkflowsError], int]] = {
    WorkflowNotFoundError: HTTP_404_NOT_FOUND,
    WorkflowInstanceNotFoundError: HTTP_404_NOT_FOUND,
    TaskNotFoundError: HTTP_404_NOT_FOUND,
    InvalidTransitionError: HTTP_409_CONFLICT,
    WorkflowAlreadyCompletedError: HTTP_409_CONFLICT,
    HumanTaskError: HTTP_409_CONFLICT,
    TaskAlreadyCompletedError: HTTP_409_CONFLICT,
    ConcurrencyError: HTTP_409_CONFLICT,
    UnauthorizedError: HTTP_403_FORBIDDEN,
    UnauthorizedTaskError: HTTP_403_FORBIDDEN,
    WorkflowValidationError: HTTP_422_UNPROCESSABLE_ENTITY,
    ContextSerializationError: HTTP_422_UNPROCESSABLE_ENTITY,
    TaskValidationError: HTTP_422_UNPROCESSABLE_ENTITY,
    StoreError: HTTP_503_SERVICE_UNAVAILABLE,
}
"""HTTP status of each workflow error the API can meet; subclasses inherit their parent's."""

_DESCRIPTIONS: Final = {
    HTTP_401_UNAUTHORIZED: "The delivery's signature is missing, stale or wrong",
    HTTP_403_FORBIDDEN: "The acting user may not do this",
    HTTP_404_NOT_FOUND: "No such workflow, instance or task (or it belongs to another tenant)",
    HTTP_409_CONFLICT: "Not possible in the current state (finished, completed already, changed meanwhile)",
    HTTP_422_UNPROCESSABLE_ENTITY: "The data fails validation; `errors` names each field",
    HTTP_429_TOO_MANY_REQUESTS: "This client holds as many long polls as it may (`max_waits_per_client`)",
    HTTP_503_SERVICE_UNAVAILABLE: "The workflow database is unavailable",
}


def field_errors(error: WorkflowsError) -> list[FieldError]:
    """The failing fields of a validation error (``"path: message"`` strings split at the colon)."""
    if not isinstance(error, WorkflowValidationError):
        return []
    return [FieldError(field=where, message=message) for where, message in error_fields(error)]


def error_fields(error: WorkflowValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` of each entry of ``error.errors``: its ``fields`` where it has them."""
    fields = error.fields
    if fields is not None and len(fields) == len(error.errors):
        return [
            (field, entry[len(field) + 2 :] if entry.startswith(f"{field}: ") else entry)
            for field, entry in zip(fields, error.errors, strict=True)
        ]
    return [split_field(entry) for entry in error.errors]


def split_field(entry: str) -> tuple[str, str]:
    """``"amount/0: message"`` as ``("amount/0", "message")``; a sentence as ``("", sentence)``.

    A validation error names its field before the first ``": "`` (a JSON Schema path such as
    ``address/city`` or ``(root)``). Other errors are sentences that may hold a colon themselves
    ("new_assignee ' bob' is blank ...: give a user id"): text with spaces before that colon is
    no field name, and the whole entry is the message.
    """
    where, sep, message = entry.partition(": ")
    if not sep or not where or any(character.isspace() for character in where):
        return "", entry
    return where, message


def not_found_detail(error: WorkflowsError) -> str:
    """What a 404 says: the documented "... 'x' not found" wording, naming what is missing."""
    if isinstance(error, WorkflowNotFoundError):
        version = getattr(error, "version", None)
        name = getattr(error, "name", "")
        if version is None:
            return f"Workflow definition {name!r} not found"
        return f"Workflow definition {name!r} version {version!r} not found"
    if isinstance(error, WorkflowInstanceNotFoundError):
        return f"Workflow instance {getattr(error, 'instance_id', '')} not found"
    detail = error.detail
    if "not found" in detail.lower():
        return detail
    if "does not exist" in detail:
        return detail.replace("does not exist", "not found")
    return f"{detail}: not found"


def error_body(error: WorkflowsError, status_code: int) -> ErrorBody:
    """The response body for ``error``: its status, detail, class name and failing fields."""
    return ErrorBody(
        status_code=status_code,
        detail=not_found_detail(error) if status_code == HTTP_404_NOT_FOUND else error.detail,
        error=public_name(error),
        errors=field_errors(error),
    )


def public_name(error: WorkflowsError) -> str:
    """The class name an answer gives: the nearest of the documented error classes.

    A subclass made elsewhere (the persistent engine's ``StoredInstanceNotFoundError``, a user's)
    answers as the documented class it refines, so clients see one name per kind of error.
    """
    for cls in type(error).__mro__:
        if cls.__module__ == WorkflowsError.__module__:
            return cls.__name__
    return type(error).__name__  # pragma: no cover - every error derives from WorkflowsError


def _status_of(error: WorkflowsError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_OF.get(cls)
        if status is not None:
            return status
    return HTTP_409_CONFLICT  # pragma: no cover - only registered classes reach the handler


def _handle(request: Request[Any, Any, Any], error: Exception) -> Response[ErrorBody]:
    assert isinstance(error, WorkflowsError)  # registered for WorkflowsError subclasses only
    status = _status_of(error)
    if status == HTTP_503_SERVICE_UNAVAILABLE:
        # What the driver says can name hosts, files and SQL: useful to the operator, not the caller.
        logger.error("%s %s answered 503: %s", request.method, request.url.path, error, exc_info=error)
        body = ErrorBody(status_code=status, detail=STORE_UNAVAILABLE, error=public_name(error), errors=[])
        return Response(body, status_code=status, media_type=MediaType.JSON)
    return Response(error_body(error, status), status_code=status, media_type=MediaType.JSON)


_PATH_IDS: Final[dict[str, tuple[str, type[WorkflowsError]]]] = {
    "instance_id": ("Workflow instance", WorkflowInstanceNotFoundError),
    "task_id": ("Task", TaskNotFoundError),
}
"""The ids the API's paths take: what each names, and the error an unknown one answers with."""

WHOLE_BODY: Final = "(root)"
"""The ``field`` of an error about the body as a whole (as form errors name it)."""


_MISSING_FIELD: Final = re.compile(r"missing required field `(?P<field>[^`]+)`")
"""msgspec's message for an absent field, which Litestar files under the body as a whole."""


def _field_of(entry: dict[str, Any]) -> FieldError:
    key, message = str(entry.get("key", "")), str(entry.get("message", ""))
    if key == "data" and entry.get("source") == "body":  # Litestar names the whole body by the parameter
        missing = _MISSING_FIELD.search(message)
        key = missing.group("field") if missing else WHOLE_BODY
    return FieldError(field=key, message=message)


def malformed_path_id(request: Request[Any, Any, Any], error: HTTPException) -> FieldError | None:
    """The path id ``error`` refused for not being a UUID, as a field error; ``None`` for anything else.

    The API's and the UI's paths take their ids as strings and their handlers as UUIDs, so an id
    that is not one fails Litestar's validation (``source: path``) instead of the routing, whose
    bare "Not Found" would come before any handler of ours could say why. Both answer it as an
    unknown id, 404, with :func:`malformed_id_detail`.
    """
    entries = error.extra if isinstance(error.extra, list) else []
    for entry in entries:
        if isinstance(entry, dict) and entry.get("source") == "path" and entry.get("key") in _PATH_IDS:
            key = str(entry["key"])
            return FieldError(field=key, message=f"{request.path_params.get(key, '')!r} is not a UUID")
    return None


def malformed_id_detail(request: Request[Any, Any, Any], malformed: FieldError) -> tuple[str, str]:
    """The 404's detail for a :func:`malformed_path_id`, and the name of the error it stands for."""
    what, error = _PATH_IDS[malformed.field]
    value = request.path_params.get(malformed.field, "")
    return f"{what} {value!r} not found: the id is malformed (not a UUID)", error.__name__


def _handle_http(request: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    """Litestar's own errors in the documented shape; its ``extra`` is kept alongside ``errors``.

    A path id that is not a UUID answers 404 like an unknown one (:func:`malformed_path_id`).
    """
    assert isinstance(error, HTTPException)  # registered for HTTPException only
    malformed = malformed_path_id(request, error)
    if malformed is not None:
        detail, name = malformed_id_detail(request, malformed)
        missing = ErrorBody(status_code=HTTP_404_NOT_FOUND, detail=detail, error=name, errors=[malformed])
        return Response(missing, status_code=HTTP_404_NOT_FOUND, media_type=MediaType.JSON)
    entries = [e for e in error.extra if isinstance(e, dict)] if isinstance(error.extra, list) else []
    body = ErrorBody(
        status_code=error.status_code,
        detail=error.detail,
        error=type(error).__name__,
        errors=[_field_of(entry) for entry in entries],
    )
    content = msgspec.to_builtins(body)
    if error.extra is not None:
        content["extra"] = error.extra
    return Response(content, status_code=error.status_code, headers=error.headers, media_type=MediaType.JSON)


def outside_calendar(moment: datetime, name: str, given: str) -> str | None:
    """Why the time filter ``name`` cannot be used, when ``moment`` has no UTC form; else ``None``.

    An aware date-time at the calendar's edge (``0001-01-01T00:00+01:00``) overflows once
    converted to UTC, which the database query does: the API and the UI refuse it up front.
    """
    try:
        moment.astimezone(UTC)
    except OverflowError:
        return f"{name} must fall between 0001-01-01 and 9999-12-31 in UTC, not {given}"
    return None


def exception_handlers() -> ExceptionHandlersMap:
    """Handlers for every error in :data:`STATUS_OF` and Litestar's own, for the API's router."""
    handlers: ExceptionHandlersMap = dict.fromkeys(STATUS_OF, _handle)
    handlers[HTTPException] = _handle_http
    return handlers


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI descriptions of the error responses a route can give."""
    return {
        status: ResponseSpec(
            data_container=ErrorBody, description=_DESCRIPTIONS[status], generate_examples=False
        )
        for status in statuses
    }
