"""The store waits for an application's open read transaction instead of failing after 5 s.

``upgrade_database``/``upgrade_database_async`` on the application's own engine leave the SQLite
file in its default rollback-journal mode. The store's engine switches it to WAL on connect, which
needs every other connection's lock released. If the application holds a SELECT open (a read
transaction on its own connection) while ``PersistentExecutionEngine(registry, session=...)``
starts, the store's first connection must wait for it under the store's long busy timeout.

Regression: the store set ``journal_mode=WAL`` before ``busy_timeout``, so that PRAGMA ran under
sqlite3's default 5 s timeout and ``start()``, ``recover()`` and every ``start_workflow`` failed
with "database is locked" after 5 s.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from contextlib import closing
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from test_durable_app_engine import listeners, registry

from litestar_workflows import WorkflowStatus
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.migrate import upgrade_database_async
from step_kit import FINISHED

if TYPE_CHECKING:
    from conftest import ScratchDatabase

# sqlite3's default busy timeout, under which the old code ran PRAGMA journal_mode=WAL.
OLD_TIMEOUT = 5.0


def journal_mode(db: ScratchDatabase) -> str:
    with closing(sqlite3.connect(make_url(db.url).database)) as conn:  # type: ignore[arg-type]
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


async def test_start_waits_for_an_app_read_transaction_held_past_five_seconds(
    scratch_sqlite: ScratchDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    db = scratch_sqlite
    caplog.set_level(logging.WARNING)
    app = create_async_engine(db.url)  # the application's own engine: plain SQLAlchemy defaults
    try:
        await upgrade_database_async(app)  # the documented migration, through the app's engine
        assert journal_mode(db) == "delete"  # not WAL yet: our first connection switches it
        app_session = AsyncSession(app)  # the app pooled a connection before our engine exists
        # The app's read transaction: pysqlite does not BEGIN before a SELECT, so the app does.
        await app_session.execute(text("BEGIN"))
        assert (await app_session.execute(text("SELECT count(*) FROM workflow_instances"))).scalar_one() == 0
        before = listeners(app)

        engine = PersistentExecutionEngine(registry(), session=AsyncSession(app))
        pool = engine.sql_store.db_engine.sync_engine.pool

        async def start_and_run() -> WorkflowStatus:
            await engine.start()  # checks the schema and recovers: the store's first connection
            instance = await engine.start_workflow("chain", {})
            return (await engine.wait(instance.id, until=FINISHED, timeout=30)).status

        task = asyncio.create_task(start_and_run())
        try:
            # Observe our engine waiting: its first connection is being opened (counted as
            # checked out by the pool) and has not returned, since WAL needs the app's lock.
            deadline = time.monotonic() + 10
            while pool.checkedout() == 0 and not task.done():
                assert time.monotonic() < deadline, "the store never connected"
                await asyncio.sleep(0.01)
            # Hold the lock past the old 5 s timeout: that timeout is what this test is about,
            # so there is no shorter deterministic way to tell the old code from the new.
            await asyncio.sleep(OLD_TIMEOUT + 1)
            assert not task.done(), task.exception() if task.done() else None
        finally:
            await app_session.rollback()  # the app releases its read transaction
            await app_session.close()

        assert await asyncio.wait_for(task, timeout=30) is WorkflowStatus.COMPLETED
        # No connection of ours gave up meanwhile: with the old order the store's other first
        # connection (its background runner's) failed after 5 s, logged, while start() got through.
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
        await engine.stop()
        assert journal_mode(db) == "wal"
        assert engine.sql_store.db_engine is not app
        assert listeners(app) == before
        async with app.connect() as conn:
            stored = (await conn.execute(text("SELECT status FROM workflow_instances"))).scalar_one()
        assert stored == "completed"
    finally:
        await app.dispose()
