"""Instances found by the step they are at, over REST and on the engine, on every backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from web_helpers import as_user, settle

from litestar_workflows.store.base import InstanceQuery

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient


def test_instances_filter_by_current_step(client: TestClient[Litestar], engine: Any) -> None:
    ids = []
    for amount in (50, 500, 60):
        started = client.post(
            "/workflows/instances",
            json={"definition_name": "approval", "input_data": {"amount": amount}},
            headers=as_user("erik"),
        ).json()
        settle(client, engine, started["id"])
        ids.append(started["id"])
    [task] = client.get("/workflows/tasks", params={"instance_id": ids[1]}).json()
    done = client.post(
        f"/workflows/tasks/{task['id']}/complete",
        json={"output_data": {"approved": True}},
        headers=as_user("maria"),
    )
    assert done.status_code == 200, done.text
    settle(client, engine, ids[1])

    at_review = client.get("/workflows/instances", params={"current_step": "review"}, headers=as_user("erik"))
    assert at_review.headers["X-Total-Count"] == "2"
    assert {i["id"] for i in at_review.json()} == {ids[0], ids[2]}
    at_finance = client.get("/workflows/instances", params={"current_step": "finance_check"}).json()
    assert [i["id"] for i in at_finance] == [ids[1]]
    assert client.get("/workflows/instances", params={"current_step": "nope"}).json() == []
    page = client.blocking_portal.call(engine.find_instances, InstanceQuery(current_step="review", limit=1))
    assert (page.total, len(page.items), page.items[0].current_step) == (2, 1, "review")
