"""Every workflow error maps to one HTTP status and one body shape, on every route."""

from __future__ import annotations

import logging
import logging.handlers
import socket
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from web_helpers import build_registry, make_app

from litestar_workflows import LocalExecutionEngine
from litestar_workflows.web.errors import STORE_UNAVAILABLE, not_found_detail

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from litestar import Litestar

from litestar_workflows.core.errors import (
    ConcurrencyError,
    ContextSerializationError,
    HumanTaskError,
    InvalidTransitionError,
    StoreError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    UnauthorizedTaskError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowValidationError,
)

CASES = [
    (WorkflowNotFoundError("approval", "9.0.0"), 404),
    (WorkflowInstanceNotFoundError("x"), 404),
    (TaskNotFoundError("no task"), 404),
    (InvalidTransitionError("not waiting"), 409),
    (WorkflowAlreadyCompletedError("finished"), 409),
    (HumanTaskError("cannot"), 409),
    (TaskAlreadyCompletedError("done"), 409),
    (ConcurrencyError("changed meanwhile"), 409),
    (UnauthorizedTaskError("not yours"), 403),
    (TaskValidationError("bad form", ["amount: -1 is less than the minimum of 0"]), 422),
    (WorkflowValidationError("bad input", ["x: not allowed"]), 422),
    (ContextSerializationError("not JSON"), 422),
    (StoreError("database down"), 503),
]


class FailingEngine(LocalExecutionEngine):
    """Raises ``error`` from every operation the API calls."""

    def __init__(self, error: WorkflowsError) -> None:
        super().__init__(build_registry())
        self.error = error

    async def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error

    start_workflow = get_instance = find_instances = cancel_workflow = retry = _fail  # type: ignore[assignment]
    get_task = find_tasks = get_pending_tasks = complete_task = reassign_task = _fail  # type: ignore[assignment]


ROUTES = [
    ("POST", "/workflows/instances", {"definition_name": "approval"}),
    ("GET", "/workflows/instances", None),
    ("GET", "/workflows/instances/{id}", None),
    ("GET", "/workflows/instances/{id}/graph", None),
    ("POST", "/workflows/instances/{id}/cancel", {"reason": "x"}),
    ("POST", "/workflows/instances/{id}/retry", {}),
    ("GET", "/workflows/tasks", None),
    ("GET", "/workflows/tasks/{id}", None),
    ("POST", "/workflows/tasks/{id}/complete", {"output_data": {}}),
    ("POST", "/workflows/tasks/{id}/reassign", {"new_assignee": "x"}),
]


@pytest.mark.parametrize(("error", "status"), CASES, ids=lambda value: type(value).__name__)
def test_each_error_has_its_status_on_every_route(error: WorkflowsError, status: int) -> None:
    with TestClient(make_app(FailingEngine(error))) as client:
        for method, path, body in ROUTES:
            response = client.request(
                method, path.format(id=uuid.uuid4()), json=body, headers={"X-User": "maria"}
            )
            assert response.status_code == status, (method, path, response.text)
            payload = response.json()
            assert payload["status_code"] == status
            assert payload["error"] == type(error).__name__
            if status == 503:  # the driver's text is logged, never sent
                assert payload["detail"] == STORE_UNAVAILABLE
                assert error.detail not in response.text
            elif status == 404:  # the documented wording: "... 'x' not found"
                assert payload["detail"] == not_found_detail(error)
                assert "not found" in payload["detail"]
            else:
                assert payload["detail"] == error.detail


def test_validation_errors_name_their_fields() -> None:
    error = TaskValidationError("bad", ["items/0/price: -1 is less than the minimum of 0", "(root): odd"])
    with TestClient(make_app(FailingEngine(error))) as client:
        body = client.get(f"/workflows/tasks/{uuid.uuid4()}").json()
    assert body["errors"] == [
        {"field": "items/0/price", "message": "-1 is less than the minimum of 0"},
        {"field": "(root)", "message": "odd"},
    ]


def test_other_routes_of_the_app_keep_their_own_error_handling() -> None:
    from litestar import Litestar, get

    from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

    @get("/boom", sync_to_thread=False)
    def boom() -> None:
        raise WorkflowInstanceNotFoundError("x")

    engine = LocalExecutionEngine(build_registry())
    app = Litestar([boom], plugins=[WorkflowPlugin(WorkflowPluginConfig(engine=engine))])
    with TestClient(app) as client:
        assert client.get("/boom").status_code == 500


