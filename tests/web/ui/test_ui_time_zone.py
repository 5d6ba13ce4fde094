"""The inbox's "Completed today" counts the user's day: midnight in the zone the browser reports.

``ui.js`` stores the browser's IANA zone in the ``workflows_tz`` cookie; the server counts from
midnight there and names the zone next to the counter. Without the cookie, or with a value that is
not a zone of the time zone database, it counts from midnight UTC and says so.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from ui_helpers import Element, page
from web_helpers import as_user, make_app, settle

from litestar_workflows.web.ui.requests import TZ_COOKIE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

    from litestar_workflows import WorkflowRegistry

UI = "/workflows/ui"
COMPLETED = datetime(2026, 3, 11, 14, 0, tzinfo=UTC)
"""When maria completes her task: 23:00 in Tokyo (UTC+9), 10:00 in New York (UTC-4 since 8 March)."""


@pytest.fixture
def backend() -> str:
    return "memory"


class Clock:
    """The engine's time, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(COMPLETED)


@pytest.fixture
def engine(engine_factory: Any, registry: WorkflowRegistry, clock: Clock) -> Any:
    return engine_factory(registry, clock=clock)


@pytest.fixture
def client(engine: Any) -> Iterator[TestClient[Litestar]]:
    """The app, with one task completed by maria at :data:`COMPLETED`."""
    with TestClient(make_app(engine)) as test_client:
        started = test_client.post(
            "/workflows/instances",
            json={"definition_name": "approval", "input_data": {"amount": 50}},
            headers=as_user("erik"),
        ).json()
        settle(test_client, engine, started["id"])
        [task] = test_client.get("/workflows/tasks", params={"instance_id": started["id"]}).json()
        done = test_client.post(
            f"/workflows/tasks/{task['id']}/complete",
            json={"output_data": {"approved": True}},
            headers=as_user("maria"),
        )
        assert done.status_code == 200, done.text
        settle(test_client, engine, started["id"])
        yield test_client


def completed_today(client: TestClient[Litestar], zone: str | None, path: str = "/tasks") -> tuple[str, str]:
    """The counter and the zone it names, for maria with ``zone`` in the cookie (none: no cookie)."""
    client.cookies.delete(TZ_COOKIE)
    if zone is not None:
        client.cookies.set(TZ_COOKIE, zone)
    response = client.get(f"{UI}{path}", headers=as_user("maria"))
    assert response.status_code == 200, response.text
    counter: Element = page(response).find("div", class_="counter-done")
    return counter.find("dd").text, counter.find(data_today_zone=True).text


def test_today_is_the_day_of_the_zone_in_the_cookie(client: TestClient[Litestar], clock: Clock) -> None:
    clock.now = datetime(2026, 3, 11, 16, 0, tzinfo=UTC)  # 01:00 on the 12th in Tokyo
    assert completed_today(client, None) == ("1", "(UTC)")
    assert completed_today(client, "Asia/Tokyo") == ("0", "(Asia/Tokyo)")  # done yesterday there
    assert completed_today(client, "America/New_York") == ("1", "(America/New_York)")
    assert completed_today(client, "Asia/Tokyo", path="/") == ("0", "(Asia/Tokyo)")  # the overview's

    clock.now = datetime(2026, 3, 12, 2, 0, tzinfo=UTC)  # still the 11th, 22:00, in New York
    assert completed_today(client, None) == ("0", "(UTC)")
    assert completed_today(client, "America/New_York") == ("1", "(America/New_York)")


@pytest.mark.parametrize(
    "bogus",
    ["Mars/Olympus_Mons", "../../../etc/passwd", "/etc/localtime", "Europe/" + "x" * 200, "asia/tokyo", ""],
)
def test_a_bogus_zone_counts_from_midnight_utc(
    client: TestClient[Litestar], clock: Clock, bogus: str
) -> None:
    clock.now = datetime(2026, 3, 11, 16, 0, tzinfo=UTC)
    assert completed_today(client, bogus) == ("1", "(UTC)")
