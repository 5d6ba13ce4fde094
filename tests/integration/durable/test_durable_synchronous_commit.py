"""Relaxed commits (``synchronous_commit=False``): the setting reaches the store's own connections.

The store's connections are read through the store's own database engine (never a new
connection to the file or server), since that is where the setting must be: SQLite keeps
``PRAGMA synchronous`` per connection, and the store sets PostgreSQL's ``synchronous_commit`` for
each session of its engine. What a power loss would lose cannot be tested here; what can is that
the setting is in effect where the store commits, that the default is unchanged, and that relaxed
engines still run and persist workflows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from commit_settings import settings_in_write_transactions, store_setting
from litestar_workflows import WorkflowRegistry, WorkflowStatus
from litestar_workflows.db import PersistentExecutionEngine, SQLAlchemyStore
from litestar_workflows.db.connection import create_store_engine
from litestar_workflows.web.config import WorkflowPluginConfig
from step_kit import FINISHED, approval_registry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

    from conftest import ScratchDatabase

FULL, NORMAL = 2, 1
"""What ``PRAGMA synchronous`` reads for FULL and NORMAL."""


def registry() -> WorkflowRegistry:
    return approval_registry("relaxed")


def app_engine(db: ScratchDatabase) -> AsyncEngine:
    """An engine as an application makes it (not a store engine): the store connects beside it."""
    return create_async_engine(db.url, **db.engine_options)


async def run_to_completion(engine: PersistentExecutionEngine) -> Any:
    instance = await engine.start_workflow("relaxed")
    assert (await engine.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
    await engine.complete_human_task(instance.id, "approve", "ann", {"ok": True})
    done = await engine.wait(instance.id, until=FINISHED, timeout=30)
    assert done.status is WorkflowStatus.COMPLETED
    return instance.id


class Heard:
    """A commit listener that records the instance ids it is told of."""

    def __init__(self) -> None:
        self.ids: set[int] = set()

    def committed(self, _store: object, instance_ids: set[int]) -> None:
        self.ids.update(instance_ids)


@pytest.fixture
async def app(scratch_sqlite: ScratchDatabase) -> AsyncIterator[AsyncEngine]:
    await scratch_sqlite.migrate()
    engine = app_engine(scratch_sqlite)
    yield engine
    await engine.dispose()


# ---------------------------------------------------------------------------- SQLite


@pytest.mark.parametrize(("relaxed", "expected"), [(None, FULL), (True, FULL), (False, NORMAL)])
async def test_sqlite_connections_of_the_store_sync_as_asked(
    app: AsyncEngine, relaxed: bool | None, expected: int
) -> None:
    options = {} if relaxed is None else {"synchronous_commit": relaxed}
    engine = PersistentExecutionEngine(registry(), session_factory=async_sessionmaker(app), **options)
    try:
        await engine.start()
        await run_to_completion(engine)
        assert await store_setting(engine) == expected
        assert engine.sql_store.synchronous_commit is (expected == FULL)
        async with engine.sql_store.db_engine.connect() as conn:  # WAL stays on either way
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        await engine.stop()


async def test_two_engines_on_one_sqlite_database_each_keep_their_setting(app: AsyncEngine) -> None:
    factory = async_sessionmaker(app)
    full = PersistentExecutionEngine(registry(), session_factory=factory)
    relaxed = PersistentExecutionEngine(registry(), session_factory=factory, synchronous_commit=False)
    again = PersistentExecutionEngine(registry(), session_factory=factory)  # after the relaxed one
    try:
        await full.start()
        await relaxed.start()
        assert full.sql_store.db_engine is not relaxed.sql_store.db_engine
        assert again.sql_store.db_engine is full.sql_store.db_engine  # still shared per setting
        assert await store_setting(full) == FULL
        assert await store_setting(relaxed) == NORMAL
        assert await store_setting(again) == FULL
        # A store of either setting hears of the other's commits (waiters learn of them at once).
        heard = Heard()
        full.sql_store.subscribe(heard)
        instance = await relaxed.start_workflow("relaxed")
        assert instance.id.int in heard.ids
        await relaxed.wait(instance.id, timeout=30)
        await full.complete_human_task(instance.id, "approve", "ann", {"ok": True})
        done = await relaxed.wait(instance.id, until=FINISHED, timeout=30)
        assert done.data == {"began": True, "ok": True, "done": True}
        assert await store_setting(full) == FULL
        assert await store_setting(relaxed) == NORMAL
    finally:
        for engine in (again, relaxed, full):
            await engine.stop()


async def test_a_store_engine_made_with_the_other_setting_is_left_as_it_is(
    scratch_sqlite: ScratchDatabase,
) -> None:
    await scratch_sqlite.migrate()
    given = create_store_engine(scratch_sqlite.url)  # FULL
    store = SQLAlchemyStore(given, synchronous_commit=False)
    try:
        assert store.db_engine is not given
        async with store.db_engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == NORMAL
        async with given.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA synchronous")).scalar() == FULL
        same = SQLAlchemyStore(given)
        assert same.db_engine is given  # the same setting: used as it is
        await same.close()
    finally:
        await store.close()
        await given.dispose()


async def test_a_relaxed_engine_on_an_in_memory_database_runs_as_any_other() -> None:
    engine = PersistentExecutionEngine(
        registry(), url="sqlite+aiosqlite:///:memory:", synchronous_commit=False
    )
    try:
        from litestar_workflows.db.migrate import upgrade_database_async

        await upgrade_database_async(engine.sql_store.db_engine)
        await engine.start()
        await run_to_completion(engine)
    finally:
        await engine.stop()


# ---------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
@pytest.mark.parametrize(("synchronous_commit", "expected"), [(True, "on"), (False, "off")])
async def test_postgres_write_transactions_commit_as_asked(
    scratch_postgres: ScratchDatabase, synchronous_commit: bool, expected: str
) -> None:
    await scratch_postgres.migrate()
    app = app_engine(scratch_postgres)
    engine = PersistentExecutionEngine(
        registry(), session_factory=async_sessionmaker(app), synchronous_commit=synchronous_commit
    )
    try:
        await engine.start()
        with settings_in_write_transactions(engine) as seen:
            await run_to_completion(engine)  # the definition's insert, the task's completion...
        assert seen
        assert set(seen) == {expected}
        # New instances are written by one statement outside a transaction (postgres_batch.py):
        # what governs their commit is the session's setting, the same on every connection.
        assert await store_setting(engine) == expected
        async with app.connect() as conn:  # the application's own connections are left alone
            assert (await conn.exec_driver_sql("SHOW synchronous_commit")).scalar() == "on"
    finally:
        await engine.stop()
        await app.dispose()


# ---------------------------------------------------------------------------- both databases


async def test_a_relaxed_engine_persists_a_workflow_a_fresh_engine_reads_back(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    first_app = app_engine(scratch_database)
    engine = PersistentExecutionEngine(
        registry(), session_factory=async_sessionmaker(first_app), synchronous_commit=False
    )
    try:
        await engine.start()
        instance_id = await run_to_completion(engine)
    finally:
        await engine.stop()
        await first_app.dispose()
    second_app = app_engine(scratch_database)
    fresh = PersistentExecutionEngine(
        registry(), session_factory=async_sessionmaker(second_app), synchronous_commit=False
    )
    try:
        await fresh.start()
        stored = await fresh.get_instance(instance_id)
        assert stored.status is WorkflowStatus.COMPLETED
        assert stored.data == {"began": True, "ok": True, "done": True}
    finally:
        await fresh.stop()
        await second_app.dispose()


# ---------------------------------------------------------------------------- validation


@pytest.mark.parametrize("value", ["off", 0, None, 1])
async def test_a_setting_that_is_not_a_bool_is_refused(scratch_sqlite: ScratchDatabase, value: Any) -> None:
    url = scratch_sqlite.url
    with pytest.raises(TypeError, match="synchronous_commit"):
        PersistentExecutionEngine(registry(), url=url, synchronous_commit=value)
    with pytest.raises(TypeError, match="synchronous_commit"):
        SQLAlchemyStore.from_url(url, synchronous_commit=value)
    with pytest.raises(TypeError, match="synchronous_commit"):
        SQLAlchemyStore(url, synchronous_commit=value)
    with pytest.raises(TypeError, match="synchronous_commit"):
        create_store_engine(url, synchronous_commit=value)
    with pytest.raises(TypeError, match="synchronous_commit"):
        WorkflowPluginConfig(database_url=url, synchronous_commit=value)


# ---------------------------------------------------------------------------- the plugin


async def test_the_plugin_builds_a_relaxed_engine_from_its_database_url(
    scratch_sqlite: ScratchDatabase,
) -> None:
    from litestar import Litestar

    from litestar_workflows.web.plugin import WorkflowPlugin

    await scratch_sqlite.migrate()
    plugin = WorkflowPlugin(WorkflowPluginConfig(database_url=scratch_sqlite.url, synchronous_commit=False))
    Litestar(plugins=[plugin])  # the app is never started: only the engine the plugin built is read
    engine = plugin.engine
    assert isinstance(engine, PersistentExecutionEngine)
    try:
        assert engine.sql_store.synchronous_commit is False
        assert await store_setting(engine) == NORMAL
    finally:
        await engine.stop()


def test_the_plugin_refuses_a_relaxed_setting_it_would_not_apply() -> None:
    from litestar_workflows import LocalExecutionEngine

    with pytest.raises(ValueError, match="database_url"):
        WorkflowPluginConfig(synchronous_commit=False)  # in memory: nothing to relax
    with pytest.raises(ValueError, match="engine you built"):
        WorkflowPluginConfig(engine=LocalExecutionEngine(WorkflowRegistry()), synchronous_commit=False)
    with pytest.raises(ValueError, match="only one"):
        WorkflowPluginConfig(
            database_url="sqlite+aiosqlite:///wf.db",
            synchronous_commit=False,
            engine_options={"synchronous_commit": False},
        )
