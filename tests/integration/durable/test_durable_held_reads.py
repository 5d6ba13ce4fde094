"""A SQLite store keeps one connection for its reads while they keep coming (``db/held_connection.py``).

Watched through the pool's own events on a real SQLite file: reads in a row, and reads that
overlap, check one connection out between them; it goes back once a turn of the event loop
passes with no read; a read that fails on it discards it, and the next read gets a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from durable_support import running_engine, snapshot
from sqlalchemy import event
from test_durable_direct_reads import careful_load, registry

from litestar_workflows import WorkflowStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from conftest import ScratchDatabase


@contextlib.contextmanager
def pool_events(engine: Any) -> Iterator[dict[str, int]]:
    """How often the store engine's pool checked a connection out, in, or invalidated one, in the block."""
    counts = {"checkout": 0, "checkin": 0, "invalidate": 0}
    sync_engine = engine.sql_store.db_engine.sync_engine
    listeners = {
        name: (lambda *_args, _name=name: counts.__setitem__(_name, counts[_name] + 1)) for name in counts
    }
    for name, listener in listeners.items():
        event.listen(sync_engine, name, listener)
    try:
        yield counts
    finally:
        for name, listener in listeners.items():
            event.remove(sync_engine, name, listener)


async def next_turns() -> None:
    """Let the event loop run the callbacks already due (the hand-back is one of them)."""
    for _ in range(3):
        await asyncio.sleep(0)


@contextlib.asynccontextmanager
async def engine_on(db: ScratchDatabase) -> AsyncIterator[Any]:
    """A started engine on the migrated ``db``, with the direct reads' workflow, no sweep meanwhile."""
    await db.migrate()
    async with running_engine(db, registry(), poll_interval=3600) as engine:
        yield engine


async def waiting_instances(engine: Any, count: int) -> list[Any]:
    started = [await engine.start_workflow("reads", {"n": n}) for n in range(count)]
    for instance in started:
        assert (await engine.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
    await engine.sql_store._settled()
    await next_turns()  # the write lane hands its connection back too
    return started


async def test_reads_in_a_row_check_one_connection_out_and_hand_it_back_when_they_stop(
    scratch_sqlite: ScratchDatabase,
) -> None:
    async with engine_on(scratch_sqlite) as engine:
        store = engine.sql_store
        instances = await waiting_instances(engine, 5)
        with pool_events(engine) as counts:
            for _ in range(4):
                for instance in instances:
                    assert await store.instance_version(instance.id) == instance.version
                    loaded = await store.load_instance(instance.id)
                    assert loaded is not None
                    assert loaded.status is WorkflowStatus.WAITING
            versions = await store.instance_versions([i.id for i in instances])
            assert versions == {i.id: i.version for i in instances}
            assert counts == {"checkout": 1, "checkin": 0, "invalidate": 0}
            assert store._held_reads.held
            await next_turns()
            await store._held_reads.close()  # waits for the hand-back on its way, if any
        assert counts == {"checkout": 1, "checkin": 1, "invalidate": 0}
        assert not store._held_reads.held


async def test_overlapping_reads_share_the_held_connection_and_each_get_their_own_answer(
    scratch_sqlite: ScratchDatabase,
) -> None:
    async with engine_on(scratch_sqlite) as engine:
        store = engine.sql_store
        instances = await waiting_instances(engine, 12)
        expected = [snapshot(await careful_load(store, i.id)) for i in instances]  # type: ignore[arg-type]
        await next_turns()
        with pool_events(engine) as counts:
            loaded = await asyncio.gather(*(store.load_instance(i.id) for i in instances * 3))
        assert [snapshot(one) for one in loaded] == expected * 3  # type: ignore[arg-type]
        assert counts["checkout"] == 1


async def test_a_read_that_fails_on_the_held_connection_discards_it(scratch_sqlite: ScratchDatabase) -> None:
    async with engine_on(scratch_sqlite) as engine:
        store = engine.sql_store
        [instance] = await waiting_instances(engine, 1)
        expected = snapshot(await careful_load(store, instance.id))  # type: ignore[arg-type]
        await next_turns()
        with pool_events(engine) as counts:
            assert await store.instance_version(instance.id) == instance.version  # holds one
            runs_sql = store._reads._runs.sql
            store._reads._runs.sql = "SELECT * FROM no_such_table WHERE x = ?"
            again = await store.load_instance(instance.id)  # fails on it, then the careful way
            store._reads._runs.sql = runs_sql
            assert again is not None
            assert snapshot(again) == expected
            assert not store._held_reads.held
            assert await store.instance_version(instance.id) == instance.version  # a fresh one
            await next_turns()
            await store._held_reads.close()
        assert counts["invalidate"] == 1
        # The held one, the careful read's own, and the fresh one: each checked out and back in.
        assert counts["checkout"] == counts["checkin"] == 3
