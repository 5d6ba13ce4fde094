"""The store never changes the application's engine: it runs on an engine of its own, shared.

``PersistentExecutionEngine(registry, session=...)`` (or ``session_factory=``, or an engine)
only says which database to use. Listeners of the store on the application's engine would change
how the application's own transactions begin (on SQLite its read-then-write units of work then
fail with "database is locked"), so the store connects through its own engine, made once per
database and process however many workflow engines are built (one per request, in the guides).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from litestar_workflows import (
    Edge,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db import PersistentExecutionEngine
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from conftest import ScratchDatabase

CHAINS = 150
APP_UNITS = 150


def registry() -> WorkflowRegistry:
    names = [f"s{i}" for i in range(5)]
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="chain",
            steps=[
                Fn(name, lambda ctx: ctx.set("steps", (ctx.get("steps") or 0) + 1), interleave=True)
                for name in names
            ],
            edges=[Edge(a, b) for a, b in zip(names, names[1:], strict=False)],
            initial_step=names[0],
        )
    )
    return reg


def app_engine(db: ScratchDatabase) -> AsyncEngine:
    """The application's own engine: plain SQLAlchemy defaults, nothing of ours."""
    return create_async_engine(db.url, **db.engine_options)


def listeners(db_engine: AsyncEngine) -> dict[str, int]:
    """How many listeners of each kind the engine and its pool have."""
    sync_engine = db_engine.sync_engine
    kinds = {"engine": (sync_engine.dispatch, ("begin", "handle_error", "before_cursor_execute"))}
    kinds["pool"] = (sync_engine.pool.dispatch, ("connect", "first_connect", "checkout"))
    return {
        f"{kind}.{name}": len(getattr(dispatch, name, ()))
        for kind, (dispatch, names) in kinds.items()
        for name in names
    }


async def test_the_app_engine_is_left_unchanged(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    await db.migrate()
    app = app_engine(db)
    try:
        async with app.connect() as conn:  # the app pooled a connection before the store came
            await conn.execute(text("SELECT 1"))
        before = listeners(app)
        engine = PersistentExecutionEngine(registry(), session=AsyncSession(app))
        async with engine:
            done = await engine.wait(
                (await engine.start_workflow("chain", {})).id, until=FINISHED, timeout=30
            )
        # The store's own engine connected as the app's does: on PostgreSQL, to the test's schema.
        assert done.status is WorkflowStatus.COMPLETED
        assert engine.sql_store.db_engine is not app
        assert listeners(app) == before
        async with app.connect() as conn:
            stored = (await conn.execute(text("SELECT status FROM workflow_instances"))).scalar_one()
        assert stored == "completed"
    finally:
        await app.dispose()


async def test_engines_built_per_request_share_one_store_engine(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    await db.migrate()
    app = app_engine(db)
    sessions = async_sessionmaker(app)
    reg = registry()
    try:
        per_request, started = [], []
        for _ in range(20):  # one workflow engine per request, from the request's session
            async with sessions() as session:
                engine = PersistentExecutionEngine(reg, session=session)
                per_request.append(engine)
                started.append((engine, (await engine.start_workflow("chain", {})).id))
        by_factory = PersistentExecutionEngine(reg, session_factory=sessions)
        by_engine = LocalExecutionEngine(reg, persistence=app)  # an engine given as it is
        store_engines = {id(e.sql_store.db_engine) for e in [*per_request, by_factory]}
        store_engines.add(id(by_engine.store.db_engine))  # type: ignore[attr-defined]
        assert len(store_engines) == 1
        shared = per_request[0].sql_store.db_engine
        assert shared is not app
        for engine, instance_id in started:  # each request's workflow ran on the shared engine
            done = await engine.wait(instance_id, until=FINISHED, timeout=30)
            assert done.status is WorkflowStatus.COMPLETED
        for engine in [*per_request, by_factory]:
            await engine.stop()
        await by_engine.store.close()  # type: ignore[attr-defined]
        # The last stop disposed of it: the next workflow engine opens a new one.
        again = PersistentExecutionEngine(reg, session_factory=sessions)
        try:
            assert again.sql_store.db_engine is not shared
        finally:
            await again.stop()
    finally:
        await app.dispose()


async def test_app_units_of_work_never_see_database_is_locked(scratch_sqlite: ScratchDatabase) -> None:
    db = scratch_sqlite
    await db.migrate()
    app = app_engine(db)
    async with app.begin() as conn:
        await conn.execute(text("CREATE TABLE app_counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        await conn.execute(text("INSERT INTO app_counter VALUES (1, 0)"))
    locked: list[str] = []

    async def unit_of_work() -> None:
        """The app's own read-then-write transaction, the way an ORM unit of work does it."""
        try:
            async with AsyncSession(app) as session, session.begin():
                n = (await session.execute(text("SELECT n FROM app_counter WHERE id = 1"))).scalar_one()
                await asyncio.sleep(0)  # the app awaits something between its read and its write
                await session.execute(text("UPDATE app_counter SET n = :n WHERE id = 1"), {"n": n + 1})
        except OperationalError as error:
            locked.append(str(error.orig))

    try:
        async with PersistentExecutionEngine(registry(), session=AsyncSession(app)) as engine:
            started = [await engine.start_workflow("chain", {}) for _ in range(CHAINS)]
            results: list[Any] = await asyncio.gather(
                *(unit_of_work() for _ in range(APP_UNITS)),
                *(engine.wait(i.id, until=FINISHED, timeout=60) for i in started),
            )
        assert locked == [], f"{len(locked)} of {APP_UNITS} units of work failed, e.g. {locked[:2]}"
        assert {i.status for i in results[APP_UNITS:]} == {WorkflowStatus.COMPLETED}
    finally:
        await app.dispose()
