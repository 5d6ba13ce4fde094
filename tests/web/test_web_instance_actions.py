"""Who may cancel and retry an instance over the REST API: its creator and administrators, never anonymous.

Every backend (memory, SQLite file, PostgreSQL); a refusal is a 403 whose body says why, and the
instance is left exactly as it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from web_helpers import as_user, build_registry, header_groups, header_tenant, header_user, make_app, settle

from litestar_workflows import CreatorOrAdminAuthorizer, LocalExecutionEngine
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

if TYPE_CHECKING:
    from litestar_workflows import WorkflowRegistry

URL = "/workflows/instances"


def start(client: TestClient[Litestar], engine: Any, name: str, user: str = "erik") -> str:
    response = client.post(
        URL, json={"definition_name": name, "input_data": {"amount": 5}}, headers=as_user(user)
    )
    assert response.status_code == 201, response.text
    instance_id: str = response.json()["id"]
    settle(client, engine, instance_id)
    return instance_id


def status_of(client: TestClient[Litestar], instance_id: str) -> str:
    status: str = client.get(f"{URL}/{instance_id}").json()["status"]
    return status


def test_only_the_creator_cancels(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(client, engine, "approval")

    anonymous = client.post(f"{URL}/{instance_id}/cancel", json={"reason": "drive-by"})
    assert anonymous.status_code == 403
    assert anonymous.json()["error"] == "UnauthorizedInstanceError"
    assert "authenticated user is required to cancel" in anonymous.json()["detail"]

    stranger = client.post(
        f"{URL}/{instance_id}/cancel", json={"reason": "not mine"}, headers=as_user("maria")
    )
    assert stranger.status_code == 403
    assert "'maria' may not cancel" in stranger.json()["detail"]
    assert "started by 'erik'" in stranger.json()["detail"]
    assert status_of(client, instance_id) == "waiting"
    [task] = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
    assert task["status"] == "pending"

    mine = client.post(f"{URL}/{instance_id}/cancel", json={"reason": "duplicate"}, headers=as_user("erik"))
    assert mine.status_code == 200, mine.text
    assert status_of(client, instance_id) == "canceled"


def test_only_the_creator_retries(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start(client, engine, "flaky")
    assert status_of(client, instance_id) == "failed"

    assert client.post(f"{URL}/{instance_id}/retry").status_code == 403
    stranger = client.post(f"{URL}/{instance_id}/retry", json={}, headers=as_user("maria"))
    assert (stranger.status_code, stranger.json()["error"]) == (403, "UnauthorizedInstanceError")
    assert "'maria' may not retry" in stranger.json()["detail"]
    assert status_of(client, instance_id) == "failed"

    assert client.post(f"{URL}/{instance_id}/retry", headers=as_user("erik")).status_code == 200
    assert settle(client, engine, instance_id).status == "completed"


def test_administrators_act_with_the_request_s_groups(
    engine_factory: Any, registry: WorkflowRegistry
) -> None:
    engine = engine_factory(registry, instance_authorizer=CreatorOrAdminAuthorizer(["admins"]))
    with TestClient(make_app(engine)) as client:
        first, second = start(client, engine, "approval"), start(client, engine, "approval")
        admin = {"X-User": "ann", "X-Groups": "staff,admins"}
        not_admin = {"X-User": "ann", "X-Groups": "staff"}

        assert client.post(f"{URL}/{first}/cancel", headers=not_admin).status_code == 403
        assert client.post(f"{URL}/{first}/cancel", headers=admin).status_code == 200
        assert client.post(f"{URL}/{second}/cancel", headers=as_user("erik")).status_code == 200
        assert (status_of(client, first), status_of(client, second)) == ("canceled", "canceled")


def test_a_tenant_s_creator_still_cannot_reach_another_tenant(
    engine_factory: Any, registry: WorkflowRegistry
) -> None:
    engine = engine_factory(registry)
    with TestClient(make_app(engine, tenant_resolver=header_tenant)) as client:
        response = client.post(
            URL, json={"definition_name": "approval"}, headers=as_user("erik", tenant="acme")
        )
        instance_id = response.json()["id"]
        settle(client, engine, instance_id)
        elsewhere = client.post(f"{URL}/{instance_id}/cancel", headers=as_user("erik", tenant="globex"))
        assert elsewhere.status_code == 404  # another tenant's instance does not exist for it
        home = client.post(f"{URL}/{instance_id}/cancel", headers=as_user("erik", tenant="acme"))
        assert home.status_code == 200


def test_the_plugin_s_admin_groups_guard_the_engine_it_builds() -> None:
    config = WorkflowPluginConfig(
        database_url=None,
        registry=build_registry(),
        admin_groups=["ops"],
        user_resolver=header_user,
        groups_resolver=header_groups,
    )
    plugin = WorkflowPlugin(config)
    with TestClient(Litestar(plugins=[plugin])) as client:
        instance_id = start(client, plugin.engine, "approval")
        assert client.post(f"{URL}/{instance_id}/cancel", headers={"X-User": "ann"}).status_code == 403
        operator = {"X-User": "ann", "X-Groups": "ops"}
        assert client.post(f"{URL}/{instance_id}/cancel", headers=operator).status_code == 200


def test_authorization_settings_that_would_be_ignored_are_refused() -> None:
    registry = build_registry()
    with pytest.raises(ValueError, match="admin_groups applies to the engine the plugin builds"):
        WorkflowPluginConfig(engine=LocalExecutionEngine(registry), admin_groups=["ops"])
    with pytest.raises(ValueError, match="instance_authorizer applies to the engine the plugin builds"):
        WorkflowPluginConfig(
            engine=LocalExecutionEngine(registry), instance_authorizer=CreatorOrAdminAuthorizer()
        )
    with pytest.raises(ValueError, match="give only one of instance_authorizer and admin_groups"):
        WorkflowPluginConfig(instance_authorizer=CreatorOrAdminAuthorizer(), admin_groups=["ops"])
    with pytest.raises(TypeError, match="not the string 'ops'"):
        WorkflowPluginConfig(admin_groups="ops")
