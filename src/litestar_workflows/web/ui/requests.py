"""What the UI's routes share about requests: form fields, dates from a query, links, error pairs."""

from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any, Final
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from litestar import Request
from litestar.exceptions import ValidationException

from litestar_workflows.core.errors import WorkflowValidationError
from litestar_workflows.core.forms import data_problems
from litestar_workflows.core.types import WorkflowStatus
from litestar_workflows.web.errors import error_fields, outside_calendar, split_field
from litestar_workflows.web.ui.rendering import ui_root_of
from litestar_workflows.web.ui.schema_form import FormProblem

__all__ = (
    "TZ_COOKIE",
    "field_errors",
    "form_of",
    "form_text",
    "moment_of",
    "problems_of",
    "status_of",
    "ui_url",
    "zone_of",
)

TZ_COOKIE: Final = "workflows_tz"
"""The cookie in which ``ui.js`` keeps the browser's IANA time zone (``Europe/Berlin``)."""
MAX_ZONE_NAME: Final = 64
"""Longest zone name read from that cookie (the longest IANA name is about 30 characters)."""


def field_errors(error: WorkflowValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` pairs of a validation error; the field is the top-level property."""
    pairs = []
    for where, message in error_fields(error) if error.errors else [split_field(error.detail)]:
        if not where:
            pairs.append(("", message))
            continue
        top = where.split("/", 1)[0]
        pairs.append(("" if top in {"(root)", "$"} else top, message))
    return pairs


def problems_of(
    problems: list[FormProblem], schema: dict[str, Any] | None = None, data: Any = None
) -> list[tuple[str, str]]:
    """``(field, message)`` pairs of values the form could not read.

    With the ``schema`` and what could be read (``data``), the schema's complaints about the other
    fields come too (a required field left empty, say), so that one round names every problem;
    fields already named for being unreadable are not named twice.
    """
    pairs = [(problem.field, problem.message) for problem in problems]
    if problems and schema:
        named = {problem.field for problem in problems}
        try:
            found = data_problems(schema, data, "the form")
        except WorkflowValidationError:
            return pairs
        for where, message in found:
            top = where.split("/", 1)[0]
            if top and top not in named and top not in {"(root)", "$"}:
                pairs.append((top, message))
    return pairs


def ui_url(request: Request[Any, Any, Any], *parts: object) -> str:
    """A path inside the UI the request was made to (``ui_url(request, "instances", id)``)."""
    return ui_root_of(request).rstrip("/") + "/" + "/".join(quote(str(part), safe="") for part in parts)


def moment_of(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A date (``2024-05-01``, the filter form's) or date-time from the query; UTC without a zone.

    Raises:
        ValidationException: Not a date, or one whose UTC falls outside the calendar
            (``0001-01-01T00:00:00+01:00``): the stores compare in UTC (400, naming the parameter).
    """
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationException(f"{name} must be a date such as 2024-05-01") from None
    if end_of_day and len(value) == 10:  # a date: up to the end of that day
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999_999)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    problem = outside_calendar(moment, name, value)
    if problem is not None:
        raise ValidationException(problem)
    return moment


def form_text(value: str) -> str:
    """``value`` with the line breaks the browser counted: CRLF and lone CR become LF.

    HTML's form submission sends every line break of a textarea as CRLF, but the browser's
    ``maxlength`` (from the schema's ``maxLength``) counts it as one character. Undone here, the
    engine validates and stores the text the browser accepted, with the newlines an API client
    would send, instead of refusing a comment the form let through as "too long".
    """
    return value.replace("\r\n", "\n").replace("\r", "\n")


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The submitted form's text fields, line breaks as LF (the CSRF middleware has read it already)."""
    form = await request.form()
    return {key: form_text(value) for key, value in form.items() if isinstance(value, str)}


def status_of(value: str | None) -> WorkflowStatus | None:
    """The status filter of the instance list; the filter form's "Any" sends it empty.

    Raises:
        ValidationException: Not a workflow status (400, naming the valid ones).
    """
    if not value:
        return None
    try:
        return WorkflowStatus(value)
    except ValueError:
        valid = ", ".join(str(status) for status in WorkflowStatus)
        raise ValidationException(f"status must be one of {valid}, not {value!r}") from None


@cache
def _known_zones() -> frozenset[str]:
    """The zone names of the system's (or the ``tzdata`` package's) time zone database, read once."""
    return frozenset(available_timezones())


def zone_of(request: Request[Any, Any, Any]) -> tzinfo:
    """The user's time zone, so that "today" on a page is their day and not UTC's.

    The name comes from a cookie the browser's script sets, so it is untrusted: only a name the
    time zone database lists is opened (no path or other file name reaches ``ZoneInfo``), and
    anything else, or no cookie yet, is UTC. ``str()`` of the result names the zone for the page.
    """
    name = request.cookies.get(TZ_COOKIE, "")
    if not name or len(name) > MAX_ZONE_NAME or name not in _known_zones():
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # listed, yet unreadable: keep to UTC
        return UTC
