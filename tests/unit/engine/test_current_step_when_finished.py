"""``current_step`` says where an instance is: nowhere once it completed, the failed step once it failed."""

from __future__ import annotations

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn


def _boom(_context: object) -> None:
    raise RuntimeError("no")


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(name="two", steps=[Fn("a"), Fn("b")], edges=[Edge("a", "b")], initial_step="a")
    )
    reg.register(WorkflowDefinition(name="only", steps=[Fn("only")], edges=[], initial_step="only"))
    reg.register(
        WorkflowDefinition(
            name="fails", steps=[Fn("a"), Fn("b", _boom)], edges=[Edge("a", "b")], initial_step="a"
        )
    )
    reg.register(
        WorkflowDefinition(
            name="asks",
            steps=[Fn("a"), BaseHumanStep("approve", title="Approve"), Fn("b")],
            edges=[Edge("a", "approve"), Edge("approve", "b")],
            initial_step="a",
        )
    )
    return reg


async def test_a_completed_instance_has_no_current_step() -> None:
    async with LocalExecutionEngine(registry()) as engine:
        for name in ("two", "only"):
            done = await engine.wait((await engine.start_workflow(name, {})).id, until=FINISHED, timeout=10)
            assert (done.status, done.current_step) == (WorkflowStatus.COMPLETED, None)


async def test_a_failed_instance_keeps_the_step_that_failed() -> None:
    async with LocalExecutionEngine(registry()) as engine:
        failed = await engine.wait((await engine.start_workflow("fails", {})).id, until=FINISHED, timeout=10)
        assert (failed.status, failed.current_step) == (WorkflowStatus.FAILED, "b")


async def test_a_waiting_instance_is_at_its_task_and_none_once_it_completes() -> None:
    async with LocalExecutionEngine(registry()) as engine:
        started = await engine.start_workflow("asks", {})
        waiting = await engine.wait(started.id, timeout=10)
        assert (waiting.status, waiting.current_step) == (WorkflowStatus.WAITING, "approve")
        await engine.complete_human_task(started.id, "approve", "ann", {})
        done = await engine.wait(started.id, until=FINISHED, timeout=10)
        assert (done.status, done.current_step) == (WorkflowStatus.COMPLETED, None)
