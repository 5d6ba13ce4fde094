"""Steps that wait for time: a delay, or a moment in the calendar. Durable in a persistent store."""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from litestar_workflows.core.step_settings import duration_problem
from litestar_workflows.core.types import StepType
from litestar_workflows.steps.base import BaseStep

if TYPE_CHECKING:
    from litestar_workflows.core.context import WorkflowContext

DurationSource = float | timedelta | Callable[["WorkflowContext"], "float | timedelta | Awaitable[Any]"]
MomentSource = datetime | Callable[["WorkflowContext"], "datetime | Awaitable[datetime]"]


async def _resolve(value: Any, context: WorkflowContext) -> Any:
    if callable(value):
        value = value(context)
        if inspect.isawaitable(value):
            value = await value
    return value


class TimerStep(BaseStep):
    """Pauses the instance for ``duration``: seconds, a ``timedelta``, or a callable of the context.

    A subclass may define ``get_delay(context)`` (``async`` or not) instead, as the steps guide
    does: it is called for each wait and returns seconds or a ``timedelta``.

    ``TimerStep(name, duration, description)`` as in the reference package. In a workflow the
    engine does not sleep: it records the wake-up time (:meth:`wake_time`) and lets the instance
    wait, durably in a persistent store. Called directly, :meth:`execute` sleeps for the duration.
    Subclasses may override :meth:`wake_time` to wait for something else (see ``ScheduledStep``).
    """

    step_type: ClassVar[StepType] = StepType.TIMER
    duration: DurationSource = 0.0

    def __init__(
        self, name: str | None = None, duration: DurationSource | None = None, description: str | None = None
    ) -> None:
        super().__init__(name, description)
        if duration is not None:
            problem = duration_problem(duration)
            if problem is not None:
                raise ValueError(f"timer {self.name or type(self).__name__!r}: {problem}")
            self.duration = duration

    def get_duration(self, context: WorkflowContext) -> timedelta:
        """The duration for ``context`` (a callable ``duration`` is called; it must not be async here).

        Raises:
            TypeError: ``duration`` is an async callable (use :meth:`wake_time`) or not a duration.
        """
        source = self._delay_source()
        value: Any = source(context) if callable(source) else source
        if inspect.isawaitable(value):
            if inspect.iscoroutine(value):
                value.close()
            raise TypeError(f"timer {self.name!r} has an async duration; get_duration() cannot await it")
        return _as_delta(value, self.name)

    async def wake_time(self, context: WorkflowContext, now: datetime) -> datetime:
        """Return when the step is done waiting (``now`` plus the duration); ``now`` is the engine's clock."""
        return now + _as_delta(await _resolve(self._delay_source(), context), self.name)

    def _delay_source(self) -> DurationSource:
        """``get_delay`` when a subclass defines it (the documented hook), else ``duration``.

        The steps guide writes a timer as a subclass with ``async def get_delay(self, context)``
        returning a ``timedelta``; a plain ``def`` works too.
        """
        get_delay: Callable[[WorkflowContext], Any] | None = getattr(self, "get_delay", None)
        return self.duration if get_delay is None else get_delay

    async def execute(self, context: WorkflowContext) -> None:
        """Sleep until :meth:`wake_time` (only when called directly; the engines wait durably)."""
        now = datetime.now(UTC)
        delay = (await self.wake_time(context, now) - now).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


def _as_delta(value: Any, name: str) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return timedelta(seconds=float(value))
    raise TypeError(f"timer {name!r}: duration must be seconds or a timedelta, not {value!r}")


class DelayStep(TimerStep):
    """A timer that waits a duration (the name this package used before ``TimerStep`` took it)."""


class ScheduledStep(TimerStep):
    """Waits until a moment: a datetime, or a callable of the context returning one (naive = UTC)."""

    at: MomentSource | None = None

    def __init__(
        self, name: str | None = None, at: MomentSource | None = None, description: str | None = None
    ) -> None:
        super().__init__(name, description=description)
        if at is not None:
            self.at = at

    async def wake_time(self, context: WorkflowContext, now: datetime) -> datetime:
        """Return the configured moment (in the past means: continue at once)."""
        if self.at is None:
            raise ValueError(f"ScheduledStep {self.name!r} has no 'at'")
        moment: datetime = await _resolve(self.at, context)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ("DelayStep", "ScheduledStep", "TimerStep")
