"""Start an asyncio task that runs at once, up to its first suspension.

Why the engine wants this: a step that fans out starts its parallel branches as tasks. A task
queued normally waits until the event loop has worked through everything queued before it, and
with thousands of instances fanning out in the same loop turn that is every other instance's
fork: tens of thousands of branch tasks (each a task, a coroutine with its frame, a context and a
loop handle) are alive at once. CPython's cyclic garbage collector scans the whole live heap on
its full collections, and on such a heap those scans cost more than the branches themselves.
Started eagerly, a branch that never suspends (most of them) finishes before its sibling starts,
and the heap stays as small as the number of branches actually waiting.

Python 3.12 offers this as ``Task(..., eager_start=True)``. On 3.11 the same thing is done by
hand: the task is created as usual, and the first step asyncio has just queued for it is taken
off the loop's ready queue and run right here, with the task made the current one (so
``asyncio.current_task()``, ``asyncio.timeout()`` and task groups inside the branch see their own
task, exactly as under 3.12). This touches asyncio internals, so it is done only where they are
what is expected: asyncio's own event loops, whose ready queue ends with that very step.

Other loops (uvloop, which uvicorn picks when it is installed) keep their ready queue out of
reach. There the task is asyncio's pure-Python ``Task``, built against a stand-in loop that keeps
the first step instead of queueing it; the step then runs here, exactly as above. Starting late
instead would be more than slower: ``start_workflow`` and ``complete_human_task`` promise to return
with the work they released done up to its first wait, and the documented quick start relies on it.
"""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import contextvars
    from collections.abc import Coroutine

T = TypeVar("T")

__all__ = ["start_eager"]


if sys.version_info >= (3, 12):

    def start_eager(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start ``coro`` as a task that runs now, up to its first suspension."""
        return asyncio.Task(coro, loop=asyncio.get_running_loop(), eager_start=True)

else:  # pragma: no cover - exercised by the 3.11 test run, not the 3.12 one
    from asyncio import tasks as _tasks
    from asyncio.tasks import _enter_task, _leave_task

    _PyTask: Any = getattr(_tasks, "_PyTask")  # noqa: B009 - private, absent from the stubs

    def start_eager(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Start ``coro`` as a task that runs now, up to its first suspension."""
        loop = asyncio.get_running_loop()
        if not isinstance(loop, asyncio.BaseEventLoop):
            return _start_on_foreign_loop(loop, coro)
        task = loop.create_task(coro)
        _run_first_step_now(loop, task)
        return task

    class _KeepFirstStep:
        """Stands in for the loop while a pure-Python task is built: keeps the step it queues."""

        __slots__ = ("loop", "step")

        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            self.loop = loop
            self.step: tuple[Any, contextvars.Context] | None = None

        def get_debug(self) -> bool:
            return self.loop.get_debug()

        def call_soon(self, callback: Any, *, context: contextvars.Context) -> None:
            self.step = (callback, context)

    def _start_on_foreign_loop(
        loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, T]
    ) -> asyncio.Task[T]:
        stand_in = _KeepFirstStep(loop)
        task: Any = _PyTask(coro, loop=stand_in)
        task._loop = loop  # from here on a task of the real loop, like any other
        assert stand_in.step is not None
        callback, context = stand_in.step
        caller = asyncio.current_task(loop)
        if caller is not None:
            _leave_task(loop, caller)
        try:
            context.run(callback)
        finally:
            if caller is not None:
                _enter_task(loop, caller)
        return task  # type: ignore[no-any-return]

    def _run_first_step_now(loop: asyncio.AbstractEventLoop, task: asyncio.Task[Any]) -> None:
        ready = getattr(loop, "_ready", None)
        if not ready:
            return
        first_step = ready[-1]
        if getattr(getattr(first_step, "_callback", None), "__self__", None) is not task:
            return
        # Other threads append to the ready queue too (call_soon_threadsafe: aiosqlite does). If
        # one did so since the check above, what comes off is theirs: it goes back, and the task
        # starts on the next turn as usual.
        taken = ready.pop()
        if taken is not first_step:
            ready.append(taken)
            return
        caller = asyncio.current_task(loop)
        if caller is None:  # called back by the loop, outside any task
            first_step._run()  # runs the step in the task's own context, as the loop would
            return
        _leave_task(loop, caller)
        try:
            first_step._run()
        finally:
            _enter_task(loop, caller)
