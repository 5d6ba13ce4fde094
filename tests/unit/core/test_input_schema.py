"""``input_schema``: a definition says what data an instance starts with, checked like a task form."""

from __future__ import annotations

from typing import Any

import pytest

from litestar_workflows import (
    BaseWorkflow,
    Edge,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from litestar_workflows.store.base import InstanceQuery
from step_kit import Fn

EXPENSE_INPUT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "category": {"type": "string", "enum": ["travel", "equipment", "meals"]},
        "reference": {"type": "string", "pattern": "^[A-Z]{2}-[0-9]+$"},
    },
    "required": ["amount", "category"],
}


def expense(schema: Any = EXPENSE_INPUT, name: str = "expense") -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name, steps=[Fn("record", lambda ctx: None)], initial_step="record", input_schema=schema
    )


def test_a_definition_without_input_schema_accepts_any_object() -> None:
    definition = WorkflowDefinition(name="free", steps=[Fn("a", lambda ctx: None)], initial_step="a")
    assert definition.input_schema is None
    definition.check_input({"anything": [1, 2, 3]})
    assert "input_schema" not in definition.to_dict()


def test_check_input_names_each_failing_field() -> None:
    definition = expense()
    with pytest.raises(WorkflowValidationError) as caught:
        definition.check_input({"amount": -5, "reference": "nope"})
    errors = caught.value.errors
    assert [entry.split(": ")[0] for entry in errors] == ["category", "amount", "reference"]
    assert "'category' is a required property" in errors[0]
    assert "-5" in errors[1]
    assert "'expense'" in caught.value.detail


def test_required_fields_are_named_even_when_one_name_prefixes_another() -> None:
    schema = {"type": "object", "required": ["amount", "am"], "properties": {}}
    with pytest.raises(WorkflowValidationError) as caught:
        expense(schema).check_input({})
    assert sorted(entry.split(": ")[0] for entry in caught.value.errors) == ["am", "amount"]


def test_nested_fields_are_named_by_their_path() -> None:
    schema = {
        "type": "object",
        "properties": {"items": {"type": "array", "items": {"type": "object", "required": ["price"]}}},
    }
    with pytest.raises(WorkflowValidationError) as caught:
        expense(schema).check_input({"items": [{"price": 1}, {}]})
    assert caught.value.errors == ["items/1/price: 'price' is a required property"]


def test_valid_input_passes() -> None:
    expense().check_input({"amount": 12.5, "category": "travel", "reference": "AB-12"})


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ("not a schema", "input_schema must be a JSON Schema (a dict), not str"),
        ({"type": "string"}, "input_schema must describe an object"),
        ({"type": "object", "properties": {"x": {"type": "nonsense"}}}, "input_schema has an invalid"),
        ({"type": "object", "properties": {"x": {"pattern": "(?=a)b"}}}, "RE2"),
    ],
)
def test_an_unusable_input_schema_is_a_definition_problem(schema: Any, problem: str) -> None:
    definition = expense(schema)
    assert any(problem in entry for entry in definition.validate())
    with pytest.raises(WorkflowValidationError, match="input_schema"):
        WorkflowRegistry().register_definition(definition)


def test_a_schema_allowing_several_types_including_object_is_accepted() -> None:
    assert expense({"type": ["object", "null"]}).validate() == []


def test_the_class_attribute_equivalent() -> None:
    class Expense(BaseWorkflow):
        __workflow_name__ = "expense_class"
        steps = [Fn("record", lambda ctx: None)]
        edges: list[Edge] = []
        initial_step = "record"
        input_schema = EXPENSE_INPUT

    definition = Expense.get_definition()
    assert definition.input_schema == EXPENSE_INPUT
    assert definition.to_dict()["input_schema"] == EXPENSE_INPUT


async def test_start_workflow_refuses_bad_input_before_storing_anything() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(expense())
    async with LocalExecutionEngine(registry) as engine:
        with pytest.raises(WorkflowValidationError) as caught:
            await engine.start_workflow("expense", {"amount": "lots", "category": "travel"})
        assert [entry.split(": ")[0] for entry in caught.value.errors] == ["amount"]
        page = await engine.find_instances(InstanceQuery())
        assert page.total == 0
        assert engine.get_all_instances() == []
        started = await engine.start_workflow("expense", {"amount": 3, "category": "meals"})
        finished = await engine.wait(started.id, timeout=10)
        assert finished.status is WorkflowStatus.COMPLETED
        assert finished.context.data == {"amount": 3, "category": "meals"}
