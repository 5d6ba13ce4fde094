"""Database fixtures: a real SQLite file per test, and a fresh PostgreSQL schema per test.

Reusable pieces (meant to move to a shared ``tests/conftest.py``):

* :func:`postgres_available` -- reachability probe returning the reason when PostgreSQL is unusable;
* :func:`schema_connect_args` -- connect args pinning a connection's ``search_path`` to one schema;
* fixtures ``postgres_url`` (skips -- or fails when ``WORKFLOWS_REQUIRE_SERVICES=1`` -- if unreachable),
  ``postgres_schema``, ``postgres_engine_options``, ``postgres_engine``, ``sqlite_url``,
  ``sqlite_engine`` and ``async_engine`` (parametrized over both backends).

Every test gets its own PostgreSQL schema (random name, dropped at teardown), so parallel runs and
concurrent CI jobs against the same database never see each other's tables.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from service_probe import postgres_available

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def postgres_url_from_env() -> str:
    """The PostgreSQL URL under test: ``WORKFLOWS_POSTGRES_URL`` or the local default."""
    return os.environ.get("WORKFLOWS_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def services_required() -> bool:
    """Whether a missing service must fail the run (CI) instead of skipping its tests (laptops)."""
    return os.environ.get("WORKFLOWS_REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip the current test because a service is missing -- or fail it when services are required."""
    if services_required():
        pytest.fail(f"{reason} (WORKFLOWS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def schema_connect_args(url: str, schema: str) -> dict[str, Any]:
    """Connect args that put every connection's ``search_path`` on ``schema`` (asyncpg or psycopg)."""
    driver = make_url(url).get_driver_name()
    if driver == "asyncpg":
        return {"server_settings": {"search_path": schema}}
    if driver.startswith("psycopg"):
        return {"options": f"-csearch_path={schema}"}
    msg = f"don't know how to set search_path for driver {driver!r}"
    raise NotImplementedError(msg)


@pytest.fixture
def postgres_url() -> str:
    """The PostgreSQL URL; skips (or fails, when required) if the server is unreachable."""
    url = postgres_url_from_env()
    reason = postgres_available(url)
    if reason is not None:
        skip_or_fail(reason)
    return url


@pytest.fixture
async def postgres_schema(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty schema with a random name, dropped (with everything in it) at teardown."""
    name = f"wf_test_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(postgres_url, poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(f'CREATE SCHEMA "{name}"'))
        yield name
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    finally:
        await admin.dispose()


@pytest.fixture
def postgres_engine_options(postgres_url: str, postgres_schema: str) -> dict[str, Any]:
    """``create_async_engine`` keyword arguments confining connections to the test's schema."""
    return {"connect_args": schema_connect_args(postgres_url, postgres_schema)}


@pytest.fixture
async def postgres_engine(
    postgres_url: str, postgres_engine_options: dict[str, Any]
) -> AsyncIterator[AsyncEngine]:
    """An async engine whose connections see only the test's fresh schema."""
    engine = create_async_engine(postgres_url, **postgres_engine_options)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An async URL for a new SQLite file in the test's temporary directory."""
    return f"sqlite+aiosqlite:///{tmp_path / 'workflows.sqlite3'}"


@pytest.fixture
async def sqlite_engine(sqlite_url: str) -> AsyncIterator[AsyncEngine]:
    """An async engine on the test's SQLite file."""
    engine = create_async_engine(sqlite_url)
    try:
        yield engine
    finally:
        await engine.dispose()


_ENGINE_FIXTURES = {"sqlite": "sqlite_engine", "postgresql": "postgres_engine"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def async_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    """An empty database on each backend in turn: SQLite file, then a fresh PostgreSQL schema."""
    # A sync fixture on purpose: getfixturevalue() cannot set up async fixtures from inside a running loop.
    engine = request.getfixturevalue(_ENGINE_FIXTURES[request.param])
    assert isinstance(engine, AsyncEngine)
    return engine
