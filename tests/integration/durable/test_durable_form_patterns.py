"""Form and payload schemas: their regular expressions cannot stall the engine, on every store.

``^(a+)+$`` against ``"a" * 100 + "!"`` makes a backtracking engine try about 2**100 paths: before
form patterns ran on RE2 these tests never finished (pytest's timeout ends them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    TaskValidationError,
    WebhookStep,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from litestar_workflows.runtime import human
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase
    from litestar_workflows import LocalExecutionEngine

EVIL = "^(a+)+$"
EVIL_INPUT = "a" * 100 + "!"
TIMEOUT = 10.0


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


@pytest.fixture
async def engine(database: ScratchDatabase | None) -> AsyncIterator[LocalExecutionEngine]:
    async with engine_for(database, WorkflowRegistry(), poll_interval=0.2) as started:
        yield started


def form_workflow() -> WorkflowDefinition:
    schema = {
        "type": "object",
        "properties": {"code": {"type": "string", "pattern": EVIL}},
        "patternProperties": {"^(x+)+y$": {"type": "integer"}},
        "additionalProperties": False,
        "required": ["code"],
    }
    return WorkflowDefinition(
        name="evil_forms",
        steps=[
            BaseHumanStep("form", form_schema=schema),
            WebhookStep("hook", payload_schema={"type": "object", "properties": {"ref": {"pattern": EVIL}}}),
            Fn("done"),
        ],
        edges=[Edge("form", "hook"), Edge("hook", "done")],
        initial_step="form",
    )


async def test_catastrophic_patterns_answer_at_once_and_change_nothing(engine: LocalExecutionEngine) -> None:
    instance = await engine.start_workflow(form_workflow())
    await engine.wait(instance.id, timeout=TIMEOUT)
    before = (await stored(engine, instance.id)).version

    with pytest.raises(TaskValidationError) as rejected:
        await engine.complete_human_task(instance.id, "form", "ann", {"code": EVIL_INPUT})
    assert rejected.value.errors == [f"code: {EVIL_INPUT!r} does not match {EVIL!r}"]
    # patternProperties and additionalProperties go through the same engine.
    with pytest.raises(TaskValidationError) as rejected:
        await engine.complete_human_task(instance.id, "form", "ann", {"code": "aaa", "x" * 100 + "z": 1})
    assert "does not match any of the regexes" in rejected.value.errors[0]
    with pytest.raises(TaskValidationError) as rejected:
        await engine.complete_human_task(instance.id, "form", "ann", {"code": "aaa", "xxy": "one"})
    assert rejected.value.errors == ["xxy: 'one' is not of type 'integer'"]
    assert (await stored(engine, instance.id)).version == before

    await engine.complete_human_task(instance.id, "form", "ann", {"code": "a" * 100, "xxy": 2})
    await engine.wait(instance.id, until=WorkflowStatus.WAITING, timeout=TIMEOUT)
    await engine.wait(instance.id, timeout=TIMEOUT)
    with pytest.raises(TaskValidationError, match="does not match"):
        await engine.deliver_webhook(instance.id, "hook", {"ref": EVIL_INPUT})
    await engine.deliver_webhook(instance.id, "hook", {"ref": "aaaa"})
    await engine.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
    done = await stored(engine, instance.id)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data["code"] == "a" * 100


async def test_a_rejected_submission_is_validated_once(
    engine: LocalExecutionEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A durable engine checks a cached idle copy, and on refusal checks again on a fresh load:
    the form itself must not be validated twice for that."""
    instance = await engine.start_workflow(form_workflow())
    await engine.wait(instance.id, timeout=TIMEOUT)
    calls: list[Any] = []
    real = human.validate_form_data

    def counting(schema: Any, data: Any, where: str) -> None:
        calls.append(data)
        real(schema, data, where)

    monkeypatch.setattr(human, "validate_form_data", counting)
    from litestar_workflows.engine import tasks

    monkeypatch.setattr(tasks, "validate_form_data", counting, raising=False)
    with pytest.raises(TaskValidationError):
        await engine.complete_human_task(instance.id, "form", "ann", {"code": "b"})
    assert len(calls) == 1


def test_a_pattern_the_safe_engine_cannot_run_is_rejected_with_the_definition() -> None:
    lookahead = WorkflowDefinition(
        name="lookahead",
        steps=[
            BaseHumanStep("ask", form_schema={"properties": {"pin": {"pattern": "^(?=.*\\d)\\w+$"}}}),
            WebhookStep("hook", payload_schema={"patternProperties": {"(a)\\1": {}}}),
        ],
        edges=[Edge("ask", "hook")],
        initial_step="ask",
    )
    with pytest.raises(WorkflowValidationError) as rejected:
        WorkflowRegistry().register_definition(lookahead)
    first, second = rejected.value.errors
    assert first.startswith(
        "step 'ask' has an invalid form schema: pattern '^(?=.*\\\\d)\\\\w+$' cannot be used"
    )
    assert "RE2" in first
    assert second.startswith("step 'hook' has an invalid form schema: pattern '(a)\\\\1' cannot be used")


def test_unevaluated_properties_with_pattern_properties_is_rejected() -> None:
    schema = {"patternProperties": {"^a": {}}, "allOf": [{"unevaluatedProperties": False}]}
    with pytest.raises(WorkflowValidationError, match="unevaluatedProperties cannot be combined"):
        WorkflowRegistry().register_definition(
            WorkflowDefinition(
                name="uneval", steps=[BaseHumanStep("ask", form_schema=schema)], initial_step="ask"
            )
        )
    # Each alone is fine, and a property merely named like a keyword is not the keyword.
    WorkflowRegistry().register_definition(
        WorkflowDefinition(
            name="uneval_ok",
            steps=[
                BaseHumanStep(
                    "ask",
                    form_schema={"properties": {"patternProperties": {}}, "unevaluatedProperties": False},
                )
            ],
            initial_step="ask",
        )
    )
