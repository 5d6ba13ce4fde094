"""Claiming a group task over REST: the claimer gets it, others are refused, nothing else changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from web_helpers import as_user, settle

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient


def _finance_task(client: TestClient[Litestar], engine: Any) -> dict[str, Any]:
    started = client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "input_data": {"amount": 500}},
        headers=as_user("erik"),
    ).json()
    settle(client, engine, started["id"])
    [review] = client.get("/workflows/tasks", params={"instance_id": started["id"]}).json()
    done = client.post(
        f"/workflows/tasks/{review['id']}/complete",
        json={"output_data": {"approved": True}},
        headers=as_user("maria"),
    )
    assert done.status_code == 200, done.text
    settle(client, engine, started["id"])
    [task] = client.get("/workflows/tasks", params={"instance_id": started["id"], "status": "pending"}).json()
    assert (task["step_name"], task["assignee_id"], task["assignee_group"]) == (
        "finance_check",
        None,
        "finance",
    )
    return task


def test_a_group_member_claims_a_task_and_keeps_it(client: TestClient[Litestar], engine: Any) -> None:
    task = _finance_task(client, engine)
    url = f"/workflows/tasks/{task['id']}/claim"
    assert client.post(url).status_code == 403  # anonymous
    assert client.post(url, headers=as_user("erik")).status_code == 403  # not in finance
    assert client.get(f"/workflows/tasks/{task['id']}").json()["assignee_id"] is None
    claimed = client.post(url, headers=as_user("fiona"))
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee_id"] == "fiona"
    assert client.post(url, headers=as_user("fiona")).json()["assignee_id"] == "fiona"  # idempotent
    taken = client.post(url, headers=as_user("finn"))
    assert taken.status_code == 409, taken.text
    assert "fiona" in taken.json()["detail"]
    queue = client.get("/workflows/tasks", headers=as_user("finn")).json()
    assert task["id"] not in [t["id"] for t in queue]
    assert client.get(f"/workflows/tasks/{task['id']}").json()["assignee_id"] == "fiona"


def test_a_task_that_is_not_pending_cannot_be_claimed_even_by_its_assignee(
    client: TestClient[Litestar], engine: Any
) -> None:
    task = _finance_task(client, engine)
    url = f"/workflows/tasks/{task['id']}/claim"
    assert client.post(url, headers=as_user("fiona")).status_code == 200
    done = client.post(
        f"/workflows/tasks/{task['id']}/complete",
        json={"output_data": {"approved": True}},
        headers=as_user("fiona"),
    )
    assert done.status_code == 200, done.text
    for user in ("fiona", "finn"):  # the assignee is answered like anyone else
        refused = client.post(url, headers=as_user(user))
        assert refused.status_code == 409, (user, refused.text)
        assert refused.json()["error"] == "TaskAlreadyCompletedError"
        assert "not pending any more" in refused.json()["detail"]
    assert client.get(f"/workflows/tasks/{task['id']}").json()["status"] == "completed"
