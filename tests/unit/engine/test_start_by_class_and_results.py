"""Starting by a workflow class whose ``get_definition()`` builds a new definition on every call
(as the documentation writes it), and the checks every step result goes through.

Both run on every start or step, so they have quick paths; these tests pin what those paths must
still decide exactly as the slow ones did.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pytest

from litestar_workflows import (
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from step_kit import FINISHED, Fn


class Submit(BaseMachineStep):
    name = "submit"
    description = "Record the submission"

    async def execute(self, context: WorkflowContext) -> Any:
        return {"submitted": True, "amount": context.get("amount")}


class Review(BaseMachineStep):
    name = "review"

    async def execute(self, context: WorkflowContext) -> Any:
        return {"reviewed": True}


class OtherReview(Review):
    """Another class under the same step name: a changed definition."""


class Approval:
    """The documented shape: a new definition, with new step objects, on every call."""

    __workflow_name__ = "approval"
    __workflow_version__ = "1.0.0"
    review_class: ClassVar[type[BaseMachineStep]] = Review
    condition: ClassVar[Any] = None
    description: ClassVar[str] = "Record the submission"

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        submit = Submit()
        submit.description = cls.description
        return WorkflowDefinition(
            name=cls.__workflow_name__,
            version=cls.__workflow_version__,
            steps={"submit": submit, "review": cls.review_class()},
            edges=[Edge("submit", "review", cls.condition)],
            initial_step="submit",
            terminal_steps={"review"},
        )


async def test_each_start_by_class_runs_the_registered_definition() -> None:
    registry = WorkflowRegistry()
    registry.register(Approval)
    registered = registry.get_definition("approval", "1.0.0")
    engine = LocalExecutionEngine(registry)
    assert Approval.get_definition() is not registered
    assert engine.resolve_definition(Approval) is registered
    first = await engine.start_workflow(Approval, {"amount": 5})
    second = await engine.start_workflow(Approval, {"amount": 7})
    for instance in (first, second):
        await engine.wait(instance.id, until=FINISHED)
        assert instance.status is WorkflowStatus.COMPLETED
    assert [run.result for run in second.step_history] == [
        {"submitted": True, "amount": 7},
        {"reviewed": True},
    ]


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("review_class", OtherReview),
        ("condition", "context.get('amount') > 1"),
        ("description", "Something else"),
    ],
)
async def test_a_class_that_changed_under_the_same_version_is_refused(
    monkeypatch: pytest.MonkeyPatch, attribute: str, value: Any
) -> None:
    registry = WorkflowRegistry()
    registry.register(Approval)
    engine = LocalExecutionEngine(registry)
    monkeypatch.setattr(Approval, attribute, value)
    with pytest.raises(WorkflowValidationError, match="registered with other steps or edges"):
        await engine.start_workflow(Approval, {"amount": 5})
    with pytest.raises(WorkflowValidationError, match="already registered"):
        registry.register(Approval)
    assert engine.get_all_instances() == []


def test_definitions_alike_only_in_their_description_are_the_same() -> None:
    """Edges naming step objects, or callables made afresh, differ as objects but not as described."""

    def build() -> WorkflowDefinition:
        submit, review = Submit(), Review()

        def always(context: WorkflowContext) -> bool:
            return True

        return WorkflowDefinition(
            name="approval",
            steps=[submit, review],
            edges=[Edge(submit, review, always)],
            initial_step="submit",
        )

    first, second = build(), build()
    assert first.edges != second.edges
    assert first.describes_same(second)
    assert first.to_dict() == second.to_dict()
    registry = WorkflowRegistry()
    assert registry.register_definition(first) is first
    assert registry.register_definition(second) is first


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def one_step(result: Any) -> WorkflowDefinition:
    return WorkflowDefinition(name="result", steps=[Fn("produce", lambda _: result)], initial_step="produce")


async def test_a_result_is_stored_as_json_and_apart_from_the_object_returned() -> None:
    returned = {"text": "é", "count": 3, "ok": True, "none": None, "ratio": 0.5}
    engine = LocalExecutionEngine(WorkflowRegistry())
    instance = await engine.start_workflow(one_step(returned))
    await engine.wait(instance.id, until=FINISHED)
    assert instance.status is WorkflowStatus.COMPLETED
    stored = instance.step_history[0].result
    assert stored == {"text": "é", "count": 3, "ok": True, "none": None, "ratio": 0.5}
    returned["count"] = 4
    assert stored["count"] == 3


async def test_a_result_holding_nan_fails_the_step_instead_of_storing_null() -> None:
    engine = LocalExecutionEngine(WorkflowRegistry())
    instance = await engine.start_workflow(one_step({"none": None, "nan": math.nan}))
    await engine.wait(instance.id, until=FINISHED)
    assert instance.status is WorkflowStatus.FAILED
    assert "the result of step 'produce'['nan'] is nan, which has no JSON form" in (instance.error or "")


@pytest.mark.parametrize(
    ("result", "named"),
    [
        ({"when": object()}, "is not JSON-serializable"),
        ({1: "a"}, "non-string key"),
        ({"big": 2**70}, "is not JSON-serializable"),
        ({"text": "\ud800"}, "is not JSON-serializable"),
        ({"deep": nested(70)}, "levels deep"),
    ],
)
async def test_a_result_that_is_not_json_fails_the_step_naming_it(result: Any, named: str) -> None:
    engine = LocalExecutionEngine(WorkflowRegistry())
    instance = await engine.start_workflow(one_step(result))
    await engine.wait(instance.id, until=FINISHED)
    assert instance.status is WorkflowStatus.FAILED
    assert "the result of step 'produce'" in (instance.error or "")
    assert named in (instance.error or "")
    assert "ContextSerializationError" in (instance.error or "")


async def test_changes_to_wide_context_data_are_recorded_key_by_key() -> None:
    """Data of many scalar keys: only what the step set or deleted is its change set."""

    def edit(context: WorkflowContext) -> None:
        context.set("k3", "changed")
        context.set("new", [1, 2])
        del context.data["k7"]

    definition = WorkflowDefinition(
        name="wide",
        steps=[Fn("edit", edit), Fn("read", lambda ctx: sorted(ctx.data))],
        edges=[Edge("edit", "read")],
        initial_step="edit",
    )
    data = {f"k{i}": i for i in range(40)}
    engine = LocalExecutionEngine(WorkflowRegistry())
    instance = await engine.start_workflow(definition, data)
    await engine.wait(instance.id, until=FINISHED)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.step_history[0].context_changes == {
        "set": {"k3": "changed", "new": [1, 2]},
        "deleted": ["k7"],
    }
    assert instance.data["k3"] == "changed"
    assert "k7" not in instance.data
    assert data["k3"] == 3  # the caller's dict is not the instance's


async def test_a_non_json_value_written_to_wide_context_data_names_the_key() -> None:
    definition = WorkflowDefinition(
        name="wide_bad", steps=[Fn("store", lambda ctx: ctx.set("handle", object()))], initial_step="store"
    )
    engine = LocalExecutionEngine(WorkflowRegistry())
    instance = await engine.start_workflow(definition, {f"k{i}": i for i in range(40)})
    await engine.wait(instance.id, until=FINISHED)
    assert instance.status is WorkflowStatus.FAILED
    assert "step 'store' context key 'handle'" in (instance.error or "")
    assert "handle" not in instance.data
