"""The demo in a browser: an "Act as" picker on every page, ``?as=`` kept in a cookie, a full approval."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest
from litestar.testing import TestClient
from ui_helpers import page, post_form

from litestar_workflows.core.types import WorkflowStatus
from litestar_workflows.demo.app import create_app
from litestar_workflows.demo.auth import DEMO_USERS, USER_COOKIE
from litestar_workflows.plugin import WorkflowPlugin

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

UI = "/workflows/ui"


@pytest.fixture
def demo() -> Iterator[tuple[TestClient[Litestar], Any]]:
    app = create_app(in_memory=True)
    with TestClient(app) as client:
        yield client, app.plugins.get(WorkflowPlugin).engine


def acting(client: TestClient[Litestar], path: str = "/") -> str:
    picker = page(client.get(f"{UI}{path}")).find("select", name="as")
    return next((o.attrs["value"] for o in picker.find_all("option") if "selected" in o.attrs), "")


def test_the_picker_offers_every_demo_user_and_as_sticks(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, _ = demo
    overview = page(client.get(f"{UI}/"))
    form = overview.find("form", class_="picker")
    assert form.attrs["method"] == "get"
    assert overview.find("label", for_="act-as").text == "Act as"
    assert [o.attrs["value"] for o in form.find("select", name="as").find_all("option")] == ["", *DEMO_USERS]
    assert acting(client) == ""
    chosen = client.get(f"{UI}/tasks", params={"as": "maria"})
    assert USER_COOKIE in chosen.headers["set-cookie"]
    assert "HttpOnly" in chosen.headers["set-cookie"]
    for path in ("/", "/tasks", "/instances", "/workflows"):
        assert acting(client, path) == "maria", path  # no ?as= any more: the cookie remembers
    client.get(f"{UI}/", params={"as": "fiona"})
    assert acting(client, "/tasks") == "fiona"
    client.get(f"{UI}/", params={"as": ""})
    assert acting(client) == ""
    # The picker keeps the page's other query parameters.
    filtered = page(client.get(f"{UI}/instances", params={"status": "failed"})).find("form", class_="picker")
    assert filtered.find("input", type="hidden", name="status").attrs["value"] == "failed"


def test_the_start_form_comes_from_the_input_schema(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, _ = demo
    client.get(f"{UI}/", params={"as": "erik"})
    form = page(client.get(f"{UI}/workflows/expense_approval/start")).find("form", method="post")
    assert form.find("input", name="amount").attrs["type"] == "number"
    assert "meals" in [o.attrs["value"] for o in form.find("select", name="category").find_all("option")]
    assert form.find("input", name="receipts_attached").attrs["type"] == "checkbox"
    assert not form.find_all("textarea", name="input_data")
    refused = post_form(
        client, f"{UI}/workflows/expense_approval/start", {"amount": "-5", "category": "travel"}
    )
    assert refused.status_code == 422
    again = page(refused)
    assert "amount" in again.find(role="alert").text
    assert again.find("input", name="amount").attrs["value"] == "-5"
    assert client.get("/workflows/instances").json() == []


def test_an_expense_clicked_through_by_three_people(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, engine = demo
    client.get(f"{UI}/", params={"as": "erik"})
    started = post_form(
        client,
        f"{UI}/workflows/expense_approval/start",
        {"amount": "2500", "category": "travel", "description": "Conference", "reminder_seconds": "0"},
    )
    assert started.status_code == 303, started.text
    instance_url = started.headers["location"]
    instance_id = UUID(instance_url.rsplit("/", 1)[1])
    client.blocking_portal.call(lambda: engine.wait(instance_id, timeout=30))

    for user, title in (
        ("maria", "Approve expense claim: 2,500.00 for travel by erik"),
        ("fiona", "Finance sign-off for a large expense: 2,500.00 for travel by erik"),
    ):
        client.get(f"{UI}/", params={"as": user})
        inbox = page(client.get(f"{UI}/tasks"))
        link = next(a for a in inbox.find("table").find_all("a") if a.text == title)
        done = post_form(client, f"{link.attrs['href']}/complete", {"approved": "true"})
        assert done.status_code == 303, done.text
        assert done.headers["location"] == instance_url
        client.blocking_portal.call(lambda: engine.wait(instance_id, timeout=30))

    finished = client.blocking_portal.call(
        lambda: engine.wait(instance_id, until=WorkflowStatus.COMPLETED, timeout=30)
    )
    assert finished.status is WorkflowStatus.COMPLETED
    client.get(f"{UI}/", params={"as": "erik"})
    shown = page(client.get(instance_url))
    assert shown.find(data_status=True).attrs["data-status"] == "completed"
    timeline = shown.find("table", class_="timeline").text
    assert "maria" in timeline and "fiona" in timeline


def test_the_demo_index_sends_browsers_to_the_ui(demo: tuple[TestClient[Litestar], Any]) -> None:
    client, _ = demo
    browser = client.get("/", headers={"accept": "text/html,*/*"}, follow_redirects=False)
    assert browser.status_code in {301, 302, 303, 307}
    assert browser.headers["location"] == f"{UI}/"
    assert client.get("/").json()["ui"] == f"{UI}/"
