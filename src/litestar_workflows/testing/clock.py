"""A clock that moves only when the test says so, and fires the timers that fall due as it moves."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


class ManualTimer:
    """A timer armed on a :class:`ManualClock`; canceling it keeps it from firing."""

    __slots__ = ("args", "callback", "canceled", "when")

    def __init__(self, when: datetime, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.canceled = False

    def cancel(self) -> None:
        """Do not fire (a no-op once fired)."""
        self.canceled = True

    def fire(self) -> None:
        """Call the callback unless canceled; a timer fires at most once."""
        if not self.canceled:
            self.canceled = True
            self.callback(*self.args)


class ManualClock:
    """Time for an engine that stands still until :meth:`advance` moves it.

    Pass it as an engine's ``clock=``: the engine reads the time from it and arms its timers on
    it (see :mod:`litestar_workflows.engine.clock`), so a three-day ``TimerStep`` or a retry
    back-off fires when a test advances the clock past it, at once and in the order of their due
    times. A timer armed at or before the current time fires on the next turn of the event loop,
    as it would on a real clock.

    Args:
        start: The time the clock shows first (timezone-aware); default: the real time when the
            clock is made, so that what engines store looks like real data.

    Examples:
        >>> clock = ManualClock(datetime(2030, 1, 1, tzinfo=UTC))
        >>> clock()
        datetime.datetime(2030, 1, 1, 0, 0, tzinfo=datetime.timezone.utc)
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError(f"ManualClock needs a timezone-aware start time, not {start!r}")
        self._now = start or datetime.now(UTC)
        self._heap: list[tuple[datetime, int, ManualTimer]] = []
        self._order = itertools.count()
        self._soon: set[asyncio.Handle] = set()

    def __call__(self) -> datetime:
        """The current time of this clock."""
        return self._now

    def call_at(self, when: datetime, callback: Callable[..., Any], *args: Any) -> ManualTimer:
        """Arm a timer: ``callback(*args)`` runs once the clock reads ``when``."""
        timer = ManualTimer(when, callback, args)
        if when <= self._now:
            self._fire_soon(timer)
        else:
            heapq.heappush(self._heap, (when, next(self._order), timer))
        return timer

    @property
    def next_due(self) -> datetime | None:
        """When the earliest armed timer is due (``None``: no timer is armed)."""
        self._drop_canceled()
        return self._heap[0][0] if self._heap else None

    @property
    def busy(self) -> bool:
        """Tell whether timers that are already due wait for the event loop to fire them."""
        return bool(self._soon)

    async def advance(
        self, delta: timedelta | float, *, settle: Callable[[], Awaitable[object]] | None = None
    ) -> datetime:
        """Move the clock forward by ``delta`` (a ``timedelta`` or seconds), firing due timers.

        The clock stops at each due timer in turn, fires it and awaits ``settle`` (by default one
        turn of the event loop) before it moves on, so that what a timer starts -- another timer,
        a retry back-off -- fires in order within the same advance.

        Returns:
            The time the clock shows afterwards.

        Raises:
            ValueError: ``delta`` is negative: time never runs backwards.
        """
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=delta)
        if delta < timedelta(0):
            raise ValueError(f"a clock cannot go back in time (advance by {delta})")
        return await self.advance_to(self._now + delta, settle=settle)

    async def advance_to(
        self, moment: datetime, *, settle: Callable[[], Awaitable[object]] | None = None
    ) -> datetime:
        """Move the clock forward to ``moment``, firing due timers (see :meth:`advance`).

        Raises:
            ValueError: ``moment`` lies before the current time.
        """
        if moment < self._now:
            raise ValueError(f"a clock cannot go back in time (from {self._now} to {moment})")
        settle = settle or _one_turn
        await settle()
        while (due := self.next_due) is not None and due <= moment:
            _, _, timer = heapq.heappop(self._heap)
            self._now = due
            timer.fire()
            await settle()
        self._now = moment
        await settle()
        return self._now

    def _fire_soon(self, timer: ManualTimer) -> None:
        def fire() -> None:
            self._soon.discard(handle)
            timer.fire()

        handle = asyncio.get_running_loop().call_soon(fire)
        self._soon.add(handle)

    def _drop_canceled(self) -> None:
        while self._heap and self._heap[0][2].canceled:
            heapq.heappop(self._heap)


async def _one_turn() -> None:
    await asyncio.sleep(0)


__all__ = ("ManualClock", "ManualTimer")
