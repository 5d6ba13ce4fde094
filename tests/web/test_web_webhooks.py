"""Signed webhook deliveries over HTTP, and pause, resume and claim over REST, on every backend."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from web_helpers import as_user, header_tenant, make_app, settle

from litestar_workflows import (
    BaseMachineStep,
    Edge,
    WebhookStep,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.web.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_headers

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

    from conftest import EngineFactory

SECRET = "s3cret-for-payments"


class Record(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> None:
        context.set("recorded", context.get("payment"))


def payment_workflow() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="payment",
        version="1.0.0",
        description="Waits for the payment provider's callback",
        steps={
            "paid": WebhookStep("paid", callback_key="payment", secret=SECRET),
            "unsigned": WebhookStep("unsigned"),
            "record": Record("record"),
        },
        edges=[Edge("paid", "record")],
        initial_step="paid",
        terminal_steps={"record", "unsigned"},
    )


@pytest.fixture
def webhook_engine(engine_factory: EngineFactory) -> Any:
    registry = WorkflowRegistry()
    registry.register_definition(payment_workflow())
    return engine_factory(registry)


@pytest.fixture
def hooks(webhook_engine: Any) -> Iterator[TestClient[Litestar]]:
    # The app's own guards refuse anonymous users: signed deliveries must not need one.
    def signed_in(connection: Any, _: Any) -> None:
        if not connection.headers.get("x-user"):
            from litestar.exceptions import NotAuthorizedException

            raise NotAuthorizedException("sign in")

    with TestClient(make_app(webhook_engine, api_guards=[signed_in])) as client:
        yield client


def _start(client: TestClient[Litestar], engine: Any) -> str:
    response = client.post(
        "/workflows/instances", json={"definition_name": "payment"}, headers=as_user("erik")
    )
    assert response.status_code == 201, response.text
    instance_id: str = response.json()["id"]
    assert settle(client, engine, instance_id).status is WorkflowStatus.WAITING
    return instance_id


def _deliver(
    client: TestClient[Litestar], instance_id: str, body: bytes, headers: dict[str, str], step: str = "paid"
) -> Any:
    return client.post(
        f"/workflows/webhooks/{instance_id}/{step}",
        content=body,
        headers={"Content-Type": "application/json", **headers},
    )


def _state(client: TestClient[Litestar], instance_id: str) -> Any:
    return client.get(f"/workflows/instances/{instance_id}", headers=as_user("erik")).json()


def test_a_signed_delivery_continues_the_instance_with_the_payload(
    hooks: TestClient[Litestar], webhook_engine: Any
) -> None:
    instance_id = _start(hooks, webhook_engine)
    body = json.dumps({"amount": 42, "ref": "ch_1"}).encode()
    response = _deliver(hooks, instance_id, body, signature_headers(SECRET, body))
    assert response.status_code == 200, response.text
    assert response.json()["step_name"] == "paid"
    assert "data" not in response.json()  # the sender is no user: it learns the outcome only
    done = settle(hooks, webhook_engine, instance_id)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.context.get("recorded") == {"amount": 42, "ref": "ch_1"}
    # Delivered once: the same delivery again finds the instance no longer waiting.
    again = _deliver(hooks, instance_id, body, signature_headers(SECRET, body))
    assert again.status_code == 409, again.text


@pytest.mark.parametrize(
    "tamper",
    ["wrong secret", "body changed", "no signature", "no timestamp", "stale", "not hex", "re-dated"],
)
def test_a_bad_signature_answers_401_and_changes_nothing(
    hooks: TestClient[Litestar], webhook_engine: Any, tamper: str
) -> None:
    instance_id = _start(hooks, webhook_engine)
    before = _state(hooks, instance_id)
    body = b'{"amount": 42}'
    headers = signature_headers(SECRET, body)
    sent = body
    if tamper == "wrong secret":
        headers = signature_headers("another secret", body)
    elif tamper == "body changed":
        sent = b'{"amount": 4200}'
    elif tamper == "no signature":
        del headers[SIGNATURE_HEADER]
    elif tamper == "no timestamp":
        del headers[TIMESTAMP_HEADER]
    elif tamper == "stale":
        headers = signature_headers(SECRET, body, timestamp=int(time.time()) - 3600)
    elif tamper == "not hex":
        headers[SIGNATURE_HEADER] = "md5=abc"
    elif tamper == "re-dated":
        headers[TIMESTAMP_HEADER] = str(int(headers[TIMESTAMP_HEADER]) + 1)
    response = _deliver(hooks, instance_id, sent, headers)
    assert response.status_code == 401, response.text
    assert response.json()["detail"]
    after = _state(hooks, instance_id)
    assert (after["status"], after["current_step"], after["context_data"]) == (
        before["status"],
        before["current_step"],
        before["context_data"],
    )


@pytest.mark.parametrize("body", [b"not json", b"[" * 100 + b"]" * 100, b'{"ref": "\\ud800"}'])
def test_a_body_is_parsed_only_once_its_signature_holds(
    hooks: TestClient[Litestar], webhook_engine: Any, body: bytes
) -> None:
    """Unsigned or to nowhere, a body that is not readable JSON gets 401 or 404, not a parser's 400."""
    instance_id = _start(hooks, webhook_engine)
    unsigned = _deliver(hooks, instance_id, body, {})
    assert unsigned.status_code == 401, unsigned.text
    nowhere = _deliver(hooks, "00000000-0000-4000-8000-000000000000", body, signature_headers(SECRET, body))
    assert nowhere.status_code == 404, nowhere.text
    signed = _deliver(hooks, instance_id, body, signature_headers(SECRET, body))
    assert signed.status_code == 400, signed.text  # signed by the sender: now it is read, and refused
    assert _state(hooks, instance_id)["status"] == "waiting"


