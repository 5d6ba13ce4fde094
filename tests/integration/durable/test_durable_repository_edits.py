"""The persistence guide's repository writes edit rows only; the engine then says what happened.

``HumanTaskRepository.complete_task`` / ``cancel_task`` and ``WorkflowInstanceRepository.update_status``
are direct row edits (for tools and repairs). An instance they leave behind must not be moved on
silently (a task completed into a failed instance) and must get errors naming the cause, not
"is not waiting" about an instance that reads as waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    InvalidTransitionError,
    WorkflowAlreadyCompletedError,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db import HumanTaskRepository, PersistentExecutionEngine, WorkflowInstanceRepository

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext


class Submit(BaseMachineStep):
    name = "submit"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("submitted", True)


def registry() -> WorkflowRegistry:
    found = WorkflowRegistry()
    found.register_definition(
        WorkflowDefinition(
            name="approval",
            version="1.0.0",
            steps={"submit": Submit(), "approve": BaseHumanStep("approve", title="Approve")},
            edges=[Edge("submit", "approve")],
            initial_step="submit",
            terminal_steps={"approve"},
        )
    )
    return found


@pytest.fixture
async def db_engine(scratch_sqlite: ScratchDatabase) -> AsyncIterator[AsyncEngine]:
    await scratch_sqlite.migrate()
    engine = scratch_sqlite.create_engine()
    yield engine
    await engine.dispose()


async def waiting_instances(db_engine: AsyncEngine, count: int) -> list[object]:
    engine = PersistentExecutionEngine(registry(), session_factory=async_sessionmaker(db_engine))
    async with engine:
        started = [await engine.start_workflow("approval", {}) for _ in range(count)]
        return [(await engine.wait(instance.id)).id for instance in started]


async def test_a_task_edited_by_the_repository_gets_an_error_naming_the_edit(db_engine: AsyncEngine) -> None:
    completed, canceled = await waiting_instances(db_engine, 2)
    sessions = async_sessionmaker(db_engine, expire_on_commit=False)
    async with sessions() as session:
        tasks = HumanTaskRepository(session)
        [first] = await tasks.find_by_instance(completed)
        [second] = await tasks.find_by_instance(canceled)
        await tasks.complete_task(first.id, completed_by="ann")
        await tasks.cancel_task(second.id)
        await session.commit()
    engine = PersistentExecutionEngine(registry(), session_factory=sessions)
    async with engine:
        for instance_id in (completed, canceled):
            with pytest.raises(InvalidTransitionError, match="completed or canceled outside the engine"):
                await engine.complete_human_task(instance_id, "approve", "ann", {})
            still = await engine.get_instance(instance_id)
            assert (still.status, still.current_step) == (WorkflowStatus.WAITING, "approve")
            canceled_now = await engine.cancel_workflow(instance_id, "stuck after a repository edit")
            assert canceled_now.status is WorkflowStatus.CANCELED


async def test_a_status_set_by_the_repository_is_respected_and_retry_says_what_is_missing(
    db_engine: AsyncEngine,
) -> None:
    [instance_id] = await waiting_instances(db_engine, 1)
    sessions = async_sessionmaker(db_engine, expire_on_commit=False)
    async with sessions() as session:
        await WorkflowInstanceRepository(session).update_status(
            instance_id=instance_id, status=WorkflowStatus.FAILED, error="External service unavailable"
        )
        await session.commit()
    engine = PersistentExecutionEngine(registry(), session_factory=sessions)
    async with engine:
        with pytest.raises(WorkflowAlreadyCompletedError, match="already failed"):
            await engine.complete_human_task(instance_id, "approve", "ann", {"ok": True})
        failed = await engine.get_instance(instance_id)
        assert failed.status is WorkflowStatus.FAILED
        assert [(run.step_name, str(run.status)) for run in failed.context.step_history][-1] == (
            "approve",
            "waiting",
        )
        assert "ok" not in failed.context.data
        with pytest.raises(InvalidTransitionError, match="no failed step is recorded"):
            await engine.retry(instance_id)
        await engine.retry(instance_id, from_step="approve")
        again = await engine.wait(instance_id)
        assert (again.status, again.current_step) == (WorkflowStatus.WAITING, "approve")
        await engine.complete_human_task(instance_id, "approve", "ann", {"ok": True})
        done = await engine.wait(instance_id)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.context.data["ok"] is True


def fan_out_registry() -> WorkflowRegistry:
    found = WorkflowRegistry()
    found.register_definition(
        WorkflowDefinition(
            name="fan_out",
            version="1.0.0",
            steps={
                "submit": Submit(),
                "a": BaseHumanStep("a", title="A"),
                "b": BaseHumanStep("b", title="B"),
                "done": Submit("done"),
            },
            edges=[Edge("submit", "a"), Edge("submit", "b"), Edge("a", "done"), Edge("b", "done")],
            initial_step="submit",
            terminal_steps={"done"},
        )
    )
    return found


async def fan_out_failed_by_a_tool(db_engine: AsyncEngine) -> tuple[Any, PersistentExecutionEngine]:
    """A fan-out waiting at both branches, marked failed by a tool; and a new engine (not started)."""
    sessions = async_sessionmaker(db_engine, expire_on_commit=False)
    engine = PersistentExecutionEngine(fan_out_registry(), session_factory=sessions)
    async with engine:
        started = await engine.start_workflow("fan_out", {})
        await engine.wait(started.id)
    async with sessions() as session:
        await WorkflowInstanceRepository(session).update_status(
            instance_id=started.id, status=WorkflowStatus.FAILED, error="marked failed by a tool"
        )
        await session.commit()
    return started, PersistentExecutionEngine(fan_out_registry(), session_factory=sessions)


async def test_a_retry_of_a_fan_out_failed_from_outside_restarts_every_branch(db_engine: AsyncEngine) -> None:
    """Retrying from one branch starts the other again too: the join still waits for both."""
    started, engine = await fan_out_failed_by_a_tool(db_engine)
    async with engine:
        await engine.retry(started.id, from_step="a")
        waiting = await engine.wait(started.id)
        assert sorted(run.step_name for run in waiting.runtime.active.values()) == ["a", "b"]
        await engine.complete_human_task(started.id, "a", "ann", {})
        assert (await engine.wait(started.id)).status is WorkflowStatus.WAITING  # b still to come
        await engine.complete_human_task(started.id, "b", "bob", {})
        done = await engine.wait(started.id)
        assert done.status is WorkflowStatus.COMPLETED
        assert [run.status for run in done.executions_of("done")] == ["succeeded"]


@pytest.mark.parametrize(("from_step", "again"), [("done", []), ("a", ["b"])])
async def test_a_retry_from_a_join_or_a_branch_does_not_run_what_leads_to_it_again(
    db_engine: AsyncEngine, from_step: str, again: list[str]
) -> None:
    """From the join: only the join runs. From one branch: the other branch runs, not this one's past."""
    started, engine = await fan_out_failed_by_a_tool(db_engine)
    async with engine:
        await engine.retry(started.id, from_step=from_step)
        now = await engine.wait(started.id)
        waiting = sorted(run.step_name for run in now.runtime.active.values())
        assert waiting == sorted({from_step, *again} - {"done"}), waiting
        for name in waiting:
            await engine.complete_human_task(started.id, name, "ann", {})
        done = await engine.wait(started.id)
        assert done.status is WorkflowStatus.COMPLETED
        assert len(done.executions_of("done")) == 1


async def test_an_engine_holding_the_instance_sees_a_repository_edit(db_engine: AsyncEngine) -> None:
    """The edits give the instance a new version: a running engine's copy is known stale, not served."""
    sessions = async_sessionmaker(db_engine, expire_on_commit=False)
    engine = PersistentExecutionEngine(registry(), session_factory=sessions)
    async with engine:
        failed = await engine.start_workflow("approval", {})
        edited = await engine.start_workflow("approval", {})
        for instance in (failed, edited):
            assert (await engine.wait(instance.id)).status is WorkflowStatus.WAITING  # cached here now
        async with sessions() as session:
            await WorkflowInstanceRepository(session).update_status(
                instance_id=failed.id, status=WorkflowStatus.FAILED, error="marked failed by a tool"
            )
            tasks = HumanTaskRepository(session)
            [task] = await tasks.find_by_instance(edited.id)
            await tasks.cancel_task(task.id)
            await session.commit()
        assert (await engine.get_instance(failed.id)).status is WorkflowStatus.FAILED
        with pytest.raises(InvalidTransitionError, match="completed or canceled outside the engine"):
            await engine.complete_human_task(edited.id, "approve", "ann", {})
