"""The SQL of the distributed drivers: claim an execution a message names, renew, find lost work.

A broker may deliver "run execution X, attempt N" twice, late or never; the database decides.
A worker claims the execution with a lease only if it is still scheduled for that attempt, its
instance is active and nobody holds a live lease on it: a duplicate or stale message claims
nothing. Claims submitted in one turn of the event loop share one statement (a worker handling
many messages at once pays one round trip for all of them, as commits share one transaction).

The sweep asks :meth:`ClaimLedger.lost_work` for executions that no message will bring to a
worker any more: leases that ran out (the worker died) and executions that stayed unclaimed for
a while (the message was lost, e.g. in a Redis restart). Both are handed back to the sweeper to
publish again, with their lease cleared and their ``updated_at`` set, so that a second sweeper
(or the next round) does not publish them again before the next deadline.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import and_, case, or_, select, tuple_, update
from sqlalchemy.exc import SQLAlchemyError

from litestar_workflows.core.types import StepStatus, StepType, WorkflowStatus
from litestar_workflows.db.store import _store_error, executions, instances

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import timedelta
    from uuid import UUID

    from litestar_workflows.db.store import SQLAlchemyStore

_RUNNABLE = (StepStatus.SCHEDULED.value, StepStatus.RUNNING.value)
_ACTIVE = (WorkflowStatus.RUNNING.value, WorkflowStatus.WAITING.value)
_CLAIMABLE = (*_ACTIVE, WorkflowStatus.PAUSED.value)
"""A paused instance's executions started before the pause still run (the driver skips held ones)."""
SWEPT_OWNER = "(swept: awaiting its next attempt's claim)"
"""Lease owner of an execution the sweep took from a holder whose lease ran out: no process."""


@dataclass(frozen=True, slots=True)
class Unclaimed:
    """Why a message claimed nothing: what the database holds for its execution (if anything)."""

    execution_id: UUID
    attempt: int
    stored_attempt: int | None = None
    status: str | None = None
    instance_status: str | None = None
    lease_owner: str | None = None

    @property
    def unknown(self) -> bool:
        """No such execution: a message from another database, or a corrupted one."""
        return self.status is None

    def reason(self) -> str:
        """A short explanation for the log."""
        if self.unknown:
            return "no such execution"
        if self.instance_status not in _CLAIMABLE:
            return f"its instance is {self.instance_status}"
        if self.stored_attempt != self.attempt:
            return f"it is at attempt {self.stored_attempt}"
        if self.status not in _RUNNABLE:
            return f"it is {self.status}"
        if self.lease_owner == SWEPT_OWNER:
            return "the sweep published it again"
        return f"{self.lease_owner} holds its lease"


