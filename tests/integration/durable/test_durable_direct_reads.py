"""Reading an instance goes straight through the driver in one call, with the rows SQLAlchemy gives.

On SQLite one job on the driver's thread, on PostgreSQL one statement (``db/direct_reads.py``):
neither issues a statement through SQLAlchemy. These tests watch SQLAlchemy's statement events to
tell which way a read went, and compare what it returns with the careful way's answer for the same
stored instance, on both databases.
"""

from __future__ import annotations

import contextlib
import sqlite3
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from durable_support import running_engine, snapshot, sql_statements
from sqlalchemy import text
from sqlalchemy.dialects.sqlite import aiosqlite as aiosqlite_dialect

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.errors import StoreError
from step_kit import FINISHED, Nested, Set

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conftest import ScratchDatabase
    from litestar_workflows.core.models import WorkflowInstanceData


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="reads",
            steps=[
                Set("begin", began=True),
                Nested("nested"),
                BaseHumanStep("approve", title="Approve it", assignee="ann", assignee_group="finance"),
                Set("done", done=True),
            ],
            edges=[Edge("begin", "nested"), Edge("nested", "approve"), Edge("approve", "done")],
            initial_step="begin",
        )
    )
    return reg


async def careful_load(store: Any, instance_id: Any) -> WorkflowInstanceData | None:
    """The same read through SQLAlchemy (the way taken when the fast one is unavailable)."""
    reads, store._reads = store._reads, None
    try:
        loaded: WorkflowInstanceData | None = await store.load_instance(instance_id)
        return loaded
    finally:
        store._reads = reads


