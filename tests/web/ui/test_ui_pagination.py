"""Long lists are paged: a big inbox and a long step history never render whole."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from ui_helpers import long_chain, page
from web_helpers import as_user, settle

from litestar_workflows.web.ui.pages import HISTORY_PAGE, LIST_PAGE

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

    from litestar_workflows import WorkflowRegistry

UI = "/workflows/ui"


@pytest.fixture
def backend() -> str:
    return "memory"


def test_the_inbox_pages_through_many_tasks(ui_client: TestClient[Litestar], engine: Any) -> None:
    count = LIST_PAGE * 2 + 5
    for _ in range(count):
        response = ui_client.post(
            "/workflows/instances",
            json={"definition_name": "approval", "input_data": {"amount": 5}},
            headers=as_user("erik"),
        )
        settle(ui_client, engine, response.json()["id"])
    first = page(ui_client.get(f"{UI}/tasks", headers=as_user("maria")))
    assert first.find(data_counter="pending").text == str(count)
    assert len(first.find("tbody").find_all("tr")) == LIST_PAGE
    pager = first.find("nav", class_="pager")
    assert f"1–{LIST_PAGE} of {count} tasks" in pager.text
    assert not pager.find_all("a", rel="prev")
    following = pager.find("a", rel="next").attrs["href"]
    second = page(ui_client.get(following, headers=as_user("maria")))
    assert f"{LIST_PAGE + 1}–{LIST_PAGE * 2} of {count}" in second.find("nav", class_="pager").text
    last = page(ui_client.get(f"{UI}/tasks", params={"offset": LIST_PAGE * 2}, headers=as_user("maria")))
    assert len(last.find("tbody").find_all("tr")) == 5
    assert not last.find("nav", class_="pager").find_all("a", rel="next")
    titles = {a.text for a in first.find("tbody").find_all("a")}
    assert titles == {"Review the request"}


def test_a_long_history_is_paged_newest_first(
    ui_client: TestClient[Litestar], engine: Any, registry: WorkflowRegistry
) -> None:
    steps = HISTORY_PAGE * 2 + 20
    registry.register_definition(long_chain(steps))
    response = ui_client.post(
        "/workflows/instances", json={"definition_name": "long_chain", "input_data": {}}
    )
    instance_id = response.json()["id"]
    assert settle(ui_client, engine, instance_id).status.value == "completed"
    url = f"{UI}/instances/{instance_id}"
    first = page(ui_client.get(url))
    rows = first.find("table", class_="timeline").find("tbody").find_all("tr")
    assert len(rows) == HISTORY_PAGE
    assert rows[0].find("th").text == f"S{steps - 1:03d}"  # the newest step first
    pager = first.find("nav", class_="pager")
    assert f"of {steps} step executions" in pager.text
    older = page(ui_client.get(pager.find("a", rel="next").attrs["href"]))
    assert (
        older.find("table", class_="timeline").find("tbody").find("th").text
        == f"S{steps - 1 - HISTORY_PAGE:03d}"
    )
    oldest = page(ui_client.get(url, params={"history": HISTORY_PAGE * 2}))
    last_rows = oldest.find("table", class_="timeline").find("tbody").find_all("tr")
    assert len(last_rows) == 20
    assert last_rows[-1].find("th").text == "S000"


def test_a_page_past_the_end_says_so_and_links_back(ui_client: TestClient[Litestar], engine: Any) -> None:
    response = ui_client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "input_data": {"amount": 5}},
        headers=as_user("erik"),
    )
    instance_id = response.json()["id"]
    settle(ui_client, engine, instance_id)
    for url, noun in (
        (f"{UI}/tasks?offset=100", "task"),
        (f"{UI}/instances?offset=1000", "instance"),
        (f"{UI}/instances/{instance_id}?history=50", "step execution"),
    ):
        shown = page(ui_client.get(url, headers=as_user("maria")))
        text = " ".join(shown.text.split())
        assert "past the end" in text and noun in text, (url, text[-400:])
        assert (
            "All caught up" not in text and "No instances yet" not in text and "No step has run" not in text
        )
        assert any(link.text == "Go to the first page" for link in shown.find_all("a"))
