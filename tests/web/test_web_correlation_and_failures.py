"""Over REST: ``correlation_id`` makes a start idempotent (201 new, 200 existing), per tenant; a
failed step's history shows its error type and traceback.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from web_helpers import as_user, header_tenant, make_app, settle

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

URL = "/workflows/instances"


def post_start(client: TestClient[Litestar], user: str = "erik", **body: Any) -> Any:
    return client.post(URL, json={"definition_name": "approval", **body}, headers=as_user(user))


def test_a_repeated_correlation_id_answers_the_existing_instance_with_200(
    client: TestClient[Litestar], engine: Any
) -> None:
    first = post_start(client, input_data={"amount": 50}, correlation_id="order-123")
    again = post_start(client, input_data={"amount": 999}, correlation_id="order-123")
    other = post_start(client, input_data={"amount": 50}, correlation_id="order-124")

    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"] != other.json()["id"]
    assert again.json()["data"]["amount"] == 50  # nothing was started with the second body
    assert again.json()["correlation_id"] == "order-123"
    listed = client.get(URL, params={"workflow_name": "approval"}, headers=as_user("erik"))
    assert listed.headers["x-total-count"] == "2"


def test_starts_without_a_correlation_id_always_create(client: TestClient[Litestar]) -> None:
    answers = [post_start(client, input_data={"amount": 5}) for _ in range(2)]

    assert [answer.status_code for answer in answers] == [201, 201]
    assert answers[0].json()["id"] != answers[1].json()["id"]


def test_a_failed_steps_history_shows_its_error_type_and_traceback(
    client: TestClient[Litestar], engine: Any
) -> None:
    started = client.post(URL, json={"definition_name": "flaky"}, headers=as_user("erik"))
    instance_id = started.json()["id"]
    settle(client, engine, instance_id)

    detail = client.get(f"{URL}/{instance_id}", headers=as_user("erik")).json()
    assert detail["status"] == "failed"
    [failed] = [run for run in detail["step_history"] if run["step_name"] == "flaky"]
    assert failed["error"] == "NonRetryableError: the flaky step fails the first time"
    assert failed["error_type"] == "litestar_workflows.core.errors.NonRetryableError"
    assert failed["stack_trace"].startswith("Traceback (most recent call last):")
    assert "in execute" in failed["stack_trace"]
    [prepare] = [run for run in detail["step_history"] if run["step_name"] == "prepare"]
    assert (prepare["error_type"], prepare["stack_trace"]) == (None, None)


@pytest.fixture
def tenant_client(engine: Any) -> Iterator[TestClient[Litestar]]:
    with TestClient(make_app(engine, tenant_resolver=header_tenant)) as test_client:
        yield test_client


def test_correlation_ids_are_private_to_a_tenant(tenant_client: TestClient[Litestar]) -> None:
    def start_as(tenant: str) -> Any:
        return tenant_client.post(
            URL,
            json={"definition_name": "approval", "input_data": {"amount": 5}, "correlation_id": "order-1"},
            headers=as_user("erik", tenant=tenant),
        )

    acme, globex, acme_again = start_as("acme"), start_as("globex"), start_as("acme")

    assert (acme.status_code, globex.status_code, acme_again.status_code) == (201, 201, 200)
    assert acme.json()["id"] != globex.json()["id"]  # never another tenant's instance
    assert acme_again.json()["id"] == acme.json()["id"]
    assert globex.json()["correlation_id"] == "order-1"


def test_a_correlation_id_of_the_full_length_works_under_any_tenant(
    tenant_client: TestClient[Litestar],
) -> None:
    """255 characters is the API's limit whatever the tenant's name; an empty id is a bad request."""

    def start(correlation_id: str, tenant: str = "acme-corporation") -> Any:
        return tenant_client.post(
            URL,
            json={
                "definition_name": "approval",
                "input_data": {"amount": 5},
                "correlation_id": correlation_id,
            },
            headers=as_user("erik", tenant=tenant),
        )

    long_a, long_b = "a" * 254 + "1", "a" * 254 + "2"
    first, other, again = start(long_a), start(long_b), start(long_a)
    assert (first.status_code, other.status_code, again.status_code) == (201, 201, 200), first.text
    assert again.json()["id"] == first.json()["id"] != other.json()["id"]
    assert first.json()["correlation_id"] == long_a
    elsewhere = start(long_a, tenant="globex")
    assert elsewhere.status_code == 201 and elsewhere.json()["id"] != first.json()["id"]
    empty = start("")
    assert empty.status_code == 400, empty.text
    assert "correlation_id" in empty.text
