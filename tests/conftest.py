"""Test-wide settings: a fixed hypothesis profile and how tests find (or skip) real services."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from service_probe import postgres_available

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

# Deterministic runs everywhere: CI must never flake on a new random example.
settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# ---------------------------------------------------------------------------- scratch databases
#
# ``scratch_sqlite`` (a file in tmp_path), ``scratch_postgres`` (a fresh schema, dropped afterwards)
# and ``scratch_database`` (both in turn) hand out a ScratchDatabase: a URL plus what confines
# connections to it. Nothing is migrated: call ``await db.migrate()`` when the test wants tables.

SCRATCH_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def scratch_postgres_url() -> str:
    """The PostgreSQL server under test: ``WORKFLOWS_POSTGRES_URL`` or the local default."""
    return os.environ.get("WORKFLOWS_POSTGRES_URL", SCRATCH_POSTGRES_URL)


def skip_unless_service(reason: str | None) -> None:
    """Skip (or, with ``WORKFLOWS_REQUIRE_SERVICES=1``, fail) the test when ``reason`` is set."""
    if reason is None:
        return
    if os.environ.get("WORKFLOWS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (WORKFLOWS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def scratch_postgres_unavailable(url: str) -> str | None:
    """Why PostgreSQL at ``url`` is unusable (``None`` when it answers); probed once per session."""
    return postgres_available(url)


@dataclass(frozen=True)
class ScratchDatabase:
    """A database (SQLite file, or PostgreSQL schema) private to one test."""

    kind: str  # "sqlite" or "postgresql"
    url: str
    schema: str | None = None

    @property
    def engine_options(self) -> dict[str, Any]:
        """``create_async_engine`` keyword arguments that confine connections to this database."""
        if self.schema is None:
            return {}
        return {"connect_args": {"server_settings": {"search_path": self.schema}}}

    def create_engine(self, **kwargs: Any) -> AsyncEngine:
        """A new store engine (SQLite: WAL, busy timeout) on this database; the caller disposes it."""
        from litestar_workflows.db.store import create_store_engine

        return create_store_engine(self.url, **{**self.engine_options, **kwargs})

    async def migrate(self) -> None:
        """Bring the database to the latest schema."""
        from litestar_workflows.db.migrate import upgrade_database_async

        engine = self.create_engine()
        try:
            await upgrade_database_async(engine)
        finally:
            await engine.dispose()

    @property
    def argv(self) -> list[str]:
        """How a child process is told about this database: ``[url, schema or ""]``."""
        return [self.url, self.schema or ""]


@pytest.fixture
def scratch_sqlite(tmp_path: Path) -> ScratchDatabase:
    """A new SQLite file in the test's temporary directory."""
    return ScratchDatabase("sqlite", f"sqlite+aiosqlite:///{tmp_path / 'scratch.sqlite3'}")


@pytest.fixture
async def scratch_postgres() -> AsyncIterator[ScratchDatabase]:
    """A fresh PostgreSQL schema (random name), dropped with everything in it at teardown."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    url = scratch_postgres_url()
    skip_unless_service(scratch_postgres_unavailable(url))
    name = f"wf_scratch_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{name}"'))
        try:
            yield ScratchDatabase("postgresql", url, name)
        finally:
            async with admin.begin() as connection:
                await connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        await admin.dispose()


_SCRATCH_FIXTURES = {"sqlite": "scratch_sqlite", "postgresql": "scratch_postgres"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def scratch_database(request: pytest.FixtureRequest) -> ScratchDatabase:
    """A private, empty database on each backend in turn: SQLite file, then a PostgreSQL schema."""
    # Sync on purpose: getfixturevalue() cannot set up async fixtures from inside a running loop.
    database = request.getfixturevalue(_SCRATCH_FIXTURES[request.param])
    assert isinstance(database, ScratchDatabase)
    return database
