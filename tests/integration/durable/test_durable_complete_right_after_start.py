"""A task completed right after ``start_workflow`` returns, before the engine got its task up.

On a database, ``start_workflow`` returns once the start is durable; the first step's outcome and
the human step it leads to are committed after it, so the task exists a few commits later. The
documented quick start completes the task at once, and that must work on every engine of one
process, not only when the database is fast. Real SQLite files and PostgreSQL schemas; gates
(``asyncio.Event``) stand for a step hook's I/O, so nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import running_engine
from sqlalchemy.ext.asyncio import async_sessionmaker

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    InvalidTransitionError,
    LocalExecutionEngine,
    StepStatus,
    TaskAlreadyCompletedError,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db import PersistentExecutionEngine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

FORM = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}


class Submit(BaseMachineStep):
    name = "submit"

    def __init__(self, gate: asyncio.Event | None = None) -> None:
        super().__init__()
        self.gate = gate

    async def execute(self, context: WorkflowContext) -> None:
        if self.gate is not None:
            await self.gate.wait()  # the step's I/O
        context.set("submitted", True)


class Review(BaseHumanStep):
    name = "review"
    title = "Review the request"
    form_schema = FORM

    def __init__(self, gate: asyncio.Event | None = None, *, fail: bool = False) -> None:
        super().__init__()
        self.gate = gate
        self.fail = fail

    async def get_assignee(self, context: WorkflowContext) -> str:
        if self.gate is not None:
            await self.gate.wait()  # looking the reviewer up in a directory, say
        if self.fail:
            raise LookupError("no reviewer for this team")
        return "ann"


class Archive(BaseMachineStep):
    name = "archive"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("archived", True)


def request_workflow(submit: Submit, review: Review) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="request",
            steps=[submit, review, Archive()],
            edges=[Edge("submit", "review"), Edge("review", "archive")],
            initial_step="submit",
        )
    )
    return registry


@contextlib.asynccontextmanager
async def engine_for(db: ScratchDatabase | None, registry: WorkflowRegistry) -> AsyncIterator[Any]:
    """The engine a user builds: in memory (``db`` None), else a started one on the migrated ``db``."""
    if db is None:
        async with LocalExecutionEngine(registry) as engine:
            yield engine
        return
    await db.migrate()
    async with running_engine(db, registry) as engine:
        yield engine


async def next_turns(count: int = 20) -> None:
    """Let the event loop run what is due (engine work that needs no I/O of the test's)."""
    for _ in range(count):
        await asyncio.sleep(0)


async def test_the_quick_start_completes_the_task_right_after_the_start(
    scratch_database: ScratchDatabase,
) -> None:
    """On an engine built as the guides build it (never ``start()``-ed), and on a started one."""
    await scratch_database.migrate()
    registry = request_workflow(Submit(), Review())
    db_engine = scratch_database.create_engine()  # the test's schema, on PostgreSQL
    unstarted = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine))
    try:
        async with running_engine(scratch_database, registry) as started:
            for engine in (unstarted, started):
                for _ in range(3):
                    instance = await engine.start_workflow("request", {"title": "laptop"})
                    done = await engine.complete_human_task(instance.id, "review", "ann", {"score": 90})
                    assert done.id == instance.id
                    finished = await engine.wait(instance.id, timeout=30)
                    assert finished.status is WorkflowStatus.COMPLETED
                    data = {"title": "laptop", "submitted": True, "score": 90, "archived": True}
                    assert finished.data == data
                    stored = await engine.store.load_instance(instance.id)
                    assert [(run.step_name, run.status) for run in stored.step_history] == [
                        ("submit", StepStatus.SUCCEEDED),
                        ("review", StepStatus.SUCCEEDED),
                        ("archive", StepStatus.SUCCEEDED),
                    ]
                    [task] = (await engine.find_tasks(instance_id=instance.id)).items
                    assert (task.completed_by, task.data) == ("ann", {"score": 90})
    finally:
        await unstarted.stop()
        await db_engine.dispose()


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_completion_waits_for_the_task_whose_hook_is_still_at_work(
    kind: str, scratch_sqlite: ScratchDatabase
) -> None:
    gate = asyncio.Event()
    registry = request_workflow(Submit(), Review(gate))
    async with engine_for(None if kind == "memory" else scratch_sqlite, registry) as engine:
        instance = await engine.start_workflow("request", {"title": "laptop"})
        completing = asyncio.create_task(
            engine.complete_human_task(instance.id, "review", "ann", {"score": 7})
        )
        await next_turns()
        assert not completing.done()  # it waits for the task rather than refusing
        assert (await engine.get_instance(instance.id)).status is WorkflowStatus.RUNNING
        gate.set()
        await completing
        finished = await engine.wait(instance.id, timeout=30)
        assert (finished.status, finished.data["score"]) == (WorkflowStatus.COMPLETED, 7)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_step_not_reached_yet_is_refused_at_once(kind: str, scratch_sqlite: ScratchDatabase) -> None:
    """Only a task on its way is waited for: a step still ahead of the instance is refused."""
    gate = asyncio.Event()
    registry = request_workflow(Submit(gate), Review())
    async with engine_for(None if kind == "memory" else scratch_sqlite, registry) as engine:
        instance = await engine.start_workflow("request", {"title": "laptop"})
        async with asyncio.timeout(10):  # a guard: waiting for the submit step would hang here
            with pytest.raises(InvalidTransitionError, match="not waiting"):
                await engine.complete_human_task(instance.id, "review", "ann", {"score": 7})
        gate.set()
        waiting = await engine.wait(instance.id, timeout=30)
        assert (waiting.status, waiting.current_step) == (WorkflowStatus.WAITING, "review")


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
async def test_a_waiting_completion_learns_that_the_task_never_came(
    kind: str, scratch_sqlite: ScratchDatabase
) -> None:
    gate = asyncio.Event()
    registry = request_workflow(Submit(), Review(gate, fail=True))
    async with engine_for(None if kind == "memory" else scratch_sqlite, registry) as engine:
        instance = await engine.start_workflow("request", {"title": "laptop"})
        completing = asyncio.create_task(
            engine.complete_human_task(instance.id, "review", "ann", {"score": 7})
        )
        await next_turns()
        assert not completing.done()
        gate.set()
        async with asyncio.timeout(10):  # a guard: the failure must wake the waiting completion
            with pytest.raises(InvalidTransitionError, match="failed"):
                await completing
        failed = await engine.wait(instance.id, timeout=30)
        assert failed.status is WorkflowStatus.FAILED
        assert "no reviewer for this team" in (failed.error or "")


