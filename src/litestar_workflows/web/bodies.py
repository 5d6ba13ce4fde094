r"""Request bodies of the REST API: size, nesting and encoding problems answer 4xx with a reason.

Litestar decodes a JSON body when a handler asks for its ``data``; a body nested a thousand levels
deep then raises ``RecursionError`` inside the decoder, which would answer 500. The API's guard
:func:`check_json_body` decodes the body first instead (Litestar keeps the decoded value, so the
handler does not decode it again) and answers:

* 413 when the body is larger than the API's ``max_body_size`` (Litestar's own limit, named);
* 400 when it nests deeper than :data:`MAX_BODY_DEPTH`, is not valid JSON, or holds an escaped
  UTF-16 surrogate without its pair (``"\ud800"``), said in those words;
* 400 naming every field the route's request class does not have (``inputs`` for ``input_data``);
* 400 saying that a JSON object is required when a route that needs a body gets none, or not an
  object.

It is a guard, not a request class, so that an application's own request class stays in use.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from litestar.exceptions import ClientException, SerializationException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.status_codes import HTTP_415_UNSUPPORTED_MEDIA_TYPE

from litestar_workflows.runtime.jsondata import MAX_NESTING_DEPTH, may_be_too_deep, too_deep
from litestar_workflows.web.strict_bodies import check_known_fields, check_object_body

if TYPE_CHECKING:
    from litestar import Request
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler

__all__ = ("DEFAULT_MAX_BODY_SIZE", "MAX_BODY_DEPTH", "check_json_body", "read_body", "unpaired_surrogate")

DEFAULT_MAX_BODY_SIZE: Final = 1_048_576
"""The API's default body limit, 1 MiB: far above any form or input data, far below the app's 10 MB."""

MAX_BODY_DEPTH: Final = MAX_NESTING_DEPTH + 1
"""Nesting a request body may have: workflow data's limit, plus the body's own envelope object."""

_BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})

_UNPAIRED_SURROGATE: Final = re.compile(
    # An escape that is not itself escaped (an even number of backslashes before it) of a high
    # surrogate not followed by a low one, or of a low surrogate not preceded by a high one.
    rb"(?<!\\)(?:\\\\)*(?P<escape>\\u[dD][89abAB][0-9a-fA-F]{2})(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\)(?:\\\\)*(?<!\\u[dD][89abAB][0-9a-fA-F]{2})(?P<low>\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)


def unpaired_surrogate(body: bytes) -> tuple[str, int] | None:
    r"""The first escaped UTF-16 surrogate without its pair in JSON text (``\ud800``) and its byte offset."""
    match = _UNPAIRED_SURROGATE.search(body)
    if match is None:
        return None
    group = "escape" if match.group("escape") is not None else "low"
    return match.group(group).decode("ascii"), match.start(group)


def _too_large(handler: BaseRouteHandler) -> RequestEntityTooLarge:
    limit = getattr(handler, "resolve_request_max_body_size", lambda: None)()
    detail = (
        f"The request body is larger than {limit:,} bytes, the most this API accepts"
        if limit
        else "The request body is too large"
    )
    return RequestEntityTooLarge(detail=detail)  # its class name is the answer's "error"


def _too_deep(where: str | None) -> ClientException:
    at = f" (at {where})" if where else ""
    return ClientException(
        detail=(
            f"The JSON body nests objects and arrays more than {MAX_BODY_DEPTH} levels deep{at}; "
            f"workflow data may nest at most {MAX_NESTING_DEPTH} levels"
        )
    )


def _not_json(body: bytes, error: SerializationException) -> ClientException:
    found = unpaired_surrogate(body)
    if found is not None:
        escape, offset = found
        return ClientException(
            detail=(
                f"Invalid JSON string: unpaired UTF-16 surrogate {escape} at byte {offset}; a surrogate "
                r"escape must come in a pair (\ud800-\udbff followed by \udc00-\udfff)"
            )
        )
    return ClientException(detail=f"The body is not valid JSON: {error.detail or error}")


FORM_MEDIA_TYPES: Final = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
"""What an HTML form of any other site can send without asking (no CORS preflight)."""


def refuse_form_posts(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of the users' API routes: a request typed as a form is refused (415).

    The API reads JSON only. A page of another site can make a signed-in user's browser send a
    form, cookies included, to any address; refusing those content types leaves it only requests
    that the browser checks with the API's origin first (CORS), so a cookie-authenticated app is
    not driven by forms elsewhere.

    Raises:
        ClientException: 415, naming the content type and what to send instead.
    """
    if connection.scope.get("method") not in _BODY_METHODS:
        return
    given = connection.headers.get("content-type", "")
    media_type = given.split(";", 1)[0].strip().lower()
    if media_type in FORM_MEDIA_TYPES:
        raise ClientException(
            status_code=HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            detail=f"The API reads JSON, not {media_type}: send the body as JSON with "
            "Content-Type: application/json (or no body at all)",
        )


async def read_body(request: Request[Any, Any, Any], handler: BaseRouteHandler) -> bytes:
    """The raw body, unparsed; a body over the API's limit is refused with 413 naming the limit.

    Raises:
        RequestEntityTooLarge: Larger than the API's body limit.
    """
    try:
        return await request.body()
    except RequestEntityTooLarge:
        raise _too_large(handler) from None


async def check_json_body(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard of the API's routes: read and decode a JSON body up front, refusing a bad one with 4xx.

    Raises:
        ClientException: 413 (larger than the API's body limit) or 400 (nested too deeply, not
            valid JSON, an unpaired surrogate), each with a reason.
    """
    if connection.scope.get("method") not in _BODY_METHODS:
        return
    request: Request[Any, Any, Any] = connection  # type: ignore[assignment]
    body = await read_body(request, handler)
    if not body:
        check_object_body(handler, None, empty=True)
        return
    try:
        value = await request.json()
    except RecursionError:
        raise _too_deep(None) from None
    except SerializationException as error:
        raise _not_json(body, error) from None
    if may_be_too_deep(body, MAX_BODY_DEPTH):
        where = too_deep(value, MAX_BODY_DEPTH)
        if where is not None:
            raise _too_deep(where)
    check_object_body(handler, value, empty=False)
    check_known_fields(handler, value)
