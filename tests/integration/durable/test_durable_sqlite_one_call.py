"""SQLite: a group commit runs as one job on the driver's thread, and steps aside when it must.

The fast way (``db/sqlite_batch.py``) issues no statement through SQLAlchemy; these tests watch
SQLAlchemy's statement events to tell which way a batch went, and read the file through a
connection of their own to check what was committed.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from durable_support import running_engine, sql_statements

from litestar_workflows import WorkflowRegistry, WorkflowStatus
from litestar_workflows.db.sqlite_batch import write_in_one_call
from step_kit import FINISHED, approval_registry

if TYPE_CHECKING:
    from conftest import ScratchDatabase


def registry() -> WorkflowRegistry:
    return approval_registry("one_call")


def stored_status(db: ScratchDatabase, instance_id: Any) -> str:
    path = db.url.split("///", 1)[1]
    with sqlite3.connect(path) as conn:
        row = conn.execute(
            "SELECT status FROM workflow_instances WHERE id = ?", (instance_id.bytes,)
        ).fetchone()
    assert row is not None
    return str(row[0])


async def test_a_workflow_runs_without_a_statement_through_sqlalchemy(
    scratch_sqlite: ScratchDatabase,
) -> None:
    await scratch_sqlite.migrate()
    # No sweep during the test (an hour's interval): its claims go through SQLAlchemy.
    async with running_engine(scratch_sqlite, registry(), poll_interval=3600) as engine:
        await engine.start_workflow("one_call")  # the definition row is saved through SQLAlchemy
        with sql_statements(engine) as seen:
            instance = await engine.start_workflow("one_call")
            assert (await engine.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
            await engine.complete_human_task(instance.id, "approve", "ann", {"ok": True})
            done = await engine.wait(instance.id, until=FINISHED, timeout=30)
        assert [s for s in seen if not s.lstrip().upper().startswith("SELECT")] == []
        assert done.data == {"began": True, "ok": True, "done": True}
        assert stored_status(scratch_sqlite, instance.id) == "completed"


async def test_a_failed_check_rolls_back_and_leaves_the_batch_to_the_careful_way(
    scratch_sqlite: ScratchDatabase,
) -> None:
    await scratch_sqlite.migrate()
    async with running_engine(scratch_sqlite, registry()) as engine:
        instance = await engine.start_workflow("one_call")
        await engine.wait(instance.id, timeout=30)
        writer = engine.sql_store.row_writer
        row = list(writer.instance_update(instance, instance.started_at))
        row[0] = "completed"
        stale = (*row, instance.version - 1)  # a version the row no longer has
        always_leased = ("SELECT 1", ())
        async with engine.sql_store.db_engine.connect() as conn:
            raw = await conn.get_raw_connection()
            refused = [
                await write_in_one_call(raw, writer.statements, None, ((), [stale], (), ())),
                await write_in_one_call(
                    raw, writer.statements, always_leased, ((), [(*row, instance.version)], (), ())
                ),
            ]
        assert refused == [False, False]
        assert stored_status(scratch_sqlite, instance.id) == "waiting"  # nothing of either written
        await engine.complete_human_task(instance.id, "approve", "ann", {})  # the connection is fine
        assert (await engine.wait(instance.id, until=FINISHED, timeout=30)).status is WorkflowStatus.COMPLETED


async def test_an_engine_started_right_after_it_was_built_leaves_no_background_runner_beside_it(
    scratch_sqlite: ScratchDatabase,
) -> None:
    # Building an engine on a running loop schedules a background runner for its database (for
    # the guides' engines that nobody starts); starting the engine at once makes it the sweeper.
    # The runner used to start anyway while start() awaited, and its first claim could land in
    # the middle of a test's (or an app's) work: the test above saw its UPDATE now and then.
    import asyncio

    from sqlalchemy.ext.asyncio import async_sessionmaker

    from litestar_workflows.db import PersistentExecutionEngine
    from litestar_workflows.db import engine as engine_module

    await scratch_sqlite.migrate()
    db_engine = scratch_sqlite.create_engine()
    engine = PersistentExecutionEngine(registry(), session_factory=async_sessionmaker(db_engine))
    try:
        await engine.start()
        await asyncio.gather(*engine_module._STARTING)  # the scheduled runner had its turn
        runners = engine_module._RUNNERS.get(asyncio.get_running_loop(), {})
        assert engine._database_key not in runners
    finally:
        await engine.stop()
        await db_engine.dispose()
