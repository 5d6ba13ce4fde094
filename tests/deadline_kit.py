"""A test clock and an event recorder for tests of human-task deadlines (and of other timers).

The clock implements the engines' timer seam (``engine/clock.py``: ``__call__`` and ``call_at``):
an engine given it reads the time from it and arms its timers on it, and :meth:`TestClock.advance`
fires those that fall due, at once. Free of pytest, like ``step_kit``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    EventBus,
    HumanTaskOverdue,
    HumanTaskReassigned,
    HumanTaskReminder,
    WorkflowDefinition,
    WorkflowRegistry,
)
from step_kit import Set

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar_workflows import LocalExecutionEngine
    from litestar_workflows.core.events import WorkflowEvent

HOUR = timedelta(hours=1)
START = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)
FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
DEADLINE_EVENTS = (HumanTaskReminder, HumanTaskOverdue, HumanTaskReassigned)


class _Timer:
    __slots__ = ("args", "callback", "canceled")

    def __init__(self, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.callback, self.args, self.canceled = callback, args, False

    def cancel(self) -> None:
        self.canceled = True


class TestClock:
    """Stands still until :meth:`advance`; fires the timers armed on it that fall due."""

    __test__ = False

    def __init__(self) -> None:
        self.now = START
        self._heap: list[tuple[datetime, int, _Timer]] = []
        self._order = itertools.count()

    def __call__(self) -> datetime:
        return self.now

    def call_at(self, when: datetime, callback: Callable[..., Any], *args: Any) -> _Timer:
        timer = _Timer(callback, args)
        heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    def armed(self) -> int:
        """Timers armed and neither fired nor canceled."""
        return sum(1 for _, _, timer in self._heap if not timer.canceled)

    def forget(self) -> None:
        """Drop every armed timer, as if the processes that armed them had died."""
        self._heap.clear()

    def advance(self, delta: timedelta) -> None:
        self.now += delta
        while self._heap and self._heap[0][0] <= self.now:
            _, _, timer = heapq.heappop(self._heap)
            if not timer.canceled:
                timer.callback(*timer.args)


class Recorder:
    """The deadline events an event bus delivered; awaitable by kind and count."""

    def __init__(self, bus: EventBus) -> None:
        self.events: list[WorkflowEvent] = []
        self._changed = asyncio.Condition()
        bus.subscribe(self._record, DEADLINE_EVENTS)

    async def _record(self, event: WorkflowEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, kind: type[WorkflowEvent]) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    async def wait_for(self, kind: type[WorkflowEvent], count: int = 1) -> list[Any]:
        async with asyncio.timeout(20), self._changed:  # a safeguard against a hang, not a measure
            await self._changed.wait_for(lambda: len(self.of(kind)) >= count)
        return self.of(kind)


def review(escalate_to: str | None = "group:finance") -> WorkflowDefinition:
    approve = BaseHumanStep(
        "approve",
        form_schema=FORM,
        assignee="bob",
        assignee_group="staff",
        reminder_in=HOUR,
        due_in=2 * HOUR,
        escalate_to=escalate_to,
    )
    return WorkflowDefinition(
        name="review",
        version="1.0.0",
        steps={"approve": approve, "book": Set("book", booked=True)},
        edges=[Edge("approve", "book")],
        initial_step="approve",
    )


def registry_of(definition: WorkflowDefinition) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    registry.register(definition)
    return registry


async def settled(*engines: LocalExecutionEngine) -> None:
    """Wait for the timer firings the engines started (each runs in a task of its engine)."""
    tasks = [task for engine in engines for live in engine._live.values() for task in live.running.values()]
    await asyncio.gather(*[task for task in tasks if isinstance(task, asyncio.Task)], return_exceptions=True)