async def test_a_read_takes_no_statement_through_sqlalchemy_and_matches_the_careful_way(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    async with running_engine(scratch_database, registry(), poll_interval=3600) as engine:
        store = engine.sql_store
        assert store._reads is not None  # a SQLite file on aiosqlite, or asyncpg: the direct way is on
        waiting = await engine.start_workflow("reads", {"who": "bo"}, tenant_id="t1", created_by="bo")
        assert (await engine.wait(waiting.id, timeout=30)).status is WorkflowStatus.WAITING
        done = await engine.start_workflow("reads")
        await engine.wait(done.id, timeout=30)
        await engine.complete_human_task(done.id, "approve", "ann", {"ok": True})
        await engine.wait(done.id, until=FINISHED, timeout=30)

        for instance_id, status in (
            (waiting.id, WorkflowStatus.WAITING),
            (done.id, WorkflowStatus.COMPLETED),
        ):
            with sql_statements(engine) as seen:
                fast = await store.load_instance(instance_id)
                version = await store.instance_version(instance_id)
            assert seen == []
            careful = await careful_load(store, instance_id)
            assert fast is not None
            assert careful is not None
            assert fast.status is status
            assert snapshot(fast) == snapshot(careful)
            assert version == careful.version

        ids = [waiting.id, done.id, uuid4()]  # the last one does not exist
        with sql_statements(engine) as seen:
            versions = await store.instance_versions(ids)
            async with store.db_engine.connect() as conn:
                in_chunks_of_two = await store._reads.versions(conn, ids, 2)
        assert seen == []
        assert in_chunks_of_two == versions
        reads, store._reads = store._reads, None
        try:
            assert versions == await store.instance_versions(ids)
        finally:
            store._reads = reads
        assert set(versions) == {waiting.id, done.id}

        waiting_copy = await store.load_instance(waiting.id)
        assert waiting_copy is not None
        assert waiting_copy.context.data["order"] == {"lines": [{"sku": "a-1", "qty": 2}], "total": 12.5}
        nested_run = next(r for r in waiting_copy.context.step_history if r.step_name == "nested")
        assert nested_run.result == {"checked": [1, 2, 3], "ratio": 0.25, "note": "ünïcode"}
        [task] = waiting_copy.runtime.pending_tasks.values()
        assert (task.title, task.assignee_id, task.assignee_group) == ("Approve it", "ann", "finance")


async def test_an_unknown_instance_reads_as_none_either_way(scratch_database: ScratchDatabase) -> None:
    await scratch_database.migrate()
    async with running_engine(scratch_database, registry(), poll_interval=3600) as engine:
        store = engine.sql_store
        missing = uuid4()
        with sql_statements(engine) as seen:
            assert await store.load_instance(missing) is None
            assert await store.instance_version(missing) is None
        assert seen == []
        assert await careful_load(store, missing) is None


async def test_a_failing_fast_read_falls_back_to_the_careful_way(scratch_database: ScratchDatabase) -> None:
    await scratch_database.migrate()
    async with running_engine(scratch_database, registry(), poll_interval=3600) as engine:
        store = engine.sql_store
        instance = await engine.start_workflow("reads")
        await engine.wait(instance.id, timeout=30)
        expected = snapshot(await careful_load(store, instance.id))  # type: ignore[arg-type]
        # The database refuses the direct read (SQLite inside the job, which rolls back; PostgreSQL
        # the statement): the store reads again the careful way.
        if hasattr(store._reads, "_runs") and hasattr(store._reads._runs, "sql"):
            store._reads._runs.sql = "SELECT * FROM no_such_table WHERE x = ?"
        else:
            store._reads._LOAD = "SELECT * FROM no_such_table WHERE x = $1"
        with sql_statements(engine) as seen:
            again = await store.load_instance(instance.id)
        assert again is not None
        assert snapshot(again) == expected
        assert any("FROM workflow_step_executions" in statement for statement in seen)
        # The connection the failed job used is still good for the next read.
        assert await store.instance_version(instance.id) == instance.version


@contextlib.contextmanager
def driver_rollbacks() -> Iterator[list[object]]:
    """Each ``rollback()`` SQLAlchemy's aiosqlite adapter is asked for in the block (it still runs)."""
    adapter = aiosqlite_dialect.AsyncAdapt_aiosqlite_connection
    rollback = adapter.rollback
    seen: list[object] = []

    def counted(self: Any) -> None:
        seen.append(self)
        rollback(self)

    adapter.rollback = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        adapter.rollback = rollback  # type: ignore[method-assign]


async def test_a_connection_a_job_ended_goes_back_to_the_pool_without_another_rollback(
    scratch_sqlite: ScratchDatabase,
) -> None:
    await scratch_sqlite.migrate()
    async with running_engine(scratch_sqlite, registry(), poll_interval=3600) as engine:
        store = engine.sql_store
        instance = await engine.start_workflow("reads")
        await engine.wait(instance.id, timeout=30)
        with driver_rollbacks() as rollbacks:
            assert await store.load_instance(instance.id) is not None
            assert await store.instance_version(instance.id) == instance.version
            await engine.complete_human_task(instance.id, "approve", "ann", {"ok": True})  # a one-call commit
            await engine.wait(instance.id, until=FINISHED, timeout=30)
        assert rollbacks == []


async def test_a_connection_returned_inside_a_transaction_is_still_rolled_back(
    scratch_sqlite: ScratchDatabase,
) -> None:
    await scratch_sqlite.migrate()
    async with running_engine(scratch_sqlite, registry(), poll_interval=3600) as engine:
        db_engine = engine.sql_store.db_engine
        with driver_rollbacks() as rollbacks:
            async with db_engine.connect() as conn:
                raw = await conn.get_raw_connection()
                await raw.driver_connection.execute("BEGIN IMMEDIATE")  # left open by its user
        assert len(rollbacks) == 1  # the pool rolled it back on return
        path = scratch_sqlite.url.split("///", 1)[1]
        with sqlite3.connect(path, timeout=0.5) as other:  # the write lock is free again
            other.execute("CREATE TABLE lock_probe (x INTEGER)")
        instance = await engine.start_workflow("reads")  # and the store's pool still works
        assert (await engine.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING


async def test_a_table_without_a_column_of_the_models_fails_as_a_store_error(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    async with running_engine(scratch_database, registry(), poll_interval=3600) as engine:
        store = engine.sql_store
        instance = await engine.start_workflow("reads")
        await engine.wait(instance.id, timeout=30)
        async with store.db_engine.begin() as conn:  # a schema behind the models (a column gone)
            await conn.execute(text("ALTER TABLE workflow_step_executions DROP COLUMN stack_trace"))
        with pytest.raises(StoreError, match="stack_trace"):
            await store.load_instance(instance.id)