def test_unknown_callbacks_answer_404(hooks: TestClient[Litestar], webhook_engine: Any) -> None:
    instance_id = _start(hooks, webhook_engine)
    body = b"{}"
    headers = signature_headers(SECRET, body)
    unknown_instance = _deliver(hooks, "00000000-0000-4000-8000-000000000000", body, headers)
    assert unknown_instance.status_code == 404, unknown_instance.text
    unknown_step = _deliver(hooks, instance_id, body, headers, step="nope")
    assert unknown_step.status_code == 404
    # A webhook step without a secret is not reachable from the network at all.
    unsigned = _deliver(hooks, instance_id, body, headers, step="unsigned")
    assert unsigned.status_code == 404
    machine = _deliver(hooks, instance_id, body, headers, step="record")
    assert machine.status_code == 404
    # Nobody is known before the signature is checked: the answers cannot tell an existing
    # instance from a missing one, and name no workflow.
    answers = {r.text for r in (unknown_instance, unknown_step, unsigned, machine)}
    assert len(answers) == 1
    assert "payment" not in answers.pop()  # the workflow's name
    assert _state(hooks, instance_id)["status"] == "waiting"


def test_a_paused_instance_refuses_the_delivery_until_resumed(
    hooks: TestClient[Litestar], webhook_engine: Any
) -> None:
    instance_id = _start(hooks, webhook_engine)
    paused = hooks.post(f"/workflows/instances/{instance_id}/pause", headers=as_user("erik"))
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    body = b'{"amount": 1}'
    refused = _deliver(hooks, instance_id, body, signature_headers(SECRET, body))
    assert refused.status_code == 409, refused.text
    assert _state(hooks, instance_id)["status"] == "paused"
    # Only the creator or an administrator may resume; anonymous callers are refused by the app's guard.
    assert (
        hooks.post(f"/workflows/instances/{instance_id}/resume", headers=as_user("maria")).status_code == 403
    )
    assert hooks.post(f"/workflows/instances/{instance_id}/resume").status_code == 401
    resumed = hooks.post(f"/workflows/instances/{instance_id}/resume", headers=as_user("erik"))
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "waiting"
    assert (
        hooks.post(f"/workflows/instances/{instance_id}/resume", headers=as_user("erik")).status_code == 409
    )
    accepted = _deliver(hooks, instance_id, body, signature_headers(SECRET, body))
    assert accepted.status_code == 200, accepted.text
    assert settle(hooks, webhook_engine, instance_id).status is WorkflowStatus.COMPLETED


def test_the_payload_schema_and_a_rotated_secret_apply_under_tenancy(engine_factory: EngineFactory) -> None:
    secrets = ["first"]
    checked = WorkflowDefinition(
        name="checked",
        version="1.0.0",
        description="A webhook with a payload schema and a secret read at each delivery",
        steps={
            "paid": WebhookStep(
                "paid",
                secret=lambda: secrets[-1],
                payload_schema={
                    "type": "object",
                    "required": ["ref"],
                    "properties": {"ref": {"type": "string"}},
                },
            ),
            "record": Record("record"),
        },
        edges=[Edge("paid", "record")],
        initial_step="paid",
    )
    registry = WorkflowRegistry()
    registry.register_definition(checked)
    engine = engine_factory(registry)
    with TestClient(make_app(engine, tenant_resolver=header_tenant)) as client:
        started = client.post(
            "/workflows/instances",
            json={"definition_name": "checked"},
            headers=as_user("erik", tenant="acme"),
        ).json()
        instance_id = started["id"]
        settle(client, engine, instance_id)
        # Tenancy fails closed for users; a signed delivery carries no tenant and needs none.
        bad = b'{"ref": 7}'
        refused = _deliver(client, instance_id, bad, signature_headers("first", bad))
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "ref"
        secrets.append("second")
        good = b'{"ref": "r-1"}'
        assert _deliver(client, instance_id, good, signature_headers("first", good)).status_code == 401
        waiting = client.get(
            f"/workflows/instances/{instance_id}", headers=as_user("erik", tenant="acme")
        ).json()
        assert (waiting["status"], waiting["current_step"]) == ("waiting", "paid")
        accepted = _deliver(client, instance_id, good, signature_headers("second", good))
        assert accepted.status_code == 200, accepted.text
        done = settle(client, engine, instance_id)
        assert (done.status, done.context.get("paid")) == (WorkflowStatus.COMPLETED, {"ref": "r-1"})


def test_signatures_refuse_future_timestamps_and_accept_within_max_age() -> None:
    from litestar_workflows.web.webhooks import BadSignatureError, sign, verify

    body = b"{}"
    now = 1_700_000_000
    verify(b"k", body, sign(b"k", now - 299, body), str(now - 299), max_age=300, now=now)
    for moment in (now + 301, now - 301):
        with pytest.raises(BadSignatureError, match="seconds away from now"):
            verify(b"k", body, sign(b"k", moment, body), str(moment), max_age=300, now=now)
    with pytest.raises(BadSignatureError, match="whole seconds"):
        verify(b"k", body, sign(b"k", now, body), "1.7e9", max_age=300, now=now)
    with pytest.raises(ValueError, match="secret must not be empty"):
        WebhookStep("paid", secret="")


def _read_secret() -> str:
    return SECRET


class Paid(WebhookStep):
    """A class-based webhook step whose secret is a function set in the class body."""

    name = "paid"
    secret = _read_secret


def test_a_secret_function_in_a_class_body_is_not_bound_as_a_method() -> None:
    assert Paid().signing_key() == SECRET.encode()
    assert WebhookStep("plain").signing_key() is None
