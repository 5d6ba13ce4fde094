"""Eagerly started tasks: run at once, behave as ordinary tasks afterwards (3.11 and 3.12+)."""

from __future__ import annotations

import asyncio
import collections
import contextvars
import sys

import pytest

from litestar_workflows.engine.eager import start_eager

marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="unset")


async def test_runs_before_returning_and_is_its_own_current_task() -> None:
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


async def test_a_suspending_task_continues_on_the_loop() -> None:
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


async def test_a_timeout_inside_cancels_the_branch_not_the_caller() -> None:
    """``asyncio.timeout`` binds to the current task: it must be the branch's own."""

    async def branch() -> str:
        try:
            async with asyncio.timeout(0):
                await asyncio.Event().wait()
        except TimeoutError:
            return "timed out"
        return "not reached"

    task = start_eager(branch())
    assert await task == "timed out"
    await asyncio.sleep(0)  # the caller was not cancelled: it goes on running


async def test_an_error_stays_in_the_task() -> None:
    async def branch() -> None:
        raise ValueError("boom")

    task = start_eager(branch())
    with pytest.raises(ValueError, match="boom"):
        await task


async def test_cancelling_a_suspended_eager_task() -> None:
    async def branch() -> None:
        await asyncio.Event().wait()

    task = start_eager(branch())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_runs_in_a_copy_of_the_callers_context() -> None:
    marker.set("caller")

    async def branch() -> str:
        value = marker.get()
        marker.set("branch")
        return value

    task = start_eager(branch())
    assert await task == "caller"
    assert marker.get() == "caller"


def test_started_from_a_loop_callback() -> None:
    """Outside any task (a timer firing, say) the task runs at once as well."""
    seen: list[object] = []

    async def branch() -> str:
        seen.append(asyncio.current_task())
        return "ran"

    def callback(started: asyncio.Future[tuple[asyncio.Task[str], bool, object]]) -> None:
        task = start_eager(branch())
        started.set_result((task, task.done(), asyncio.current_task()))

    async def main() -> str:
        loop = asyncio.get_running_loop()
        started: asyncio.Future[tuple[asyncio.Task[str], bool, object]] = loop.create_future()
        loop.call_soon(callback, started)
        task, done_at_once, current_after = await started
        assert done_at_once
        assert current_after is None
        assert seen == [task]
        return await task

    assert asyncio.run(main()) == "ran"


def test_with_a_custom_task_factory_the_task_still_runs() -> None:
    """Tasks made by a custom task factory start and finish too."""

    class OwnTask(asyncio.Task[str]):
        pass

    def factory(loop: asyncio.AbstractEventLoop, coro, **kwargs):  # type: ignore[no-untyped-def]
        return OwnTask(coro, loop=loop, **kwargs)

    async def branch() -> str:
        return "ran"

    async def main() -> str:
        asyncio.get_running_loop().set_task_factory(factory)
        task = start_eager(branch())
        return await task

    assert asyncio.run(main()) == "ran"


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="3.12+ starts tasks eagerly itself")
async def test_a_callback_queued_by_another_thread_meanwhile_is_kept() -> None:
    """Between looking at the ready queue and taking the task's step off it, another thread may
    queue a callback: that callback must run once, in order, and the task must still run."""
    loop = asyncio.get_running_loop()
    foreign_calls: list[str] = []
    foreign = asyncio.Handle(foreign_calls.append, ("foreign",), loop)

    class RacingQueue(collections.deque):  # type: ignore[type-arg]
        raced = False

        def pop(self) -> object:
            if not self.raced:  # what call_soon_threadsafe from another thread would do here
                self.raced = True
                self.append(foreign)
            return super().pop()

    async def branch() -> str:
        return "ran"

    original = loop._ready  # type: ignore[attr-defined]
    loop._ready = RacingQueue(original)  # type: ignore[attr-defined]
    try:
        task = start_eager(branch())
        assert not task.done()  # fell back to an ordinary start
        assert loop._ready[-1] is foreign  # type: ignore[attr-defined]
    finally:
        loop._ready = collections.deque(loop._ready)  # type: ignore[attr-defined]
    assert await task == "ran"
    assert foreign_calls == ["foreign"]