class ClaimLedger:
    """Leases for the distributed drivers, on the store's database and under its owner name."""

    def __init__(self, store: SQLAlchemyStore) -> None:
        self.store = store
        self._queue: dict[tuple[UUID, int], list[asyncio.Future[UUID | None]]] = {}
        self._claimer: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ claims

    def claim(self, execution_id: UUID, attempt: int) -> asyncio.Future[UUID | None]:
        """Claim ``execution_id`` at ``attempt`` for this owner; resolves to its instance id or ``None``.

        Two claims of the same message in one batch: the first gets it, the other ``None``.
        """
        future: asyncio.Future[UUID | None] = asyncio.get_running_loop().create_future()
        self._queue.setdefault((execution_id, attempt), []).append(future)
        if self._claimer is None or self._claimer.done():
            self._claimer = asyncio.create_task(self._drain())
        return future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, {}
            try:
                claimed = await self._claim(list(batch))
            except Exception as error:
                failure = _store_error(error) if not isinstance(error, asyncio.CancelledError) else error
                for futures in batch.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(failure)
                continue
            for key, futures in batch.items():
                winner = claimed.get(key[0])
                for future in futures:
                    if not future.done():
                        future.set_result(winner)
                    winner = None

    async def _claim(self, keys: Sequence[tuple[UUID, int]]) -> dict[UUID, UUID]:
        store = self.store
        store.leases_taken = True
        now = store.clock()
        candidates = (
            select(executions.c.id)
            .join(instances, instances.c.id == executions.c.instance_id)
            .where(
                tuple_(executions.c.id, executions.c.attempt).in_(keys),
                executions.c.status.in_(_RUNNABLE),
                # Unleased only: an expired lease is the sweep's to clear, with the next attempt
                # (a late redelivery of the old message must not re-run it as the same attempt).
                executions.c.lease_expires_at.is_(None),
                instances.c.status.in_(_CLAIMABLE),
            )
            .order_by(executions.c.id)
        )
        if store._postgres:
            # Rows another transaction holds (a commit finishing this execution, a sweeper) are
            # skipped: whoever holds them decides, and the message has nothing to do.
            candidates = candidates.with_for_update(of=executions, skip_locked=True)
        statement = (
            update(executions)
            .where(executions.c.id.in_(candidates.scalar_subquery()))
            .values(lease_owner=store.owner, lease_expires_at=now + store.lease, updated_at=now)
            .returning(executions.c.id, executions.c.instance_id)
        )
        try:
            async with store._writes.begin() as conn:
                return {row.id: row.instance_id for row in await conn.execute(statement)}
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error

    async def explain(self, execution_id: UUID, attempt: int) -> Unclaimed:
        """What the database holds for an execution a message failed to claim (for the log)."""
        query = (
            select(
                executions.c.attempt,
                executions.c.status,
                executions.c.lease_owner,
                instances.c.status.label("instance_status"),
            )
            .join(instances, instances.c.id == executions.c.instance_id)
            .where(executions.c.id == execution_id)
        )
        try:
            async with self.store.db_engine.connect() as conn:
                row = (await conn.execute(query)).first()
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error
        if row is None:
            return Unclaimed(execution_id, attempt)
        return Unclaimed(execution_id, attempt, row.attempt, row.status, row.instance_status, row.lease_owner)

    async def release(self, execution_ids: Iterable[UUID], *, publish_again: bool = False) -> None:
        """Give up our leases on these executions (another worker may take them at once).

        ``publish_again``: for work this worker cannot run; the next sweep publishes it again.
        """
        await self.store.release_executions(execution_ids, publish_again=publish_again)

    async def renew(self, execution_ids: Iterable[UUID]) -> set[UUID]:
        """Extend our leases on executions running here; returns those we still hold.

        An execution missing from the answer was finished, cancelled or taken over elsewhere:
        whatever runs here for it can stop, its outcome would be dropped anyway.
        """
        ids = list(execution_ids)
        if not ids:
            return set()
        now = self.store.clock()
        statement = (
            update(executions)
            .where(
                # Rows locked in id order, as the group-commit writer locks them: a renewal and a
                # commit finishing one of these executions never each wait for the other.
                self.store._locked_in_order(
                    executions.c.id.in_(ids),
                    executions.c.lease_owner == self.store.owner,
                    executions.c.status.in_(_RUNNABLE),
                )
            )
            .values(lease_expires_at=now + self.store.lease)
            .returning(executions.c.id)
        )
        return {row[0] for row in await self._execute(statement)}  # type: ignore[misc]

    # ------------------------------------------------------------------ the sweep

    async def lost_work(self, unclaimed_after: timedelta, limit: int = 500) -> list[tuple[UUID, int, UUID]]:
        """Executions to publish again: expired leases, and scheduled work unclaimed for a while.

        Returns (execution id, attempt, instance id) triples; their leases are cleared and
        ``updated_at`` set to now, so they count as freshly published.
        """
        store = self.store
        now = store.clock()
        cutoff = now - unclaimed_after
        lost = and_(
            instances.c.status.in_(_ACTIVE),
            executions.c.status.in_(_RUNNABLE),
            or_(
                executions.c.lease_expires_at < now,
                and_(
                    executions.c.lease_expires_at.is_(None),
                    executions.c.updated_at < cutoff,
                    or_(executions.c.scheduled_for.is_(None), executions.c.scheduled_for < cutoff),
                ),
            ),
        )
        # A run whose lease ran out was claimed and maybe ran: its re-run is the next attempt,
        # so that step code sees ``context.attempt`` change and a late message of the old one
        # claims nothing. Work that was never claimed keeps its attempt.
        expired = executions.c.lease_expires_at.is_not(None)
        rerun = case((expired, executions.c.attempt + 1), else_=executions.c.attempt)
        # The old holder may still be running it (its renewals failed while the database was
        # away). Its commit must find its own name on the lease, and an empty lease would pass
        # for anyone's: so the lease names no process but is not empty until the next claim.
        owner = case((expired, SWEPT_OWNER), else_=executions.c.lease_owner)
        return await self._take(lost, limit, owner=owner, expires=None, attempt=rerun)

    async def due_timers(self, limit: int = 500) -> list[tuple[UUID, int, UUID]]:
        """Timers whose time came and that nobody holds, leased to us to fire them now.

        Timer steps, and the deadlines of human tasks (see ``runtime/deadlines.py``).
        """
        store = self.store
        now = store.clock()
        due = and_(
            instances.c.status.in_(_ACTIVE),
            executions.c.status == StepStatus.WAITING.value,
            executions.c.step_type.in_((StepType.TIMER.value, StepType.HUMAN.value)),
            executions.c.scheduled_for <= now,
            or_(executions.c.lease_expires_at.is_(None), executions.c.lease_expires_at < now),
        )
        return await self._take(due, limit, owner=store.owner, expires=now + store.lease)

    async def _take(self, condition: object, limit: int, **values: object) -> list[tuple[UUID, int, UUID]]:
        store = self.store
        owner = values.get("owner")
        if isinstance(owner, str) and owner == store.owner:
            store.leases_taken = True
        candidates = (
            select(executions.c.id)
            .join(instances, instances.c.id == executions.c.instance_id)
            .where(condition)  # type: ignore[arg-type]
            .order_by(executions.c.updated_at)
            .limit(limit)
        )
        if store._postgres:
            candidates = candidates.with_for_update(of=executions, skip_locked=True)
        statement = (
            update(executions)
            .where(executions.c.id.in_(candidates.scalar_subquery()))
            .values(
                lease_owner=values.pop("owner"),
                lease_expires_at=values.pop("expires"),
                updated_at=store.clock(),
                **values,
            )
            .returning(executions.c.id, executions.c.attempt, executions.c.instance_id)
        )
        return [(row[0], row[1], row[2]) for row in await self._execute(statement)]  # type: ignore[misc]

    async def _execute(self, statement: object) -> list[tuple[object, ...]]:
        try:
            async with self.store._writes.begin() as conn:
                result = await conn.execute(statement)  # type: ignore[call-overload]
                return [tuple(row) for row in result] if result.returns_rows else []
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error


__all__ = ("SWEPT_OWNER", "ClaimLedger", "Unclaimed")
