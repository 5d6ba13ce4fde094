"""One connection kept checked out while reads keep coming (the store's reads of a SQLite file).

A read of an instance, or of its version, is one job on the connection's own thread
(:mod:`.direct_reads`), and checking a connection out of SQLAlchemy's pool and back in for it
cost as much again in Python: about 130 of 250 µs for a version on the 2-core VM, paid by every
``wait`` and ``get_instance`` of a waiting instance. Here the store keeps one connection for its
reads while they keep coming: readers that overlap share it (aiosqlite queues the jobs of one
connection on its thread, each with its own result), and it goes back to the pool once a turn of
the event loop passes with no read on it. A read that fails on it discards it (invalidated, so
the pool never hands it out again); the next read checks out a fresh one.

Only for the one-call reads, which use the connection's driver directly: SQLAlchemy's own
``AsyncConnection`` methods must not run concurrently on one connection, so a read that falls
back to them takes a connection of its own.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["HeldConnection"]


class HeldConnection:
    """A connection of an engine for short reads, checked out on first use, handed back when idle.

    ``async with held as conn:`` gives the connection; it stays checked out while any reader is
    inside such a block, and for the rest of the event loop's turn after the last one leaves.

    Args:
        connect: Makes a connection of the engine (``engine.connect``), not yet started.
    """

    __slots__ = ("_check_due", "_closing", "_connect", "_held", "_opening", "_readers")

    def __init__(self, connect: Callable[[], AsyncConnection]) -> None:
        self._connect = connect
        self._held: AsyncConnection | None = None
        self._opening = asyncio.Lock()
        self._readers = 0
        self._check_due = False
        self._closing: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> AsyncConnection:
        self._readers += 1
        held = self._held
        if held is not None:
            return held
        try:
            async with self._opening:  # readers arriving together share the first one opened
                if self._held is None:
                    self._held = await self._connect().start()
                return self._held
        except BaseException:
            self._leave()
            raise

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is not None and not issubclass(exc_type, asyncio.CancelledError):
            self._discard()  # it may be broken: never read on it again, never pool it again
        self._leave()

    @property
    def held(self) -> bool:
        """Whether a connection is checked out right now."""
        return self._held is not None

    async def close(self) -> None:
        """Hand the connection back now (a store that closes), and wait for those on their way."""
        held, self._held = self._held, None
        if held is not None:
            await held.close()
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def _leave(self) -> None:
        self._readers -= 1
        if self._readers == 0 and not self._check_due and self._held is not None:
            self._check_due = True
            asyncio.get_running_loop().call_soon(self._hand_back_if_idle)

    def _hand_back_if_idle(self) -> None:
        self._check_due = False
        if self._readers == 0 and self._held is not None:
            held, self._held = self._held, None
            self._in_background(held.close())

    def _discard(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            # Readers still on it finish first: aiosqlite queues the close behind their jobs.
            self._in_background(_invalidate(held))

    def _in_background(self, closing: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(closing)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)


async def _invalidate(conn: AsyncConnection) -> None:
    try:
        await conn.invalidate()
    finally:
        await conn.close()