class Check(BaseMachineStep):
    name = "check"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("checked", True)


@pytest.mark.parametrize("steps_before", [2, 4])
async def test_a_chain_of_steps_before_the_task_is_waited_for_too(
    steps_before: int, scratch_database: ScratchDatabase
) -> None:
    """Each step of the chain runs after the commit of the one before: only commits hold it up."""
    chain: list[BaseMachineStep] = [Submit()]
    for number in range(1, steps_before):
        step = Check()
        step.name = f"check{number}"
        chain.append(step)
    names = [step.name for step in chain]
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="chain",
            steps=[*chain, Review(), Archive()],
            edges=[
                Edge(a, b) for a, b in zip([*names, "review"], [*names[1:], "review", "archive"], strict=True)
            ],
            initial_step="submit",
        )
    )
    async with engine_for(scratch_database, registry) as engine:
        for _ in range(3):
            instance = await engine.start_workflow("chain", {"title": "laptop"})
            async with asyncio.timeout(30):  # a guard: the completion must end either way
                done = await engine.complete_human_task(instance.id, "review", "ann", {"score": 5})
            assert done.id == instance.id
            finished = await engine.wait(instance.id, timeout=30)
            assert (finished.status, finished.data["score"], finished.data["archived"]) == (
                WorkflowStatus.COMPLETED,
                5,
                True,
            )


class Revise(BaseMachineStep):
    name = "revise"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("rounds", context.get("rounds", 0) + 1)


async def test_a_completion_repeated_in_a_loop_is_refused_not_given_the_next_round(
    scratch_database: ScratchDatabase,
) -> None:
    """The step after the task commits while the repeat arrives: waiting would complete round two."""
    registry = WorkflowRegistry()
    again = "context.get('changes') == True and context.get('rounds') < 3"
    registry.register_definition(
        WorkflowDefinition(
            name="loop",
            steps=[BaseHumanStep("review"), Revise(), Archive()],
            edges=[
                Edge("review", "revise"),
                Edge("revise", "review", again),
                Edge("revise", "archive", f"not ({again})"),
            ],
            initial_step="review",
        )
    )
    async with engine_for(scratch_database, registry) as engine:
        instance = await engine.start_workflow("loop", {})
        await engine.wait(instance.id, timeout=30)

        async def submit() -> str:
            try:
                await engine.complete_human_task(instance.id, "review", "ann", {"changes": True})
            except TaskAlreadyCompletedError:
                return "refused"
            return "accepted"

        async with asyncio.timeout(30):
            results = await asyncio.gather(submit(), submit())
        assert sorted(results) == ["accepted", "refused"]
        waiting = await engine.wait(instance.id, timeout=30)
        assert (waiting.current_step, waiting.data["rounds"]) == ("review", 1)
        done = [
            task for task in (await engine.find_tasks(instance_id=instance.id)).items if task.completed_by
        ]
        assert len(done) == 1
