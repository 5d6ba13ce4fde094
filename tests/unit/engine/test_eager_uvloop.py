"""Eager starts on uvloop (which uvicorn picks when installed): the engine's promises hold there too."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.engine.eager import start_eager

uvloop = pytest.importorskip("uvloop")


def on_uvloop(test: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``test`` on a new uvloop event loop (and check that it is one)."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
        return runner.run(test())


def test_a_task_runs_before_start_eager_returns_as_its_own_current_task() -> None:
    async def scenario() -> None:
        caller = asyncio.current_task()
        seen: list[object] = []

        async def branch() -> str:
            seen.append(asyncio.current_task())
            return "done"

        task = start_eager(branch())
        assert task.done()
        assert task.result() == "done"
        assert seen == [task]
        assert asyncio.current_task() is caller

    on_uvloop(scenario)


def test_a_suspended_task_continues_on_the_loop_and_can_be_awaited_and_canceled() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()
        steps: list[str] = []

        async def branch() -> int:
            steps.append("before")
            await gate.wait()
            steps.append("after")
            return 7

        task = start_eager(branch())
        assert steps == ["before"]
        assert not task.done()
        gate.set()
        assert await task == 7
        assert steps == ["before", "after"]

        stuck = start_eager(asyncio.Event().wait())
        stuck.cancel()
        with pytest.raises(asyncio.CancelledError):
            await stuck
        assert asyncio.all_tasks() == {asyncio.current_task()}

    on_uvloop(scenario)


def test_a_timeout_inside_the_task_cancels_the_task_not_the_caller() -> None:
    async def scenario() -> None:
        async def branch() -> str:
            try:
                async with asyncio.timeout(0):
                    await asyncio.Event().wait()
            except TimeoutError:
                return "timed out"
            return "not reached"

        task = start_eager(branch())
        assert await task == "timed out"
        await asyncio.sleep(0)  # the caller was not canceled along with it

    on_uvloop(scenario)


class Submit(BaseMachineStep):
    async def execute(self, context):
        context.set("submitted", True)


class Review(BaseHumanStep):
    title = "Review"
    assignee = "ann"


class Publish(BaseMachineStep):
    async def execute(self, context):
        context.set("published", True)


def test_start_and_complete_return_with_the_released_steps_done() -> None:
    """The documented quick start, on uvloop: no wait() between the calls."""

    async def scenario() -> None:
        registry = WorkflowRegistry()
        registry.register(
            WorkflowDefinition(
                name="article",
                steps={"submit": Submit("submit"), "review": Review("review"), "publish": Publish("publish")},
                edges=[Edge("submit", "review"), Edge("review", "publish")],
                initial_step="submit",
            )
        )
        engine = LocalExecutionEngine(registry)
        instance = await engine.start_workflow("article")
        assert (instance.status, instance.current_step) == (WorkflowStatus.WAITING, "review")
        done = await engine.complete_human_task(instance.id, "review", "ann", {})
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data == {"submitted": True, "published": True}

    on_uvloop(scenario)
