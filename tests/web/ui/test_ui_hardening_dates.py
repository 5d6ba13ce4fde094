"""A date filter whose UTC falls outside the calendar is a 400 naming it, on every backend.

``0001-01-01T00:00:00+01:00`` is a valid ISO 8601 time, but in UTC it is in year 0; the SQL stores
compare in UTC and failed on it, which answered 503 "database unavailable".
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from ui_helpers import page
from web_helpers import as_user

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"
EDGES = [
    ("started_after", "0001-01-01T00:00:00+01:00"),
    ("started_before", "9999-12-31T23:59:59-01:00"),
]


@pytest.mark.parametrize(("name", "value"), EDGES)
def test_the_api_refuses_a_time_outside_the_calendar_in_utc(
    ui_client: TestClient[Litestar], name: str, value: str
) -> None:
    refused = ui_client.get("/workflows/instances", params={name: value}, headers=as_user("erik"))
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["detail"].startswith(f"{name} must fall between 0001-01-01 and 9999-12-31 in UTC")
    assert [e["field"] for e in body["errors"]] == [name]
    assert [e["key"] for e in body["extra"]] == [name]


@pytest.mark.parametrize(("name", "value"), [*EDGES, ("started_before", "9999-12-31T23:00-05:00")])
def test_the_ui_refuses_a_time_outside_the_calendar_in_utc(
    ui_client: TestClient[Litestar], name: str, value: str
) -> None:
    refused = ui_client.get(f"{UI}/instances", params={name: value}, headers=as_user("erik"))
    assert refused.status_code == 400
    assert (
        f"{name} must fall between 0001-01-01 and 9999-12-31 in UTC" in page(refused).find(role="alert").text
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("started_after", "0001-01-01T00:00:00Z"), ("started_before", "9999-12-31T23:59:59.999999+00:00")],
)
def test_the_calendars_own_edges_are_fine_filters(
    ui_client: TestClient[Litestar], name: str, value: str
) -> None:
    assert ui_client.get("/workflows/instances", params={name: value}).status_code == 200
    assert ui_client.get(f"{UI}/instances", params={name: value}).status_code == 200
    assert ui_client.get(f"{UI}/instances", params={name: value[:10]}).status_code == 200
