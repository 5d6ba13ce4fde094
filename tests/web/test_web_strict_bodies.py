"""Request bodies refuse fields the API does not know, naming each one, and change nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from web_helpers import as_user, settle

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient


def _instances(client: TestClient[Litestar]) -> int:
    return int(client.get("/workflows/instances", headers=as_user("erik")).headers["X-Total-Count"])


def test_a_misspelled_start_field_is_refused_with_its_name_and_a_hint(client: TestClient[Litestar]) -> None:
    response = client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "inputs": {"amount": 5}, "priority": 1},
        headers=as_user("erik"),
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert "'inputs' (did you mean 'input_data'?)" in body["detail"]
    assert "'priority'" in body["detail"]
    assert [e["key"] for e in body["extra"]] == ["inputs", "priority"]
    assert _instances(client) == 0


def test_every_documented_start_field_is_accepted(client: TestClient[Litestar], engine: Any) -> None:
    body = {
        "definition_name": "approval",
        "input_data": {"amount": 5},
        "version": "1.0.0",
        "correlation_id": "order-1",
        "user_id": "erik",
    }
    response = client.post("/workflows/instances", json=body, headers=as_user("erik"))
    assert response.status_code == 201, response.text
    assert settle(client, engine, response.json()["id"]).context.get("amount") == 5


@pytest.mark.parametrize(
    ("path", "body", "unknown"),
    [
        ("tasks/{task}/complete", {"output": {"approved": True}}, "'output' (did you mean 'output_data'?)"),
        ("tasks/{task}/reassign", {"assignee_id": "finn"}, "'assignee_id'"),
        ("instances/{instance}/cancel", {"why": "no"}, "'why'"),
    ],
)
def test_action_bodies_name_their_unknown_fields_and_leave_the_task_pending(
    client: TestClient[Litestar], engine: Any, path: str, body: dict[str, Any], unknown: str
) -> None:
    started = client.post(
        "/workflows/instances", json={"definition_name": "approval"}, headers=as_user("erik")
    ).json()
    settle(client, engine, started["id"])
    [task] = client.get("/workflows/tasks", params={"instance_id": started["id"]}).json()
    url = "/workflows/" + path.format(task=task["id"], instance=started["id"])
    response = client.post(url, json=body, headers=as_user("maria"))
    assert response.status_code == 400, response.text
    assert unknown in response.json()["detail"]
    assert client.get(f"/workflows/tasks/{task['id']}").json()["status"] == "pending"
    assert client.get(f"/workflows/instances/{started['id']}").json()["status"] == "waiting"


def test_instances_filter_by_workflow_version(client: TestClient[Litestar], engine: Any) -> None:
    for version in ("1.0.0", "2.0.0", "2.0.0"):
        started = client.post(
            "/workflows/instances",
            json={"definition_name": "approval", "version": version},
            headers=as_user("erik"),
        )
        assert started.status_code == 201, started.text
    listed = client.get("/workflows/instances", params={"workflow_version": "2.0.0"}, headers=as_user("erik"))
    assert listed.headers["X-Total-Count"] == "2"
    assert {i["workflow_version"] for i in listed.json()} == {"2.0.0"}
    none = client.get("/workflows/instances", params={"workflow_version": "3.0.0"}, headers=as_user("erik"))
    assert none.json() == []
