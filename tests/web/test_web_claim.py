"""Claiming a group task over REST: the claimer gets it, others are refused, nothing else changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar.testing import TestClient
from web_helpers import as_user, make_app, settle

from litestar_workflows import AssigneeAuthorizer

if TYPE_CHECKING:
    from litestar import Litestar


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


def test_without_a_groups_resolver_the_request_s_groups_decide(engine_factory: Any, registry: Any) -> None:
    """The engine's default authorizer has no ``groups_of``: the plugin passes the request's groups.

    Before, such an engine let any signed-in user claim and complete any group task.
    """
    engine = engine_factory(registry, authorizer=AssigneeAuthorizer())
    with TestClient(make_app(engine)) as client:
        task = _finance_task(client, engine)
        outsider = {"X-User": "mallory", "X-Groups": "sales"}
        page = client.get(f"/workflows/ui/tasks/{task['id']}", headers=outsider)
        assert page.status_code == 200
        assert "Complete task" not in page.text
        assert "Claim this task" not in page.text
        for action, body in (("claim", None), ("complete", {"output_data": {"approved": True}})):
            refused = client.post(f"/workflows/tasks/{task['id']}/{action}", json=body, headers=outsider)
            assert refused.status_code == 403, (action, refused.text)
            assert "may not" in refused.json()["detail"]
        assert client.get(f"/workflows/tasks/{task['id']}").json()["assignee_id"] is None
        member = {"X-User": "fay", "X-Groups": "finance,staff"}
        assert "Complete task" in client.get(f"/workflows/ui/tasks/{task['id']}", headers=member).text
        done = client.post(
            f"/workflows/tasks/{task['id']}/complete",
            json={"output_data": {"approved": True}},
            headers=member,
        )
        assert done.status_code == 200, done.text
        assert settle(client, engine, task["instance_id"]).status.value == "completed"
