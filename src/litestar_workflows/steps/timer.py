"""Steps that wait for time: a delay, or a moment in the calendar. Durable in a persistent store."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

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
    """Base of steps that pause the instance until :meth:`wake_time` has passed."""

    step_type: ClassVar[StepType] = StepType.TIMER

    async def wake_time(self, context: WorkflowContext, now: datetime) -> datetime:
        """Return when the step is done waiting; ``now`` comes from the engine's clock."""
        return now


class DelayStep(TimerStep):
    """Waits a duration: seconds, a ``timedelta``, or a callable of the context returning either."""

    duration: DurationSource = 0.0

    def __init__(
        self, name: str | None = None, duration: DurationSource | None = None, description: str | None = None
    ) -> None:
        super().__init__(name, description)
        if duration is not None:
            self.duration = duration

    async def wake_time(self, context: WorkflowContext, now: datetime) -> datetime:
        """Return ``now`` plus the duration."""
        value = await _resolve(self.duration, context)
        delta = value if isinstance(value, timedelta) else timedelta(seconds=float(value))
        return now + delta


class ScheduledStep(TimerStep):
    """Waits until a moment: a datetime, or a callable of the context returning one (naive = UTC)."""

    at: MomentSource | None = None

    def __init__(
        self, name: str | None = None, at: MomentSource | None = None, description: str | None = None
    ) -> None:
        super().__init__(name, description)
        if at is not None:
            self.at = at

    async def wake_time(self, context: WorkflowContext, now: datetime) -> datetime:
        """Return the configured moment (in the past means: continue at once)."""
        if self.at is None:
            raise ValueError(f"ScheduledStep {self.name!r} has no 'at'")
        moment: datetime = await _resolve(self.at, context)
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


__all__ = ("DelayStep", "ScheduledStep", "TimerStep")
