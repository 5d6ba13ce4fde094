"""Where an engine reads the time and arms its timers: the one seam a test clock replaces.

An engine takes ``clock=``: any callable returning the current (timezone-aware) time. Timers --
a ``TimerStep`` waking up, a retry back-off running out, a task falling due -- are armed through
:func:`timers_for` of that clock: a plain callable gets :class:`LoopTimers`, which turns the
moment into a delay on the event loop; a clock that schedules its own timers (one providing
``call_at``, such as :class:`~litestar_workflows.testing.ManualClock`) is used as it is, so that
advancing it fires them, with no real waiting and no monkeypatching.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime


@runtime_checkable
class TimerHandle(Protocol):
    """What arming a timer returns: it can be canceled (``asyncio.TimerHandle`` is one)."""

    def cancel(self) -> None:
        """Do not call the callback (a no-op once it ran)."""


@runtime_checkable
class Timers(Protocol):
    """Calls a callback at a moment of a clock."""

    def call_at(self, when: datetime, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Call ``callback(*args)`` in the running event loop once the clock reads ``when``."""


class LoopTimers:
    """Timers on the running event loop for a clock that follows real time."""

    __slots__ = ("clock",)

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock

    def call_at(self, when: datetime, callback: Callable[..., Any], *args: Any) -> TimerHandle:
        """Call ``callback(*args)`` after the time between the clock's now and ``when`` (at once if past)."""
        delay = (when - self.clock()).total_seconds()
        return asyncio.get_running_loop().call_later(max(delay, 0.0), callback, *args)


def timers_for(clock: Callable[[], datetime]) -> Timers:
    """The timers of ``clock``: its own when it schedules them, else the event loop's."""
    return clock if isinstance(clock, Timers) else LoopTimers(clock)


__all__ = ("LoopTimers", "TimerHandle", "Timers", "timers_for")
