"""The store on an application's in-memory SQLite database, and foreign keys enforced on SQLite.

The persistence guide (and the reference package's own tests) build
``PersistentExecutionEngine(registry=..., session=session)`` on
``create_async_engine("sqlite+aiosqlite:///:memory:")`` with foreign keys turned on and the tables
made by ``metadata.create_all``. That database lives inside the application's only connection,
so the store shares it (see ``litestar_workflows.db.shared_memory``); these tests hold the sharing
rules: a store read leaves the application's open transaction alone, a store write commits it, a
failed store transaction undoes only the store's statements, and sessions closing meanwhile never
split a store transaction.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    StepStatus,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.errors import StoreError
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.engine import stop_background_runners
from litestar_workflows.db.migrate import upgrade_database_async
from litestar_workflows.db.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)
from step_kit import FINISHED, Fn, statuses

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

CHAIN = [f"s{i}" for i in range(5)]


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="chain",
            steps=[
                Fn(name, lambda ctx: ctx.set("steps", (ctx.get("steps") or 0) + 1), interleave=True)
                for name in CHAIN
            ],
            edges=[Edge(a, b) for a, b in zip(CHAIN, CHAIN[1:], strict=False)],
            initial_step=CHAIN[0],
        )
    )
    # A fan-out joined before a human review: every table and foreign key gets rows.
    reg.register(
        WorkflowDefinition(
            name="review",
            steps=[
                Fn("start"),
                Fn("left", lambda ctx: ctx.set("left", True)),
                Fn("right", lambda ctx: ctx.set("right", True)),
                Fn("join"),
                BaseHumanStep("approve", title="Approve"),
                Fn("done"),
            ],
            edges=[
                Edge("start", "left"),
                Edge("start", "right"),
                Edge("left", "join"),
                Edge("right", "join"),
                Edge("join", "approve"),
                Edge("approve", "done"),
            ],
            initial_step="start",
        )
    )
    return reg


def enforce_foreign_keys(app: AsyncEngine) -> None:
    """What the guide (and the reference's fixture) do: a connect listener on the app's engine."""

    @event.listens_for(app.sync_engine, "connect")
    def _on(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


async def create_tables(app: AsyncEngine) -> None:
    """The documented table creation, plus a table of the application's own."""
    async with app.begin() as conn:
        await conn.run_sync(WorkflowDefinitionModel.metadata.create_all)
        await conn.execute(text("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"))


@pytest.fixture
async def memory_app() -> AsyncIterator[AsyncEngine]:
    app = create_async_engine("sqlite+aiosqlite:///:memory:")
    enforce_foreign_keys(app)
    await create_tables(app)
    try:
        yield app
    finally:
        await stop_background_runners()
        await app.dispose()


async def notes(session: AsyncSession) -> int:
    return int((await session.execute(text("SELECT count(*) FROM notes"))).scalar_one())


async def add_note(session: AsyncSession, body: str = "draft") -> None:
    await session.execute(text("INSERT INTO notes (body) VALUES (:body)"), {"body": body})


async def test_the_documented_in_memory_session_setup_runs_workflows_to_the_end(
    memory_app: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="litestar_workflows")
    async with AsyncSession(memory_app, expire_on_commit=False) as session:
        engine = PersistentExecutionEngine(registry=registry(), session=session)  # never started
        started = await engine.start_workflow("review", {"n": 1}, created_by="ann")
        waiting = await engine.wait(started.id, timeout=30)
        assert waiting.status is WorkflowStatus.WAITING
        assert waiting.current_step == "approve"
        # A later request's engine, from its own session, continues it.
        later = PersistentExecutionEngine(registry=registry(), session=session)
        await later.complete_human_task(started.id, "approve", "ann", {"ok": True})
        done = await later.wait(started.id, until=FINISHED, timeout=30)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.context.get("left") is True
        assert done.context.get("right") is True

        # Everything is in the application's database, read through the application's session.
        assert (await session.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
        row = (await session.execute(select(WorkflowInstanceModel))).scalar_one()
        definition = (await session.execute(select(WorkflowDefinitionModel))).scalar_one()
        assert (row.status, row.created_by, row.definition_id) == ("completed", "ann", definition.id)
        steps = (await session.execute(select(func.count()).select_from(StepExecutionModel))).scalar_one()
        assert steps == 6
        task = (await session.execute(select(HumanTaskModel))).scalar_one()
        assert (task.status, task.completed_by) == ("completed", "ann")
        assert (await session.execute(text("PRAGMA foreign_key_check"))).all() == []
        await engine.stop()
        await later.stop()
    assert [r.getMessage() for r in caplog.records] == []  # the background runner started, too


async def test_a_store_read_leaves_the_applications_open_transaction_alone(memory_app: AsyncEngine) -> None:
    sessions = async_sessionmaker(memory_app, expire_on_commit=False)
    async with sessions() as setup:
        engine = PersistentExecutionEngine(registry=registry(), session=setup)
        instance_id = (await engine.start_workflow("chain", {})).id
        await engine.wait(instance_id, until=FINISHED, timeout=30)
        await engine.stop()
    async with sessions() as session:
        await add_note(session)  # written, not committed
        reader = PersistentExecutionEngine(registry=registry(), session=session)
        loaded = await reader.get_instance(instance_id)  # from the database: not live here
        page = await reader.find_instances(workflow_name="chain")
        assert loaded.status is WorkflowStatus.COMPLETED
        assert [i.id for i in page.items] == [instance_id]
        assert await notes(session) == 1  # still there: the reads rolled nothing back ...
        await session.rollback()
        assert await notes(session) == 0  # ... and committed nothing either
        await reader.stop()


async def test_a_store_write_commits_what_the_application_had_written(memory_app: AsyncEngine) -> None:
    async with AsyncSession(memory_app) as session:
        await add_note(session)
        engine = PersistentExecutionEngine(registry=registry(), session=session)
        started = await engine.start_workflow("chain", {})
        await session.rollback()  # too late: the store's commit was the connection's
        assert await notes(session) == 1
        done = await engine.wait(started.id, until=FINISHED, timeout=30)
        assert done.status is WorkflowStatus.COMPLETED
        await engine.stop()


async def test_a_failed_store_transaction_undoes_only_the_stores_statements(memory_app: AsyncEngine) -> None:
    async with AsyncSession(memory_app) as session:
        await add_note(session)
        engine = PersistentExecutionEngine(registry=registry(), session=session)
        store_engine = engine.sql_store.db_engine
        assert store_engine is not memory_app
        insert = text(
            "INSERT INTO workflow_definitions (id, name, version, definition_json, is_active, "
            "created_at, updated_at) VALUES (:id, 'x', '1', '{}', 1, '2026-01-01', '2026-01-01')"
        )

        async def two_rows_of_one_name_and_version() -> None:
            async with store_engine.begin() as conn:
                await conn.execute(insert, {"id": b"1" * 16})
                await conn.execute(insert, {"id": b"2" * 16})

        with pytest.raises(IntegrityError):
            await two_rows_of_one_name_and_version()
        definitions = text("SELECT count(*) FROM workflow_definitions")
        assert (await session.execute(definitions)).scalar_one() == 0  # the store's first row: gone
        assert await notes(session) == 1  # the application's: kept, and still its own to decide
        await session.rollback()
        assert await notes(session) == 0
        await engine.stop()


async def test_sessions_closing_meanwhile_never_split_a_store_transaction(memory_app: AsyncEngine) -> None:
    """Each session's end rolls the shared connection back: never inside a store transaction."""
    sessions = async_sessionmaker(memory_app)
    reg = registry()
    stop = asyncio.Event()

    async def requests() -> int:
        served = 0
        while not stop.is_set():
            async with sessions() as session:  # closing rolls back
                await add_note(session, f"r{served}")
                await notes(session)
            served += 1
        return served

    async with sessions() as session:
        engine = PersistentExecutionEngine(registry=reg, session=session)
        app = asyncio.create_task(requests())
        started = [(await engine.start_workflow("chain", {})).id for _ in range(40)]
        results = [await engine.wait(i, until=FINISHED, timeout=60) for i in started]
        stop.set()
        assert await app > 0
        await engine.stop()
    assert {r.status for r in results} == {WorkflowStatus.COMPLETED}
    assert {r.context.get("steps") for r in results} == {len(CHAIN)}
    async with sessions() as session:  # and so in the database
        rows = await session.execute(
            select(StepExecutionModel.instance_id, func.count()).group_by(StepExecutionModel.instance_id)
        )
        assert {count for _, count in rows} == {len(CHAIN)}
        completed = select(func.count()).where(WorkflowInstanceModel.status == "completed")
        assert (await session.execute(completed)).scalar_one() == len(started)


async def test_an_in_memory_database_on_a_pool_of_many_connections_is_refused_with_the_fix() -> None:
    app = create_async_engine("sqlite+aiosqlite:///:memory:", poolclass=NullPool)  # a database each
    try:
        with pytest.raises(ValueError, match="in-memory SQLite database .* give it a database file"):
            PersistentExecutionEngine(registry(), session=AsyncSession(app))
    finally:
        await app.dispose()


async def test_an_in_memory_database_disposed_of_fails_with_a_clear_error() -> None:
    app = create_async_engine("sqlite+aiosqlite:///:memory:")
    await create_tables(app)
    engine = PersistentExecutionEngine(registry(), session=AsyncSession(app), background=False)
    await app.dispose()  # the database is gone with its connection
    with pytest.raises(StoreError, match="in-memory SQLite database .* is not open"):
        await engine.start_workflow("chain", {})
    await engine.stop()


async def test_foreign_keys_hold_on_a_sqlite_file(tmp_path: Path) -> None:
    """A file made the documented way, the app enforcing foreign keys: every row the store writes
    satisfies them, and the store's own connections enforce them too."""
    app = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    enforce_foreign_keys(app)
    await create_tables(app)
    sessions = async_sessionmaker(app, expire_on_commit=False)
    reg = registry()
    try:
        async with sessions() as session:  # one request starts them
            engine = PersistentExecutionEngine(registry=reg, session=session)
            started = [(await engine.start_workflow("review", {})).id for _ in range(5)]
            waiting = [await engine.wait(i, timeout=30) for i in started]
        assert {w.status for w in waiting} == {WorkflowStatus.WAITING}
        async with sessions() as session:  # another completes the tasks
            later = PersistentExecutionEngine(registry=reg, session=session)
            for instance_id in started:
                await later.complete_human_task(instance_id, "approve", "ann", {})
            done = [await later.wait(i, until=FINISHED, timeout=30) for i in started]
        assert {d.status for d in done} == {WorkflowStatus.COMPLETED}
        assert all(statuses(d)["approve"] == [StepStatus.SUCCEEDED] for d in done)
        store_engine = later.sql_store.db_engine
        async with store_engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            assert (await conn.execute(text("PRAGMA foreign_key_check"))).all() == []
        orphan = text(
            "INSERT INTO workflow_step_executions (id, instance_id, step_name, step_type, status, "
            "attempt, iteration, created_at, updated_at) "
            "VALUES (:id, :missing, 'x', 'machine', 'scheduled', 1, 0, '2026-01-01', '2026-01-01')"
        )
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            async with store_engine.begin() as conn:
                await conn.execute(orphan, {"id": b"1" * 16, "missing": b"2" * 16})
        await engine.stop()
        await later.stop()
    finally:
        await stop_background_runners()
        await app.dispose()


async def test_an_in_memory_url_gives_the_store_a_database_of_its_own_in_one_connection() -> None:
    """``url="sqlite+aiosqlite:///:memory:"``: the store's many concurrent transactions (group
    commits, reads, sweeps) take turns on the one connection that holds the database."""
    engine = PersistentExecutionEngine(registry(), url="sqlite+aiosqlite:///:memory:")
    store_engine = engine.sql_store.db_engine
    await upgrade_database_async(store_engine)
    async with engine:
        started = [(await engine.start_workflow("chain", {})).id for _ in range(40)]
        results = [await engine.wait(i, until=FINISHED, timeout=60) for i in started]
        async with store_engine.connect() as conn:
            assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one() == 1
            steps = text("SELECT count(*) FROM workflow_step_executions WHERE status = 'succeeded'")
            assert (await conn.execute(steps)).scalar_one() == 40 * len(CHAIN)
    assert {r.context.get("steps") for r in results} == {len(CHAIN)}
    holder = store_engine.sync_engine._workflows_memory_holder  # type: ignore[attr-defined]
    assert "connection" not in holder.sync_engine.pool.__dict__  # closed with the last store


async def test_a_background_runner_whose_in_memory_database_closed_first_stays_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A test's fixture disposing of its engine before the runner got going is not an error."""
    from litestar_workflows.db import engine as engine_module

    app = create_async_engine("sqlite+aiosqlite:///:memory:")
    await create_tables(app)
    await app.dispose()
    caplog.set_level(logging.DEBUG, logger="litestar_workflows.db")
    engine = PersistentExecutionEngine(registry(), session=AsyncSession(app))  # starts a runner
    starting = list(engine_module._STARTING)
    assert starting
    await asyncio.gather(*starting)
    assert [r.levelname for r in caplog.records if "background runner" in r.getMessage()] == ["DEBUG"]
    await engine.stop()


def test_the_plugin_on_an_in_memory_database_url_migrates_and_serves() -> None:
    """``WorkflowPluginConfig(database_url="sqlite+aiosqlite:///:memory:")``: migrated at startup
    through the store's one connection, then requests start, list and complete through it."""
    from litestar import Litestar
    from litestar.testing import TestClient

    from litestar_workflows import WorkflowPlugin, WorkflowPluginConfig

    config = WorkflowPluginConfig(registry=registry(), database_url="sqlite+aiosqlite:///:memory:")
    with TestClient(Litestar(plugins=[WorkflowPlugin(config)])) as client:
        started = client.post("/workflows/instances", json={"definition_name": "review", "input_data": {}})
        assert started.status_code == 201, started.text
        instance_id = started.json()["id"]
        waiting = client.get(f"/workflows/instances/{instance_id}", params={"wait": 30})  # a long poll
        assert waiting.json()["status"] == "waiting", waiting.text
        tasks = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
        assert [t["step_name"] for t in tasks] == ["approve"]
