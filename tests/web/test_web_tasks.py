"""``/workflows/tasks``: queues, filters, completion (validation, authorization, races), reassignment."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from web_helpers import as_user, settle

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

URL = "/workflows/tasks"


def waiting_approval(client: TestClient[Litestar], engine: Any, amount: int = 500, **data: Any) -> str:
    """Start an approval and return its id once it waits for the review."""
    response = client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "input_data": {"amount": amount, **data}},
        headers=as_user("erik"),
    )
    assert response.status_code == 201
    instance_id: str = response.json()["id"]
    settle(client, engine, instance_id)
    return instance_id


def queue(client: TestClient[Litestar], user: str | None, **params: Any) -> list[dict[str, Any]]:
    response = client.get(URL, params=params, headers=as_user(user) if user else {})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


def complete(client: TestClient[Litestar], task_id: str, user: str | None, body: dict[str, Any]) -> Any:
    return client.post(f"{URL}/{task_id}/complete", json=body, headers=as_user(user) if user else {})


def test_default_listing_is_the_acting_users_queue(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = waiting_approval(client, engine)
    [review] = queue(client, "maria")
    assert (review["step_name"], review["assignee_id"], review["instance_id"]) == (
        "review",
        "maria",
        instance_id,
    )
    assert review["title"] == "Review the request"
    assert review["form_schema"]["required"] == ["approved"]
    assert queue(client, "erik") == []
    assert [t["id"] for t in queue(client, None)] == [review["id"]]  # anonymous: every pending task

    assert complete(client, review["id"], "maria", {"output_data": {"approved": True}}).status_code == 200
    settle(client, engine, instance_id)
    [finance] = queue(client, "fiona")  # open to her group
    assert (finance["step_name"], finance["assignee_group"], finance["assignee_id"]) == (
        "finance_check",
        "finance",
        None,
    )
    assert queue(client, "maria") == []


def test_filters_and_pagination(client: TestClient[Litestar], engine: Any) -> None:
    first = waiting_approval(client, engine, reviewer="maria")
    second = waiting_approval(client, engine, reviewer="erik")
    [maria_task] = queue(client, None, assignee="maria")
    assert maria_task["instance_id"] == first
    [erik_task] = queue(client, None, instance_id=second)
    assert erik_task["assignee_id"] == "erik"
    assert len(queue(client, None, workflow_name="approval")) == 2
    assert queue(client, None, workflow_name="flaky") == []
    assert queue(client, None, group="finance") == []

    assert (
        complete(client, maria_task["id"], "maria", {"output_data": {"approved": False}}).status_code == 200
    )
    [done] = queue(client, None, status="completed")
    assert (done["id"], done["completed_by"], done["data"]) == (
        maria_task["id"],
        "maria",
        {"approved": False},
    )
    assert [t["id"] for t in queue(client, None, status="pending")] == [erik_task["id"]]

    page = client.get(URL, params={"workflow_name": "approval", "limit": 1, "offset": 1})
    assert (page.headers["x-total-count"], len(page.json())) == ("2", 1)  # a JSON array, total in a header
    assert client.get(URL, params={"limit": 501}).status_code == 400


def test_get_task(client: TestClient[Litestar], engine: Any) -> None:
    waiting_approval(client, engine)
    [task] = queue(client, "maria")
    response = client.get(f"{URL}/{task['id']}")
    assert response.status_code == 200
    assert response.json() == task
    missing = client.get(f"{URL}/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()["error"]) == (404, "TaskNotFoundError")


def test_complete_validates_the_form(client: TestClient[Litestar], engine: Any) -> None:
    waiting_approval(client, engine)
    [task] = queue(client, "maria")
    response = complete(client, task["id"], "maria", {"output_data": {"approved": "yes", "comment": 3}})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "TaskValidationError"
    assert body["errors"] == [
        {"field": "approved", "message": "'yes' is not of type 'boolean'"},
        {"field": "comment", "message": "3 is not of type 'string'"},
    ]
    missing = complete(client, task["id"], "maria", {"output_data": {}})
    assert missing.json()["errors"] == [{"field": "approved", "message": "'approved' is a required property"}]


def test_complete_checks_who_acts(client: TestClient[Litestar], engine: Any) -> None:
    waiting_approval(client, engine)
    [task] = queue(client, "maria")
    ok = {"output_data": {"approved": False}}
    someone_else = complete(client, task["id"], "fiona", ok)
    assert (someone_else.status_code, someone_else.json()["error"]) == (403, "UnauthorizedTaskError")
    assert complete(client, task["id"], None, ok).status_code == 403  # anonymous
    impersonation = complete(client, task["id"], "fiona", {**ok, "completed_by": "maria"})
    assert impersonation.status_code == 403
    assert complete(client, task["id"], "maria", {**ok, "completed_by": "fiona"}).status_code == 403

    response = complete(
        client, task["id"], "maria", {**ok, "completed_by": "maria", "comment": "over budget"}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["completed_by"]) == ("completed", "maria")
    assert body["data"] == {"approved": False, "comment": "over budget"}

    again = complete(client, task["id"], "maria", ok)
    assert (again.status_code, again.json()["error"]) == (409, "TaskAlreadyCompletedError")
    assert complete(client, str(uuid.uuid4()), "maria", ok).status_code == 404


def test_group_tasks_need_a_member(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = waiting_approval(client, engine)
    [review] = queue(client, "maria")
    complete(client, review["id"], "maria", {"output_data": {"approved": True}})
    settle(client, engine, instance_id)
    [finance] = queue(client, "fiona")
    assert complete(client, finance["id"], "maria", {"output_data": {"approved": True}}).status_code == 403
    assert complete(client, finance["id"], "fiona", {"output_data": {"approved": True}}).status_code == 200
    assert settle(client, engine, instance_id).data["outcome"] == "approve"


def test_concurrent_completions_one_wins(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = waiting_approval(client, engine)
    [review] = queue(client, "maria")
    complete(client, review["id"], "maria", {"output_data": {"approved": True}})
    settle(client, engine, instance_id)
    [finance] = queue(client, "fiona")

    def attempt(user: str) -> int:
        status: int = complete(
            client, finance["id"], user, {"output_data": {"approved": user == "fiona"}}
        ).status_code
        return status

    with ThreadPoolExecutor(max_workers=2) as pool:
        statuses = sorted(pool.map(attempt, ["fiona", "finn"]))
    assert statuses == [200, 409]
    assert settle(client, engine, instance_id).status == "completed"


def test_reassign(client: TestClient[Litestar], engine: Any) -> None:
    waiting_approval(client, engine)
    [task] = queue(client, "maria")
    url = f"{URL}/{task['id']}/reassign"
    not_hers = client.post(url, json={"new_assignee": "fiona"}, headers=as_user("fiona"))
    assert (not_hers.status_code, not_hers.json()["error"]) == (403, "UnauthorizedTaskError")
    assert client.post(url, json={"new_assignee": "fiona"}).status_code == 403  # anonymous
    assert client.post(url, json={}, headers=as_user("maria")).status_code == 400

    response = client.post(url, json={"new_assignee": "erik", "reason": "on leave"}, headers=as_user("maria"))
    assert response.status_code == 200
    assert response.json()["assignee_id"] == "erik"
    assert queue(client, "maria") == []
    assert [t["id"] for t in queue(client, "erik")] == [task["id"]]
    assert complete(client, task["id"], "maria", {"output_data": {"approved": True}}).status_code == 403
    assert complete(client, task["id"], "erik", {"output_data": {"approved": True}}).status_code == 200

    done = client.post(url, json={"new_assignee": "maria"}, headers=as_user("erik"))
    assert (done.status_code, done.json()["error"]) == (409, "TaskAlreadyCompletedError")
    missing = client.post(
        f"{URL}/{uuid.uuid4()}/reassign", json={"new_assignee": "x"}, headers=as_user("erik")
    )
    assert missing.status_code == 404
