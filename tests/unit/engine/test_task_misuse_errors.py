"""Completing a task that is not there: errors say where the instance waits, and are ``ValueError``s.

The reference's engines raised ``ValueError`` ("... is not waiting (status: ...)", "... is waiting
at step 'a', not 'b'") for this misuse; ours keep their own classes and add that base and wording.
"""

from __future__ import annotations

import pytest

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.errors import (
    InvalidTransitionError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
)
from step_kit import FINISHED, Fn


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="asks",
            steps=[Fn("a"), BaseHumanStep("approve", title="Approve"), Fn("b")],
            edges=[Edge("a", "approve"), Edge("approve", "b")],
            initial_step="a",
        )
    )
    return reg


async def test_misuse_while_waiting_names_the_step_it_waits_at() -> None:
    async with LocalExecutionEngine(registry()) as engine:
        instance = await engine.wait((await engine.start_workflow("asks", {})).id, timeout=10)
        assert instance.status is WorkflowStatus.WAITING
        with pytest.raises(TaskNotFoundError, match="has no step 'nope'") as unknown:
            await engine.complete_human_task(instance.id, "nope", "ann", {})
        assert isinstance(unknown.value, KeyError)
        assert isinstance(unknown.value, ValueError)
        assert f"instance {instance.id} is waiting at step 'approve', not 'nope'" in str(unknown.value)
        with pytest.raises(InvalidTransitionError, match="step 'a' is not a human task") as machine:
            await engine.complete_human_task(instance.id, "a", "ann", {})
        assert isinstance(machine.value, ValueError)
        assert "waiting at step 'approve', not 'a'" in str(machine.value)
        assert (await engine.get_instance(instance.id)).status is WorkflowStatus.WAITING  # untouched


async def test_misuse_of_a_finished_instance_says_it_is_not_waiting() -> None:
    async with LocalExecutionEngine(registry()) as engine:
        started = await engine.start_workflow("asks", {})
        await engine.wait(started.id, timeout=10)
        await engine.complete_human_task(started.id, "approve", "ann", {})
        done = await engine.wait(started.id, until=FINISHED, timeout=10)
        assert done.status is WorkflowStatus.COMPLETED
        with pytest.raises(InvalidTransitionError, match=r"is not waiting \(status: completed\)"):
            await engine.complete_human_task(started.id, "a", "ann", {})
        with pytest.raises(TaskAlreadyCompletedError):  # the task itself: completed already (409)
            await engine.complete_human_task(started.id, "approve", "ann", {})