def free_port() -> int:
    """A local TCP port nothing listens on (bound, then closed again)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def unusable_database(kind: str, tmp_path: Path) -> tuple[str, list[str]]:
    """A real database URL the store cannot use, and words of the driver's error it must not leak."""
    if kind == "sqlite":  # a real file without the workflow tables
        return f"sqlite+aiosqlite:///{tmp_path / 'unmigrated.db'}", ["no such table", "OperationalError"]
    port = free_port()  # a PostgreSQL URL where nothing listens
    return f"postgresql+asyncpg://wf:s3cret@127.0.0.1:{port}/test", [str(port), "s3cret", "127.0.0.1"]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_failing_database_answers_a_generic_503_and_logs_the_driver_error(
    kind: str, tmp_path: Path
) -> None:
    from litestar_workflows.db import PersistentExecutionEngine

    url, secrets = unusable_database(kind, tmp_path)
    engine = PersistentExecutionEngine(build_registry(), url=url)
    app = make_app(engine, manage_engine_lifecycle=False)
    # Litestar's logging set-up replaces the root handlers (and caplog's): listen on the logger itself.
    records = logging.handlers.BufferingHandler(capacity=1000)
    logging.getLogger("litestar_workflows.web").addHandler(records)
    try:
        with TestClient(app) as client:
            listed = client.get("/workflows/instances", headers={"X-User": "maria"})
            started = client.post(
                "/workflows/instances", json={"definition_name": "approval"}, headers={"X-User": "maria"}
            )
            client.blocking_portal.call(engine.stop)
    finally:
        logging.getLogger("litestar_workflows.web").removeHandler(records)
    for response in (listed, started):
        assert response.status_code == 503, response.text
        assert response.json() == {
            "status_code": 503,
            "detail": STORE_UNAVAILABLE,
            "error": "StoreError",
            "errors": [],
        }
        for secret in secrets:
            assert secret not in response.text
    logged = "\n".join(record.getMessage() for record in records.buffer)
    assert "/workflows/instances answered 503" in logged
    assert any(secret in logged for secret in secrets if secret != "s3cret"), logged


# ---------------------------------------------------------------------- Litestar's own errors


