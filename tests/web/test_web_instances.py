"""``/workflows/instances``: start, list with filters, details, live graphs, cancel and retry."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from web_helpers import GATES, Gate, as_user, settle

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

URL = "/workflows/instances"


def start(
    client: TestClient[Litestar], name: str = "approval", user: str = "erik", **body: Any
) -> dict[str, Any]:
    response = client.post(URL, json={"definition_name": name, **body}, headers=as_user(user))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_start_answers_201_with_the_instance(client: TestClient[Litestar], engine: Any) -> None:
    body = start(client, input_data={"amount": 50}, correlation_id="order-7")
    assert body["workflow_name"] == "approval"
    assert body["workflow_version"] == "2.0.0"  # the newest by default
    assert body["created_by"] == "erik"  # from the request's user, never from the body
    assert body["correlation_id"] == "order-7"
    assert body["data"]["amount"] == 50
    assert body["status"] in {"running", "waiting"}
    assert body["step_history"][0]["step_name"] == "submit"

    settle(client, engine, body["id"])
    detail = client.get(f"{URL}/{body['id']}").json()
    assert detail["status"] == "waiting"
    assert detail["current_step"] == "review"
    assert detail["correlation_id"] == "order-7"
    assert detail["data"]["reviewer"] == "maria"
    assert [(e["step_name"], e["status"]) for e in detail["step_history"]] == [
        ("submit", "succeeded"),
        ("review", "waiting"),
    ]


def test_start_a_given_version_anonymously(client: TestClient[Litestar]) -> None:
    response = client.post(URL, json={"definition_name": "approval", "version": "1.0.0"})
    assert response.status_code == 201
    assert response.json()["workflow_version"] == "1.0.0"
    assert response.json()["created_by"] is None


def test_start_errors(client: TestClient[Litestar]) -> None:
    unknown = client.post(URL, json={"definition_name": "nope"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "WorkflowNotFoundError")
    no_version = client.post(URL, json={"definition_name": "approval", "version": "7.0.0"})
    assert no_version.status_code == 404
    # JSON the engine cannot keep (an integer beyond 64 bits) is a validation error naming the key.
    too_big = client.post(URL, json={"definition_name": "approval", "input_data": {"amount": 2**70}})
    assert too_big.status_code == 422
    assert too_big.json()["error"] == "ContextSerializationError"
    assert "amount" in too_big.json()["detail"]
    missing = client.post(URL, json={"input_data": {}})
    assert missing.status_code == 400  # the body itself is malformed: Litestar's own validation


def test_list_filters_and_paginates(client: TestClient[Litestar], engine: Any) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    ids = [start(client, user=user, input_data={"amount": 10})["id"] for user in ("erik", "maria", "erik")]
    failed = start(client, "flaky", user="maria")["id"]
    for instance_id in [*ids, failed]:
        settle(client, engine, instance_id)

    response = client.get(URL)
    everything = response.json()  # a JSON array, as documented; the total is in a header
    assert response.headers["x-total-count"] == "4"
    assert [i["id"] for i in everything] == [failed, *reversed(ids)]  # newest first
    assert set(everything[0]) >= {
        "id",
        "status",
        "definition_name",
        "workflow_name",
        "current_step",
        "started_at",
    }

    def ids_of(**params: Any) -> list[str]:
        response = client.get(URL, params=params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()]

    assert ids_of(status="failed") == [failed]
    assert set(ids_of(status=["failed", "waiting"])) == {failed, *ids}
    assert ids_of(workflow_name="flaky") == [failed]
    assert ids_of(created_by="erik") == [ids[2], ids[0]]
    assert len(ids_of(started_after=before.isoformat())) == 4
    assert ids_of(started_before=before.isoformat()) == []
    naive = before.replace(tzinfo=None).isoformat()  # no zone: read as UTC
    assert len(ids_of(started_after=naive)) == 4

    page = client.get(URL, params={"limit": 2, "offset": 1})
    assert page.headers["x-total-count"] == "4"
    assert [i["id"] for i in page.json()] == [ids[2], ids[1]]
    assert client.get(URL, params={"limit": 0}).status_code == 400
    assert client.get(URL, params={"status": "bogus"}).status_code == 400


def test_get_unknown_instances_is_404(client: TestClient[Litestar]) -> None:
    response = client.get(f"{URL}/{uuid.uuid4()}")
    assert (response.status_code, response.json()["error"]) == (404, "WorkflowInstanceNotFoundError")
    assert client.get(f"{URL}/{uuid.uuid4()}/graph").status_code == 404
    assert client.get(f"{URL}/not-a-uuid").status_code == 404


def test_get_can_wait_for_the_instance_to_settle(client: TestClient[Litestar]) -> None:
    instance_id = start(client, input_data={"amount": 10})["id"]
    response = client.get(f"{URL}/{instance_id}", params={"wait": 10})
    assert response.json()["status"] == "waiting"
    assert client.get(f"{URL}/{instance_id}", params={"wait": 31}).status_code == 400
    task = client.get("/workflows/tasks", headers=as_user("maria")).json()[0]
    client.post(
        f"/workflows/tasks/{task['id']}/complete",
        json={"output_data": {"approved": False}},
        headers=as_user("maria"),
    )
    done = client.get(f"{URL}/{instance_id}", params={"wait": 10, "until": ["completed", "failed"]})
    assert done.json()["status"] == "completed"
    assert done.json()["data"]["outcome"] == "reject"


def test_graph_shows_progress(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(client, input_data={"amount": 10})["id"]
    settle(client, engine, instance_id)
    graph = client.get(f"{URL}/{instance_id}/graph").json()
    assert graph["states"] == {"submit": "completed", "review": "waiting"}
    assert "class review wf_waiting" in graph["mermaid"]

    task = client.get("/workflows/tasks", headers=as_user("maria")).json()[0]
    done = client.post(
        f"/workflows/tasks/{task['id']}/complete",
        json={"output_data": {"approved": True}},
        headers=as_user("maria"),
    )
    assert done.status_code == 200
    settle(client, engine, instance_id)
    graph = client.get(f"{URL}/{instance_id}/graph").json()
    assert graph["states"] == {
        "submit": "completed",
        "review": "completed",
        "finance_check": "skipped",
        "approve": "completed",
        "reject": "skipped",
    }
    assert "wf_skipped" in graph["mermaid"]


def test_graph_shows_failed_and_current_steps(client: TestClient[Litestar], engine: Any) -> None:
    failed = start(client, "flaky")["id"]
    settle(client, engine, failed)
    assert client.get(f"{URL}/{failed}/graph").json()["states"] == {"prepare": "completed", "flaky": "failed"}

    key = str(uuid.uuid4())
    gate = GATES[key] = Gate()
    response = client.post(
        URL,
        params={"wait": 0},
        json={"definition_name": "gated", "input_data": {"gate": key}},
        headers=as_user("erik"),
    )
    running = response.json()["id"]
    assert gate.started.wait(10)
    graph = client.get(f"{URL}/{running}/graph").json()
    assert graph["states"] == {"begin": "completed", "hold": "current"}
    assert "wf_current" in graph["mermaid"]
    gate.open(client)
    assert settle(client, engine, running).status == "completed"


def test_cancel(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(client, input_data={"amount": 10})["id"]
    settle(client, engine, instance_id)
    creator = as_user("erik")
    response = client.post(f"{URL}/{instance_id}/cancel", json={"reason": "duplicate claim"}, headers=creator)
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    tasks = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
    assert [t["status"] for t in tasks] == ["canceled"]

    again = client.post(f"{URL}/{instance_id}/cancel", headers=creator)  # the body is optional
    assert (again.status_code, again.json()["error"]) == (409, "WorkflowAlreadyCompletedError")
    assert client.post(f"{URL}/{uuid.uuid4()}/cancel", headers=creator).status_code == 404


def test_retry(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(client, "flaky")["id"]
    failed = client.get(f"{URL}/{instance_id}", params={"wait": 10}).json()
    assert failed["status"] == "failed"
    assert "flaky" in failed["error"]

    creator = as_user("erik")
    refused = client.post(f"{URL}/{instance_id}/retry", json={"from_step": "nope"}, headers=creator)
    assert refused.status_code == 409
    response = client.post(f"{URL}/{instance_id}/retry", headers=creator)
    assert response.status_code == 200
    # Steps the retry releases run at once up to their first wait: with the memory store this
    # workflow is already done in the answer, with a database it waits for its commit.
    assert response.json()["status"] in {"running", "completed"}
    assert response.json()["error"] is None
    done = client.get(f"{URL}/{instance_id}", params={"wait": 10}).json()
    assert done["status"] == "completed"
    assert done["data"]["flaky_done"] is True

    again = client.post(f"{URL}/{instance_id}/retry", json={}, headers=creator)
    assert (again.status_code, again.json()["status_code"]) == (409, 409)
    assert client.post(f"{URL}/{uuid.uuid4()}/retry", headers=creator).status_code == 404


def test_retry_from_an_earlier_step(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(client, "flaky")["id"]
    settle(client, engine, instance_id)
    response = client.post(
        f"{URL}/{instance_id}/retry", json={"from_step": "prepare"}, headers=as_user("erik")
    )
    assert response.status_code == 200
    done = settle(client, engine, instance_id)
    assert done.status == "completed"
    assert [e.step_name for e in done.step_history].count("prepare") == 2
