"""Registering a definition again under its name and version: same behaviour is a no-op, other is refused.

The documented setup registers ``X.get_definition()`` and then the class ``X``, which builds new
step objects; that must stay a no-op. A definition whose steps are configured differently (a
timer's duration, a task's form, assignee or group, retry and timeout, webhook settings) or whose
input schema, edges or conditions differ would run differently: the registry refuses it instead
of silently keeping the old one, and says what differs.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

import pytest

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    TimerStep,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowValidationError,
)
from litestar_workflows.steps.retry import RetryPolicy
from litestar_workflows.steps.webhook import WebhookStep

FORM = {"type": "object", "properties": {"approved": {"type": "boolean"}}, "required": ["approved"]}


class Submit(BaseMachineStep):
    name = "submit"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        return {"submitted": True}


def build(**changes: Any) -> WorkflowDefinition:
    """submit -> review (human) -> pause (timer) -> callback (webhook); ``changes`` alter one setting."""
    review = BaseHumanStep(
        "review",
        title="Review",
        form_schema=changes.pop("form_schema", FORM),
        assignee_group=changes.pop("assignee_group", "reviewers"),
        assignee=changes.pop("assignee", None),
        retry_policy=changes.pop("retry_policy", RetryPolicy(max_attempts=2)),
        timeout=changes.pop("timeout", 30.0),
    )
    callback = WebhookStep(
        "callback",
        callback_key=changes.pop("callback_key", "payment"),
        secret=changes.pop("secret", "s3cret"),
    )
    pause = TimerStep("pause", changes.pop("duration", timedelta(minutes=5)))
    condition = changes.pop("condition", "context.get('approved')")
    definition = WorkflowDefinition(
        name="review",
        version="1.0.0",
        steps={"submit": Submit(), "review": review, "pause": pause, "callback": callback},
        edges=[
            Edge("submit", "review"),
            Edge("review", "pause", condition),
            Edge("pause", "callback"),
        ],
        initial_step="submit",
        terminal_steps={"callback"},
        input_schema=changes.pop("input_schema", {"type": "object"}),
    )
    assert not changes, f"unknown setting {changes}"
    return definition


def test_two_separately_built_equal_definitions_are_the_same() -> None:
    first, second = build(), build()
    assert first.describes_same(second)
    assert first.difference_from(second) is None
    registry = WorkflowRegistry()
    registered = registry.register_definition(first)
    assert registry.register_definition(second) is registered


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("duration", timedelta(minutes=10), "step 'pause': duration differs"),
        ("duration", 300.0, "step 'pause': duration differs"),
        ("form_schema", {**FORM, "required": []}, "step 'review': form_schema differs"),
        ("assignee_group", "auditors", "step 'review': assignee_group differs"),
        ("assignee", "maria", "step 'review': assignee differs"),
        ("retry_policy", RetryPolicy(max_attempts=5), "step 'review': retry_policy differs"),
        ("timeout", 60.0, "step 'review': timeout differs"),
        ("callback_key", "receipt", "step 'callback': payload_key differs"),
        ("secret", "rotated", "step 'callback': secret differs"),
        ("input_schema", {"type": "object", "required": ["amount"]}, "input_schema differs"),
        ("condition", "not approved", "the condition of edge 'review' -> 'pause' differs"),
    ],
)
def test_a_definition_configured_differently_is_refused_naming_the_difference(
    setting: str, value: Any, named: str
) -> None:
    registry = WorkflowRegistry()
    registered = registry.register_definition(build())
    changed = build(**{setting: value})
    assert not registered.describes_same(changed)
    with pytest.raises(WorkflowValidationError, match="already registered") as refused:
        registry.register_definition(changed)
    assert named in str(refused.value)
    assert registry.get_definition("review", "1.0.0") is registered


def test_callables_made_afresh_from_the_same_code_are_the_same_but_other_values_are_not() -> None:
    def timer(minutes: int) -> TimerStep:
        return TimerStep("pause", lambda context: timedelta(minutes=minutes))

    def condition(limit: int) -> Any:
        return lambda context: context.get("amount", 0) > limit

    def definition(minutes: int, limit: int) -> WorkflowDefinition:
        return WorkflowDefinition(
            name="wait",
            steps={"submit": Submit(), "pause": timer(minutes)},
            edges=[Edge("submit", "pause", condition(limit))],
            initial_step="submit",
        )

    assert definition(5, 100).describes_same(definition(5, 100))
    assert "step 'pause': duration differs" in (definition(5, 100).difference_from(definition(9, 100)) or "")
    assert "condition of edge 'submit' -> 'pause'" in (
        definition(5, 100).difference_from(definition(5, 1)) or ""
    )


class ApprovalWorkflow:
    """The guides' workflow class: ``get_definition()`` builds new step objects on every call."""

    __workflow_name__ = "approval"
    __workflow_version__ = "1.0.0"
    delay: ClassVar[timedelta] = timedelta(hours=1)
    form: ClassVar[dict[str, Any]] = FORM

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        class Review(BaseHumanStep):  # a class made afresh each call, as a closure would
            name = "review"
            title = "Review"
            form_schema = cls.form

        return WorkflowDefinition(
            name=cls.__workflow_name__,
            version=cls.__workflow_version__,
            steps={"submit": Submit(), "review": Review(), "pause": TimerStep("pause", cls.delay)},
            edges=[Edge("submit", "review"), Edge("review", "pause")],
            initial_step="submit",
            terminal_steps={"pause"},
        )


def test_the_guides_pattern_registers_once_and_a_changed_class_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = WorkflowRegistry()
    first = registry.register_definition(ApprovalWorkflow.get_definition())
    assert registry.register_workflow_class(ApprovalWorkflow) is first

    monkeypatch.setattr(ApprovalWorkflow, "delay", timedelta(hours=2))
    with pytest.raises(WorkflowValidationError, match="step 'pause': duration differs"):
        registry.register_workflow_class(ApprovalWorkflow)
    monkeypatch.setattr(ApprovalWorkflow, "delay", timedelta(hours=1))
    monkeypatch.setattr(ApprovalWorkflow, "form", {"type": "object"})
    with pytest.raises(WorkflowValidationError, match="step 'review': form_schema differs"):
        registry.register_workflow_class(ApprovalWorkflow)


async def test_a_start_by_class_whose_timer_changed_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = WorkflowRegistry()
    registry.register_workflow_class(ApprovalWorkflow)
    engine = LocalExecutionEngine(registry)
    monkeypatch.setattr(ApprovalWorkflow, "delay", timedelta(seconds=1))
    with pytest.raises(WorkflowValidationError, match="step 'pause': duration differs"):
        await engine.start_workflow(ApprovalWorkflow, {})
    assert engine.get_all_instances() == []