def documented(response: Any, status: int) -> dict[str, Any]:
    """The body of an error response, checked to have the documented shape and ``status``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert {"status_code", "detail", "error", "errors"} <= set(body), body
    assert body["status_code"] == status
    assert body["error"]
    assert all(set(entry) == {"field", "message"} for entry in body["errors"]), body
    return body


@pytest.fixture
def api() -> Iterator[TestClient[Litestar]]:
    """The API on an in-memory engine: these answers come before any engine is asked."""
    with TestClient(make_app(LocalExecutionEngine(build_registry()))) as client:
        yield client


START = "/workflows/instances"
INVALID_PARAMETERS = [
    ("POST", START, {"definition_name": 5}, "definition_name"),
    ("POST", START, {"definition_name": "approval", "input_data": [1]}, "input_data"),
    ("POST", START, {"definition_name": "approval", "inputs": {}}, "inputs"),
    ("POST", START, {"input_data": {}}, "definition_name"),
    ("GET", f"{START}?limit=-1", None, "limit"),
    ("GET", f"{START}?status=bogus", None, "status"),
    ("GET", "/workflows/tasks?status=bogus", None, "status"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), INVALID_PARAMETERS)
def test_litestar_validation_errors_have_the_documented_shape_and_name_the_field(
    api: TestClient[Litestar], method: str, path: str, body: Any, field: str
) -> None:
    response = api.request(method, path, json=body, headers={"X-User": "erik"})
    answer = documented(response, 400)
    assert answer["error"] == "ValidationException"
    assert field in [entry["field"] for entry in answer["errors"]], answer
    assert answer["extra"]  # Litestar's own list, kept for clients that read it
    assert api.get(START).json() == []  # nothing started


@pytest.mark.parametrize(
    ("content", "status", "detail"),
    [
        ("{bad", 400, "The body is not valid JSON"),
        ('{"definition_name": "approval", "input_data": {"amount": NaN}}', 400, "The body is not valid JSON"),
        (
            '{"definition_name": "approval", "input_data": {"x": "' + "x" * 1_100_000 + '"}}',
            413,
            "larger than",
        ),
    ],
    ids=["malformed", "nan", "too-large"],
)
def test_unreadable_bodies_have_the_documented_shape(
    api: TestClient[Litestar], content: str, status: int, detail: str
) -> None:
    response = api.post(
        START, content=content, headers={"X-User": "erik", "Content-Type": "application/json"}
    )
    answer = documented(response, status)
    assert detail in answer["detail"]
    assert answer["errors"] == []
    assert answer["error"] == ("RequestEntityTooLarge" if status == 413 else "ClientException")


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        (START, "with definition_name"),
        ("/workflows/tasks/{id}/complete", ""),
        ("/workflows/tasks/{id}/reassign", "with new_assignee"),
    ],
)
@pytest.mark.parametrize(("content", "found"), [("", "empty"), ("[1]", "a JSON array"), ("null", "null")])
def test_a_route_that_needs_a_body_says_a_json_object_is_required(
    api: TestClient[Litestar], path: str, fields: str, content: str, found: str
) -> None:
    headers = {"X-User": "maria", "Content-Type": "application/json"}
    response = api.post(path.format(id=uuid.uuid4()), content=content, headers=headers)
    answer = documented(response, 400)
    assert answer["detail"].startswith("A JSON object body is required")
    assert fields in answer["detail"]
    assert answer["detail"].endswith(f"the request's body is {found}")
    assert [entry["field"] for entry in answer["errors"]] == ["(root)"]


def test_an_optional_body_may_be_left_out_but_not_be_something_else(api: TestClient[Litestar]) -> None:
    cancel = f"{START}/{uuid.uuid4()}/cancel"
    headers = {"X-User": "maria", "Content-Type": "application/json"}
    for nothing in ("", "null"):  # no body: on to the instance, which does not exist
        assert documented(api.post(cancel, content=nothing, headers=headers), 404)["error"] == (
            "WorkflowInstanceNotFoundError"
        )
    answer = documented(api.post(cancel, content="[1]", headers=headers), 400)
    assert "must be a JSON object, or be left out" in answer["detail"]


@pytest.mark.parametrize(
    ("method", "path", "what", "error"),
    [
        ("GET", "/workflows/instances/{id}", "Workflow instance", "WorkflowInstanceNotFoundError"),
        ("GET", "/workflows/instances/{id}/graph", "Workflow instance", "WorkflowInstanceNotFoundError"),
        ("POST", "/workflows/instances/{id}/cancel", "Workflow instance", "WorkflowInstanceNotFoundError"),
        ("POST", "/workflows/webhooks/{id}/paid", "Workflow instance", "WorkflowInstanceNotFoundError"),
        ("GET", "/workflows/tasks/{id}", "Task", "TaskNotFoundError"),
        ("POST", "/workflows/tasks/{id}/claim", "Task", "TaskNotFoundError"),
    ],
)
def test_a_malformed_id_is_not_found_and_named(
    api: TestClient[Litestar], method: str, path: str, what: str, error: str
) -> None:
    response = api.request(method, path.format(id="not-a-uuid"), headers={"X-User": "maria"})
    answer = documented(response, 404)  # like an unknown id: no such instance or task
    assert answer["detail"] == f"{what} 'not-a-uuid' not found: the id is malformed (not a UUID)"
    assert answer["error"] == error
    field = "task_id" if error == "TaskNotFoundError" else "instance_id"
    assert answer["errors"] == [{"field": field, "message": "'not-a-uuid' is not a UUID"}]


def test_an_error_names_a_field_only_when_a_path_comes_before_its_colon() -> None:
    from litestar_workflows.web.errors import split_field

    assert split_field("address/city: 'x' is too short") == ("address/city", "'x' is too short")
    assert split_field("(root): 5 is not of type 'object'") == ("(root)", "5 is not of type 'object'")
    sentence = "new_assignee ' bob' is blank or has spaces around it: give a user id"
    assert split_field(sentence) == ("", sentence)
    assert split_field("no colon at all") == ("", "no colon at all")
    assert split_field(": starts with one") == ("", ": starts with one")


def test_a_field_whose_name_holds_a_space_is_named_from_the_errors_fields() -> None:
    from litestar_workflows import BaseHumanStep, WorkflowDefinition, WorkflowValidationError
    from litestar_workflows.web.errors import field_errors

    definition = WorkflowDefinition(
        name="spaced",
        steps={"ok": BaseHumanStep("ok", title="OK?")},
        initial_step="ok",
        input_schema={
            "type": "object",
            "properties": {"cost center": {"type": "string", "minLength": 3}},
            "required": ["cost center", "owner"],
        },
    )
    with pytest.raises(WorkflowValidationError) as refused:
        definition.check_input({"cost center": "x"})
    assert sorted(refused.value.fields or []) == ["cost center", "owner"]
    assert sorted((e.field, e.message) for e in field_errors(refused.value)) == [
        ("cost center", "'x' is too short"),
        ("owner", "'owner' is a required property"),
    ]
