"""Start data checked against the workflow's ``input_schema`` over REST: 422 naming each field, nothing stored."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from web_helpers import as_user, make_app, settle

from litestar_workflows import BaseMachineStep, WorkflowContext, WorkflowDefinition, WorkflowRegistry

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

    from conftest import EngineFactory

INPUT = {
    "type": "object",
    "properties": {
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "category": {"type": "string", "enum": ["travel", "equipment"]},
    },
    "required": ["amount", "category"],
    "additionalProperties": False,
}


class Book(BaseMachineStep):
    name = "book"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("booked", True)


@pytest.fixture
def client(engine_factory: EngineFactory) -> Iterator[TestClient[Litestar]]:
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(name="claim", steps=[Book()], initial_step="book", input_schema=INPUT)
    )
    registry.register_definition(WorkflowDefinition(name="free", steps=[Book()], initial_step="book"))
    with TestClient(make_app(engine_factory(registry))) as test_client:
        yield test_client


def start(client: TestClient[Litestar], name: str, data: Any) -> Any:
    return client.post(
        "/workflows/instances", json={"definition_name": name, "input_data": data}, headers=as_user("erik")
    )


def test_the_definitions_endpoints_show_the_input_schema(client: TestClient[Litestar]) -> None:
    listed = {d["name"]: d for d in client.get("/workflows/definitions").json()}
    assert listed["claim"]["input_schema"] == INPUT
    assert listed["free"]["input_schema"] is None
    assert client.get("/workflows/definitions/claim").json()["input_schema"] == INPUT


def test_bad_start_data_answers_422_naming_each_field_and_stores_nothing(
    client: TestClient[Litestar],
) -> None:
    response = start(client, "claim", {"amount": 0, "category": "yachts", "note": "x"})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "WorkflowValidationError"
    fields = {entry["field"]: entry["message"] for entry in body["errors"]}
    assert set(fields) == {"(root)", "amount", "category"}
    assert "'note'" in fields["(root)"]
    assert "yachts" in fields["category"]
    listing = client.get("/workflows/instances", headers=as_user("erik"))
    assert listing.status_code == 200
    assert listing.json() == []
    assert listing.headers["x-total-count"] == "0"


def test_valid_start_data_starts_the_instance(client: TestClient[Litestar]) -> None:
    response = start(client, "claim", {"amount": 12.5, "category": "travel"})
    assert response.status_code == 201, response.text
    engine = client.app.plugins.get("WorkflowPlugin").engine
    finished = settle(client, engine, response.json()["id"])
    assert finished.context.data == {"amount": 12.5, "category": "travel", "booked": True}


def test_a_workflow_without_input_schema_takes_any_object(client: TestClient[Litestar]) -> None:
    assert start(client, "free", {"anything": [1, "two"]}).status_code == 201


@pytest.mark.parametrize(
    ("workflow", "data", "fields"),
    [
        ("expense_approval", {"amount": "lots"}, {"amount"}),
        ("expense_approval", {"amount": -5, "category": "yachts"}, {"amount", "category"}),
        ("expense_approval", {"category": "travel"}, {"amount"}),
        ("leave_request", {"days": "a week"}, {"days"}),
        ("document_review", {"title": 7}, {"title"}),
    ],
)
def test_the_demo_workflows_declare_their_input(
    workflow: str, data: dict[str, Any], fields: set[str]
) -> None:
    from litestar_workflows.demo.app import create_app

    with TestClient(create_app(in_memory=True)) as demo:
        declared = demo.get(f"/workflows/definitions/{workflow}").json()["input_schema"]
        assert declared["type"] == "object"
        response = demo.post(
            "/workflows/instances",
            json={"definition_name": workflow, "input_data": data},
            headers={"X-User": "erik"},
        )
        assert response.status_code == 422, response.text
        assert {entry["field"] for entry in response.json()["errors"]} == fields
        assert demo.get("/workflows/instances").headers["x-total-count"] == "0"
