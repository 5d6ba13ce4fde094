"""Tenant isolation: a tenant sees and touches only its own instances and tasks (others are 404).

Tenancy fails closed: with a tenant resolver configured, a request it finds no tenant for is
refused (403) on every instance and task route, rather than seeing every tenant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from web_helpers import as_user, header_groups, header_tenant, make_app, settle

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar
    from litestar.connection import ASGIConnection


@pytest.fixture
def client(engine: Any) -> Iterator[TestClient[Litestar]]:
    """A client of an app whose tenant is the ``X-Tenant`` header."""
    with TestClient(make_app(engine, tenant_resolver=header_tenant)) as test_client:
        yield test_client


def start_for(client: TestClient[Litestar], engine: Any, tenant: str, user: str = "erik") -> str:
    response = client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "input_data": {"amount": 5}},
        headers=as_user(user, tenant=tenant),
    )
    assert response.status_code == 201
    instance_id: str = response.json()["id"]
    settle(client, engine, instance_id)
    return instance_id


def test_tenants_only_see_their_own(client: TestClient[Litestar], engine: Any) -> None:
    acme = start_for(client, engine, "acme")
    globex = start_for(client, engine, "globex")
    acme_user, globex_user = as_user("maria", tenant="acme"), as_user("maria", tenant="globex")

    listed = client.get("/workflows/instances", headers=acme_user)
    assert ([i["id"] for i in listed.json()], listed.headers["x-total-count"]) == ([acme], "1")
    assert client.get(f"/workflows/instances/{acme}", headers=acme_user).status_code == 200

    [acme_task] = client.get("/workflows/tasks", headers=acme_user).json()
    assert acme_task["instance_id"] == acme
    filtered = client.get("/workflows/tasks", params={"assignee": "maria"}, headers=acme_user).json()
    assert [t["instance_id"] for t in filtered] == [acme]
    [globex_task] = client.get("/workflows/tasks", headers=globex_user).json()
    assert globex_task["instance_id"] == globex

    # Everything of another tenant answers 404, exactly like something that does not exist.
    for method, path, body in (
        ("GET", f"/workflows/instances/{globex}", None),
        ("GET", f"/workflows/instances/{globex}/graph", None),
        ("POST", f"/workflows/instances/{globex}/cancel", {"reason": "x"}),
        ("POST", f"/workflows/instances/{globex}/retry", {}),
        ("POST", f"/workflows/instances/{globex}/pause", None),
        ("POST", f"/workflows/instances/{globex}/resume", None),
        ("GET", f"/workflows/tasks/{globex_task['id']}", None),
        ("POST", f"/workflows/tasks/{globex_task['id']}/claim", None),
        ("POST", f"/workflows/tasks/{globex_task['id']}/complete", {"output_data": {"approved": True}}),
        ("POST", f"/workflows/tasks/{globex_task['id']}/reassign", {"new_assignee": "erik"}),
    ):
        response = client.request(method, path, json=body, headers=acme_user)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get("/workflows/tasks", params={"instance_id": globex}, headers=acme_user).json() == []

    # The other tenant's instance is untouched and still works for its own tenant.
    assert client.get(f"/workflows/instances/{globex}", headers=globex_user).json()["status"] == "waiting"
    done = client.post(
        f"/workflows/tasks/{globex_task['id']}/complete",
        json={"output_data": {"approved": True}},
        headers=globex_user,
    )
    assert done.status_code == 200


def test_started_instances_belong_to_the_acting_tenant(client: TestClient[Litestar], engine: Any) -> None:
    instance_id = start_for(client, engine, "acme")
    assert settle(client, engine, instance_id).tenant_id == "acme"
    assert (
        client.get("/workflows/instances", headers=as_user("maria", tenant="initech")).headers[
            "x-total-count"
        ]
        == "0"
    )


TENANT_OF = {"erik": "acme", "maria": "acme", "gina": "globex"}


def tenant_of_user(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The tenant of the signed-in user; an anonymous request (or a stranger) has none."""
    return TENANT_OF.get(connection.headers.get("x-user", ""))


def test_a_request_without_a_tenant_is_refused_everywhere(engine: Any) -> None:
    app = make_app(engine, tenant_resolver=tenant_of_user, groups_resolver=header_groups)
    with TestClient(app) as client:
        acme = start_for(client, engine, "acme", user="erik")
        globex = start_for(client, engine, "globex", user="gina")
        [task] = client.get("/workflows/tasks", headers=as_user("maria")).json()
        flows = {"definition_name": "approval", "input_data": {"amount": 5}}

        for headers in ({}, {"X-User": "nobody-knows-me"}):  # anonymous; signed in without a tenant
            for method, path, body in (
                ("GET", "/workflows/instances", None),
                ("POST", "/workflows/instances", flows),
                ("GET", f"/workflows/instances/{acme}", None),
                ("GET", f"/workflows/instances/{globex}/graph", None),
                ("POST", f"/workflows/instances/{acme}/cancel", {"reason": "x"}),
                ("POST", f"/workflows/instances/{globex}/retry", {}),
                ("POST", f"/workflows/instances/{acme}/pause", None),
                ("POST", f"/workflows/instances/{globex}/resume", None),
                ("GET", "/workflows/tasks", None),
                ("POST", f"/workflows/tasks/{task['id']}/claim", None),
                ("GET", f"/workflows/tasks/{task['id']}", None),
                ("POST", f"/workflows/tasks/{task['id']}/complete", {"output_data": {"approved": True}}),
                ("POST", f"/workflows/tasks/{task['id']}/reassign", {"new_assignee": "erik"}),
            ):
                response = client.request(method, path, json=body, headers=headers)
                assert response.status_code == 403, (headers, method, path, response.text)
                assert "no tenant" in response.json()["detail"]
        assert client.get("/workflows/definitions").status_code == 200  # not tenant data

        # Nothing was started, changed or completed; each tenant still sees exactly its own.
        assert client.get("/workflows/instances", headers=as_user("erik")).headers["x-total-count"] == "1"
        assert client.get("/workflows/instances", headers=as_user("gina")).headers["x-total-count"] == "1"
        assert (
            client.get(f"/workflows/instances/{acme}", headers=as_user("erik")).json()["status"] == "waiting"
        )
        assert (
            client.get(f"/workflows/tasks/{task['id']}", headers=as_user("maria")).json()["status"]
            == "pending"
        )
