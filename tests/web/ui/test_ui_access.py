"""Who may do what in the UI: the API's rules, buttons only for allowed actions, 403 when forced, CSRF."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from ui_helpers import csrf_token, page, post_form
from web_helpers import as_user, header_tenant, make_app, settle

from litestar_workflows.web.ui.csrf import CSRF_COOKIE

if TYPE_CHECKING:
    from litestar import Litestar

UI = "/workflows/ui"


@pytest.fixture
def backend() -> str:
    return "memory"


def start(
    client: TestClient[Litestar], engine: Any, workflow: str = "approval", user: str = "erik", **extra: Any
) -> str:
    response = client.post(
        "/workflows/instances",
        json={"definition_name": workflow, "input_data": {"amount": 50}},
        headers=as_user(user, **extra),
    )
    assert response.status_code == 201, response.text
    settle(client, engine, response.json()["id"])
    return str(response.json()["id"])


def only_task(client: TestClient[Litestar], instance_id: str, **headers: str) -> str:
    [task] = client.get("/workflows/tasks", params={"instance_id": instance_id}, headers=headers).json()
    return str(task["id"])


def test_instance_actions_are_offered_to_the_creator_only(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    instance_id = start(ui_client, engine)
    url = f"{UI}/instances/{instance_id}"
    mine = page(ui_client.get(url, headers=as_user("erik")))
    offered = {form.attrs["action"].rsplit("/", 1)[1] for form in mine.find_all("form", method="post")}
    assert offered == {"cancel", "pause"}
    for stranger in ("fiona", None):
        other = page(ui_client.get(url, headers=as_user(stranger) if stranger else {}))
        assert not other.find_all("form", method="post"), stranger
        forced = post_form(ui_client, f"{url}/cancel", headers=as_user(stranger) if stranger else {})
        assert forced.status_code == 403
        assert "may not cancel" in page(forced).find(role="alert").text or "authenticated user" in forced.text
    assert ui_client.get(f"/workflows/instances/{instance_id}").json()["status"] == "waiting"


def test_pause_resume_and_cancel_by_the_creator(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(ui_client, engine)
    url = f"{UI}/instances/{instance_id}"
    assert post_form(ui_client, f"{url}/pause", headers=as_user("erik")).status_code == 303
    paused = page(ui_client.get(url, headers=as_user("erik")))
    assert paused.find(data_status=True).attrs["data-status"] == "paused"
    assert {f.attrs["action"].rsplit("/", 1)[1] for f in paused.find_all("form", method="post")} == {
        "cancel",
        "resume",
    }
    assert post_form(ui_client, f"{url}/pause", headers=as_user("erik")).status_code == 409  # not running
    assert post_form(ui_client, f"{url}/resume", headers=as_user("erik")).status_code == 303
    assert post_form(ui_client, f"{url}/cancel", headers=as_user("erik")).status_code == 303
    canceled = page(ui_client.get(url, headers=as_user("erik")))
    assert canceled.find(data_status=True).attrs["data-status"] == "canceled"
    assert not canceled.find_all("form", method="post")
    again = post_form(ui_client, f"{url}/cancel", headers=as_user("erik"))
    assert again.status_code == 409
    assert page(again).find("h1").text.startswith("Not possible now")


def test_retry_is_offered_on_a_failed_instance(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(ui_client, engine, workflow="flaky", user="fiona")
    url = f"{UI}/instances/{instance_id}"
    failed = page(ui_client.get(url, headers=as_user("fiona")))
    assert failed.find(data_status=True).attrs["data-status"] == "failed"
    assert "the flaky step fails the first time" in failed.find(role="alert").text
    error_row = next(r for r in failed.find("table", class_="timeline").find_all("tr") if "Flaky" in r.text)
    assert "the flaky step fails the first time" in error_row.text
    assert [f.attrs["action"].rsplit("/", 1)[1] for f in failed.find_all("form", method="post")] == [
        "retry",
        "cancel",
    ]
    assert post_form(ui_client, f"{url}/retry", headers=as_user("erik")).status_code == 403
    assert post_form(ui_client, f"{url}/retry", headers=as_user("fiona")).status_code == 303
    assert settle(ui_client, engine, instance_id).status.value == "completed"


def test_a_failed_instance_can_be_given_up_from_its_page(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    instance_id = start(ui_client, engine, workflow="flaky", user="fiona")
    url = f"{UI}/instances/{instance_id}"
    assert (
        post_form(ui_client, f"{url}/cancel", {"reason": "not needed"}, headers=as_user("erik")).status_code
        == 403
    )
    assert (
        post_form(ui_client, f"{url}/cancel", {"reason": "not needed"}, headers=as_user("fiona")).status_code
        == 303
    )
    canceled = page(ui_client.get(url, headers=as_user("fiona")))
    assert canceled.find(data_status=True).attrs["data-status"] == "canceled"
    assert "Canceled: not needed (it had failed: " in canceled.find(class_="notice").text
    assert not canceled.find_all("form", method="post")  # neither retry nor cancel any more


def test_task_actions_are_refused_to_others(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(ui_client, engine)
    task_id = only_task(ui_client, instance_id)
    url = f"{UI}/tasks/{task_id}"
    viewer = page(ui_client.get(url, headers=as_user("erik")))
    assert not viewer.find_all("form", method="post")
    assert "assigned to maria" in viewer.text
    for action, data in (("complete", {"approved": "true"}), ("reassign", {"new_assignee": "erik"})):
        forced = post_form(ui_client, f"{url}/{action}", data, headers=as_user("erik"))
        assert forced.status_code == 403, action
        assert f"may not {action}" in page(forced).find(role="alert").text
    anonymous = post_form(ui_client, f"{url}/complete", {"approved": "true"})
    assert anonymous.status_code == 403
    assert "authenticated user is required" in anonymous.text
    assert "Sign in to work on this task" in page(ui_client.get(url)).text
    assert ui_client.get(f"/workflows/tasks/{task_id}").json()["status"] == "pending"


def test_forms_without_a_csrf_token_are_refused(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(ui_client, engine)
    task_id = only_task(ui_client, instance_id)
    url = f"{UI}/tasks/{task_id}/complete"
    html = ui_client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria")).text
    token = csrf_token(ui_client, html)
    assert token == ui_client.cookies.get(CSRF_COOKIE)
    missing = ui_client.post(url, data={"approved": "true"}, headers=as_user("maria"))
    assert missing.status_code == 403
    assert "security token" in page(missing).find(role="alert").text
    forged = ui_client.post(
        url, data={"approved": "true", "_csrf_token": "0" * 128}, headers=as_user("maria")
    )
    assert forged.status_code == 403
    ui_client.cookies.clear()
    no_cookie = ui_client.post(url, data={"approved": "true", "_csrf_token": token}, headers=as_user("maria"))
    assert no_cookie.status_code == 403
    assert ui_client.get(f"/workflows/tasks/{task_id}").json()["status"] == "pending"
    # The JSON API takes no token: its clients are not browsers holding the UI's cookie.
    api = ui_client.post(
        f"/workflows/tasks/{task_id}/complete",
        json={"output_data": {"approved": True}},
        headers=as_user("maria"),
    )
    assert api.status_code == 200, api.text


def test_tenancy_fails_closed_in_the_ui(engine: Any) -> None:
    with TestClient(make_app(engine, tenant_resolver=header_tenant)) as client:
        instance_id = start(client, engine, tenant="acme")
        for path in ("/", "/instances", "/tasks", f"/instances/{instance_id}"):
            refused = client.get(f"{UI}{path}", headers=as_user("erik"))
            assert refused.status_code == 403, path
            assert "acts for no tenant" in page(refused).find(role="alert").text
        assert (
            client.get(f"{UI}/instances/{instance_id}", headers=as_user("erik", tenant="acme")).status_code
            == 200
        )
        hidden = client.get(f"{UI}/instances/{instance_id}", headers=as_user("erik", tenant="other"))
        assert hidden.status_code == 404
        listing = page(client.get(f"{UI}/instances", headers=as_user("erik", tenant="other")))
        assert "No instances yet" in listing.text
        task_id = only_task(client, instance_id, **as_user("maria", tenant="acme"))
        assert (
            client.get(f"{UI}/tasks/{task_id}", headers=as_user("maria", tenant="other")).status_code == 404
        )
        inbox = page(client.get(f"{UI}/tasks", headers=as_user("maria", tenant="other")))
        assert "No pending tasks" in inbox.text
        forced = post_form(
            client,
            f"{UI}/tasks/{task_id}/complete",
            {"approved": "true"},
            headers=as_user("maria", tenant="other"),
        )
        assert forced.status_code == 404
        assert (
            client.get(f"/workflows/tasks/{task_id}", headers=as_user("maria", tenant="acme")).json()[
                "status"
            ]
            == "pending"
        )


def test_ui_guards_protect_the_pages_only(engine: Any) -> None:
    from litestar.exceptions import NotAuthorizedException

    def staff_only(connection: Any, _: Any) -> None:
        if connection.headers.get("x-user") is None:
            raise NotAuthorizedException("sign in first")

    with TestClient(make_app(engine, ui_guards=[staff_only])) as client:
        refused = client.get(f"{UI}/tasks")
        assert refused.status_code == 401
        assert "sign in first" in page(refused).text
        assert client.get(f"{UI}/tasks", headers=as_user("maria")).status_code == 200
        assert client.get("/workflows/definitions").status_code == 200
        assert client.get(f"{UI}/static/ui.css").status_code == 200


def test_api_guards_protect_the_pages_too(engine: Any) -> None:
    """The UI shows and changes what the API does: guarding only the API left it open on the pages."""
    from litestar.exceptions import NotAuthorizedException

    def staff_only(connection: Any, _: Any) -> None:
        if connection.headers.get("x-user") not in {"maria", "erik", "fiona"}:
            raise NotAuthorizedException("staff only")

    with TestClient(make_app(engine, api_guards=[staff_only])) as client:
        for path in ("/", "/tasks", "/instances", "/workflows/approval/start"):
            assert client.get(f"{UI}{path}").status_code == 401, path
            assert client.get(f"{UI}{path}", headers=as_user("mallory")).status_code == 401, path
        refused = post_form(client, f"{UI}/workflows/approval/start", {}, headers=as_user("mallory"))
        assert refused.status_code == 401
        assert "staff only" in page(refused).text
        assert client.get("/workflows/instances", headers=as_user("maria")).json() == []
        assert client.get(f"{UI}/tasks", headers=as_user("maria")).status_code == 200
        assert client.get(f"{UI}/static/ui.css").status_code == 200  # stylesheets stay public


def test_a_form_larger_than_max_body_size_is_refused(engine: Any) -> None:
    with TestClient(make_app(engine, max_body_size=2048)) as client:
        client.get(f"{UI}/")
        refused = post_form(
            client, f"{UI}/workflows/approval/start", {"input_data": "x" * 4096}, headers=as_user("erik")
        )
        assert refused.status_code == 413
        assert client.get("/workflows/instances").json() == []


def test_cancel_asks_first_and_keeps_the_reason(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(ui_client, engine)
    url = f"{UI}/instances/{instance_id}"
    confirm = page(ui_client.get(url, headers=as_user("erik"))).find("details", class_="confirm")
    assert confirm.find("summary").text == "Cancel…"
    assert confirm.find("form").attrs["action"] == f"{url}/cancel"
    done = post_form(ui_client, f"{url}/cancel", {"reason": "sent twice"}, headers=as_user("erik"))
    assert done.status_code == 303
    canceled = ui_client.get(f"/workflows/instances/{instance_id}").json()
    assert canceled["status"] == "canceled"
    assert canceled["error"] == "sent twice"


def test_no_page_can_be_framed_by_another_site(ui_client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(ui_client, engine)
    for path in ("/", "/tasks", "/instances", f"/instances/{instance_id}", "/workflows/approval/start"):
        response = ui_client.get(f"{UI}{path}", headers=as_user("erik"))
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["content-security-policy"] == "frame-ancestors 'none'", path
        assert response.headers["x-content-type-options"] == "nosniff", path
