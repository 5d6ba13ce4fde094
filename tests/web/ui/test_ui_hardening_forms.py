"""Form input the UI cannot read as its type is a field problem on the form (422), never a 500.

Deep JSON, integers longer than Python reads from text, numbers beyond any float or beyond the
integers workflow data holds; and a typed integer is stored as typed, not rounded through a float.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from ui_helpers import Done, Intake, page, post_form, rich_form_workflow
from web_helpers import as_user, build_registry, settle

from litestar_workflows import BaseHumanStep, Edge, WorkflowDefinition, WorkflowRegistry
from litestar_workflows.web.ui.schema_form import parse_form, parse_json_object

if TYPE_CHECKING:
    from httpx import Response
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"
DEEP = "[" * 5000 + "]" * 5000
"""JSON nested far deeper than Python's parser goes (a RecursionError)."""
LONG_INTEGER = "9" * 5000
"""An integer literal longer than Python reads from text (its int-string limit is 4300 digits)."""

NUMBERS = {
    "type": "object",
    "properties": {
        "count": {"type": "integer"},
        "ratio": {"type": "number"},
        "extra": {"type": "object"},
        "tags": {"type": "array"},
    },
}


class Fill(BaseHumanStep):
    name = "check"
    title = "Fill in the numbers"
    form_schema = NUMBERS
    assignee_key = "checker"


def numbers_workflow() -> WorkflowDefinition:
    """intake -> check (integer, number, object and array fields) -> done."""
    return WorkflowDefinition(
        name="numbers",
        version="1.0.0",
        description="A task form with integer, number, object and array fields",
        steps={"intake": Intake(), "check": Fill(), "done": Done()},
        edges=[Edge("intake", "check"), Edge("check", "done")],
        initial_step="intake",
        terminal_steps={"done"},
    )


@pytest.fixture
def backend() -> str:
    return "memory"


@pytest.fixture
def registry() -> WorkflowRegistry:
    """The UI tests' workflows and ``numbers``."""
    registry = build_registry()
    registry.register_definition(rich_form_workflow())
    registry.register_definition(numbers_workflow())
    return registry


def numbers_task(client: TestClient[Litestar], engine: Any) -> tuple[str, str]:
    """Start ``numbers`` (maria fills it in); return (instance id, task id)."""
    started = client.post(
        "/workflows/instances", json={"definition_name": "numbers", "input_data": {}}, headers=as_user("erik")
    )
    instance_id = started.json()["id"]
    settle(client, engine, instance_id)
    [task] = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
    return instance_id, task["id"]


def complete(client: TestClient[Litestar], task_id: str, data: dict[str, str]) -> Response:
    return post_form(client, f"{UI}/tasks/{task_id}/complete", data, headers=as_user("maria"))


def problems_on(response: Response) -> tuple[set[str], str]:
    """The fields the refused form's alert links to, and the alert's text."""
    assert response.status_code == 422, response.text[:300]
    alert = page(response).find(role="alert")
    return {a.text for a in alert.find_all("a")}, " ".join(alert.text.split())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"v": ' + DEEP + "}", "nests objects and arrays too deeply"),
        ('{"x": ' + LONG_INTEGER + "}", "holds a number with too many digits"),
    ],
    ids=["deep", "long-integer"],
)
def test_the_start_forms_json_editor_refuses_unreadable_json_by_name(
    ui_client: TestClient[Litestar], text: str, message: str
) -> None:
    refused = post_form(
        ui_client, f"{UI}/workflows/approval/start", {"input_data": text}, headers=as_user("erik")
    )
    fields, alert = problems_on(refused)
    assert fields == {"input_data"}
    assert message in alert
    assert ui_client.get("/workflows/instances").json() == []


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [
        ("extra", '{"v": ' + DEEP + "}", "nests objects and arrays too deeply"),
        ("tags", DEEP, "nests objects and arrays too deeply"),
        ("extra", '{"x": ' + LONG_INTEGER + "}", "holds a number with too many digits"),
        ("count", "1e999", "'1e999' is out of range"),
        ("count", "9" * 400, "is out of range"),
        ("count", "1e20", "'1e20' is out of range"),
        ("count", "nan", "'nan' is not a number"),
        ("ratio", "1e999", "'1e999' is out of range"),
        ("ratio", "-" + LONG_INTEGER, "is out of range"),
        ("ratio", "Infinity", "'Infinity' is not a finite number"),
    ],
)
def test_a_task_field_that_cannot_be_read_is_a_problem_of_that_field(
    ui_client: TestClient[Litestar], engine: Any, field: str, text: str, message: str
) -> None:
    instance_id, task_id = numbers_task(ui_client, engine)
    fields, alert = problems_on(complete(ui_client, task_id, {field: text}))
    assert fields == {field}
    assert message in alert
    assert ui_client.get(f"/workflows/instances/{instance_id}").json()["status"] == "waiting"


@pytest.mark.parametrize(
    ("field", "text", "stored"),
    [
        ("count", "9007199254740993", 9007199254740993),  # 2**53 + 1: no float holds it
        ("count", "-9223372036854775808", -(2**63)),
        ("count", "18446744073709551615", 2**64 - 1),
        ("count", "12.0", 12),  # a whole number, as an integer field always took it
        ("count", "1e3", 1000),
        ("ratio", "9007199254740993", 9007199254740993),
        ("ratio", "0.1", 0.1),
        ("ratio", "1e30", 1e30),
        ("ratio", "1" + "0" * 30, 1e30),  # beyond 64 bits: a number field may store it as a float
    ],
)
def test_a_typed_number_is_stored_as_typed(
    ui_client: TestClient[Litestar], engine: Any, field: str, text: str, stored: float
) -> None:
    instance_id, task_id = numbers_task(ui_client, engine)
    done = complete(ui_client, task_id, {field: text})
    assert done.status_code == 303, done.text[:300]
    settle(ui_client, engine, instance_id)
    context = ui_client.get(f"/workflows/instances/{instance_id}").json()["context_data"]
    assert context[field] == stored
    assert type(context[field]) is type(stored)


def test_a_fraction_in_an_integer_field_is_refused_by_the_schema_not_cut(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    instance_id, task_id = numbers_task(ui_client, engine)
    fields, alert = problems_on(complete(ui_client, task_id, {"count": "1.5"}))
    assert fields == {"count"}
    assert "1.5 is not of type 'integer'" in alert
    assert ui_client.get(f"/workflows/instances/{instance_id}").json()["status"] == "waiting"


def test_the_readers_answer_problems_for_what_they_cannot_read() -> None:
    data, problems = parse_form(NUMBERS, {"count": "1e999", "ratio": "9" * 400, "extra": DEEP, "tags": "[1]"})
    assert data == {"tags": [1]}
    assert {p.field for p in problems} == {"count", "ratio", "extra"}
    long_text = next(p.message for p in problems if p.field == "ratio")
    assert len(long_text) < 100  # the text is cut in the message
    assert parse_json_object(DEEP)[1][0].field == "input_data"
    assert parse_json_object('{"x": ' + LONG_INTEGER + "}")[1][0].field == "input_data"
    assert parse_form(NUMBERS, {"count": "9007199254740993"}) == ({"count": 9007199254740993}, [])
