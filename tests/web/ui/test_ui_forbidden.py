"""Forced UI actions and forms without a CSRF token, on every engine (memory, SQLite, PostgreSQL).

The buttons a page offers are a courtesy; what protects a workflow is the engine's check when the
form is posted. The durable engines perform pause, resume and claim through their own stores, so
each backend must refuse a forced request with the 403 page and leave the instance or task as it
was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ui_helpers import page, post_form
from web_helpers import as_user, settle

from litestar_workflows.web.ui.csrf import CSRF_COOKIE

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"


def _start(client: TestClient[Litestar], engine: Any, amount: int = 50) -> str:
    response = client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "input_data": {"amount": amount}},
        headers=as_user("erik"),
    )
    assert response.status_code == 201, response.text
    settle(client, engine, response.json()["id"])
    return str(response.json()["id"])


def _pending_task(client: TestClient[Litestar], instance_id: str) -> dict[str, Any]:
    [task] = client.get("/workflows/tasks", params={"instance_id": instance_id, "status": "pending"}).json()
    return dict(task)


def _status(client: TestClient[Litestar], instance_id: str) -> str:
    return str(client.get(f"/workflows/instances/{instance_id}").json()["status"])


def _refused(response: Any, why: str) -> None:
    assert response.status_code == 403, response.text
    assert why in page(response).find(role="alert").text


def test_pause_and_resume_forced_by_others_are_refused(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = _start(ui_client, engine)
    url = f"{UI}/instances/{instance_id}"
    _refused(post_form(ui_client, f"{url}/pause", headers=as_user("fiona")), "may not pause")
    _refused(post_form(ui_client, f"{url}/pause"), "authenticated user is required")
    assert _status(ui_client, instance_id) == "waiting"
    assert post_form(ui_client, f"{url}/pause", headers=as_user("erik")).status_code == 303
    assert _status(ui_client, instance_id) == "paused"
    assert not page(ui_client.get(url, headers=as_user("fiona"))).find_all("form", method="post")
    _refused(post_form(ui_client, f"{url}/resume", headers=as_user("fiona")), "may not resume")
    _refused(post_form(ui_client, f"{url}/resume"), "authenticated user is required")
    assert _status(ui_client, instance_id) == "paused"


def test_claim_forced_by_an_outsider_is_refused(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = _start(ui_client, engine, amount=500)
    review = _pending_task(ui_client, instance_id)
    done = post_form(
        ui_client, f"{UI}/tasks/{review['id']}/complete", {"approved": "on"}, headers=as_user("maria")
    )
    assert done.status_code == 303, done.text
    settle(ui_client, engine, instance_id)
    finance = _pending_task(ui_client, instance_id)
    assert (finance["assignee_id"], finance["assignee_group"]) == (None, "finance")
    url = f"{UI}/tasks/{finance['id']}"
    _refused(post_form(ui_client, f"{url}/claim", headers=as_user("erik")), "may not claim")
    _refused(post_form(ui_client, f"{url}/claim"), "authenticated user is required")
    _refused(post_form(ui_client, f"{url}/complete", {"approved": "on"}, headers=as_user("maria")), "may not")
    assert ui_client.get(f"/workflows/tasks/{finance['id']}").json()["assignee_id"] is None
    assert _status(ui_client, instance_id) == "waiting"


def test_task_actions_forced_by_others_are_refused(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = _start(ui_client, engine)
    task_id = _pending_task(ui_client, instance_id)["id"]
    url = f"{UI}/tasks/{task_id}"
    for action, data in (("complete", {"approved": "on"}), ("reassign", {"new_assignee": "erik"})):
        _refused(post_form(ui_client, f"{url}/{action}", data, headers=as_user("erik")), f"may not {action}")
    _refused(
        post_form(ui_client, f"{UI}/instances/{instance_id}/cancel", headers=as_user("maria")), "may not"
    )
    task = ui_client.get(f"/workflows/tasks/{task_id}").json()
    assert (task["status"], task["assignee_id"]) == ("pending", "maria")
    assert _status(ui_client, instance_id) == "waiting"


def test_forms_without_a_valid_csrf_token_change_nothing(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    instance_id = _start(ui_client, engine)
    task_id = _pending_task(ui_client, instance_id)["id"]
    ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria"))
    assert ui_client.cookies.get(CSRF_COOKIE)
    posts = (
        (f"{UI}/tasks/{task_id}/complete", {"approved": "on"}, "maria"),
        (f"{UI}/tasks/{task_id}/reassign", {"new_assignee": "fiona"}, "maria"),
        (f"{UI}/instances/{instance_id}/pause", {}, "erik"),
        (f"{UI}/instances/{instance_id}/cancel", {}, "erik"),
    )
    for url, data, user in posts:
        missing = ui_client.post(url, data=data, headers=as_user(user), follow_redirects=False)
        _refused(missing, "security token")
        forged = {**data, "_csrf_token": "0" * 128}
        _refused(
            ui_client.post(url, data=forged, headers=as_user(user), follow_redirects=False), "security token"
        )
    task = ui_client.get(f"/workflows/tasks/{task_id}").json()
    assert (task["status"], task["assignee_id"]) == ("pending", "maria")
    assert _status(ui_client, instance_id) == "waiting"
