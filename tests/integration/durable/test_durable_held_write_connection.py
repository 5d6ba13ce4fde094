"""A store's group commit keeps one connection checked out while batches keep coming.

Each lane of a store (``db/store.py``, ``_Lane``) writes its batches on a connection it holds
until a turn of the event loop passes with nothing submitted; then the connection goes back to
the pool. These tests watch the pool's own events on the store's engine (SQLite file and
PostgreSQL) to tell how often a connection was taken, given back and discarded.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import running_engine
from sqlalchemy import event

import litestar_workflows.db.sqlite_batch as sqlite_batch
from litestar_workflows import WorkflowStatus
from litestar_workflows.core.errors import StoreError
from step_kit import FINISHED, approval_registry, linear_registry

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import ScratchDatabase

STARTS = 12
STEPS = 6


@contextmanager
def pool_events(engine: Any) -> Iterator[dict[str, int]]:
    """Count check-outs, check-ins and invalidations on the pool of the engine's store."""
    sync_engine = engine.sql_store.db_engine.sync_engine
    counts = {"checkout": 0, "checkin": 0, "invalidate": 0}

    def counter(name: str) -> Any:
        def count(*_args: Any) -> None:
            counts[name] += 1

        return count

    listeners = [(name, counter(name)) for name in counts]
    for name, listener in listeners:
        event.listen(sync_engine.pool, name, listener)
    try:
        yield counts
    finally:
        for name, listener in listeners:
            event.remove(sync_engine.pool, name, listener)


async def lanes_idle(engine: Any) -> None:
    """Until the store's lanes have written everything and handed their connections back.

    Waits on the lanes' own tasks (a lane's task ends only once its connection is back in the
    pool), not on a number of loop turns.
    """
    await engine.sql_store._settled()


async def test_a_stream_of_awaited_starts_is_written_on_one_connection_handed_back_when_idle(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    registry = linear_registry("held_lane", STEPS)
    async with running_engine(scratch_database, registry, poll_interval=3600) as engine:
        await engine.wait((await engine.start_workflow("held_lane")).id, until=FINISHED, timeout=30)
        await lanes_idle(engine)
        pool = engine.sql_store.db_engine.sync_engine.pool
        with pool_events(engine) as counts:
            # Starts awaited one at a time, as a request handler or a script makes them: every
            # step of every instance is a transition of its own, committed in ~STARTS batches.
            ids = [
                (await engine.start_workflow("held_lane", initial_data={"n": n})).id for n in range(STARTS)
            ]
            done = [await engine.wait(i, until=FINISHED, timeout=30) for i in ids]
            await lanes_idle(engine)
        assert [d.status for d in done] == [WorkflowStatus.COMPLETED] * STARTS
        assert [d.data["n"] for d in done] == list(range(STARTS))
        batches = STARTS + STEPS - 1  # at least: one commit per start, and the last one's steps after
        assert counts["checkout"] < batches / 3  # without holding: one check-out per batch
        assert counts["checkout"] == counts["checkin"]  # every one given back once idle
        assert counts["invalidate"] == 0
        assert pool.checkedout() == 0


async def test_a_write_that_fails_on_the_held_connection_discards_it_and_the_next_batch_gets_another(
    scratch_sqlite: ScratchDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    await scratch_sqlite.migrate()
    async with running_engine(scratch_sqlite, approval_registry("held_fail"), poll_interval=3600) as engine:
        instance = await engine.start_workflow("held_fail")
        assert (await engine.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
        await lanes_idle(engine)
        failing = RuntimeError("the driver's thread is gone")

        def broken_job(*_args: Any) -> bool:
            raise failing

        with pool_events(engine) as counts:
            monkeypatch.setattr(sqlite_batch, "_write", broken_job)
            with pytest.raises(StoreError) as refused:
                await engine.complete_human_task(instance.id, "approve", "ann", {"ok": True})
            assert "the driver's thread is gone" in str(refused.value)  # named, not swallowed
            monkeypatch.undo()
            await lanes_idle(engine)
            assert counts["invalidate"] == 1  # the connection the job failed on is not reused
            # Nothing was written, nothing lost: the task is still open and completes now.
            await engine.complete_human_task(instance.id, "approve", "ann", {"ok": True})
            done = await engine.wait(instance.id, until=FINISHED, timeout=30)
            await lanes_idle(engine)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data["ok"] is True
        assert engine.sql_store.db_engine.sync_engine.pool.checkedout() == 0
