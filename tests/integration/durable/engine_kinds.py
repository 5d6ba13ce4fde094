"""One engine of each kind for tests that must hold on all three: memory, SQLite file, PostgreSQL.

A test module declares a plain fixture ``@pytest.fixture(params=ENGINE_KINDS)`` returning
``database_of(request)`` (sync: an async fixture cannot set up the scratch databases), and builds its
engine with ``async with engine_for(database, registry, ...)``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from litestar_workflows import LocalExecutionEngine
from litestar_workflows.db import PersistentExecutionEngine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowRegistry

ENGINE_KINDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def database_of(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    """The scratch database ``request.param`` names (``None`` for the memory store)."""
    if request.param == "memory":
        return None
    db: ScratchDatabase = request.getfixturevalue(
        {"sqlite": "scratch_sqlite", "postgresql": "scratch_postgres"}[request.param]
    )
    return db


@asynccontextmanager
async def engine_for(
    db: ScratchDatabase | None, registry: WorkflowRegistry, **options: Any
) -> AsyncIterator[LocalExecutionEngine]:
    """A started engine on the memory store (``db`` is ``None``) or on ``db``, migrated first."""
    if db is None:
        async with LocalExecutionEngine(registry, **options) as engine:
            yield engine
        return
    await db.migrate()
    db_engine = db.create_engine()
    engine = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine), **options)
    try:
        await engine.start()
        yield engine
    finally:
        await engine.stop()
        await db_engine.dispose()


async def stored(engine: LocalExecutionEngine, instance_id: Any) -> Any:
    """The instance as the store has it (a fresh load for a database, the live object in memory)."""
    found = await engine.store.load_instance(instance_id)
    assert found is not None
    return found
