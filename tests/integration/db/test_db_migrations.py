"""The shipped Alembic migrations: they build exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import sys
from typing import TYPE_CHECKING, Any

import pytest
from advanced_alchemy.base import orm_registry
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from litestar_workflows.core.errors import StoreError
from litestar_workflows.db import (
    VERSION_TABLE,
    WORKFLOW_TABLE_NAMES,
    check_schema_current,
    current_revision,
    downgrade_database,
    downgrade_database_async,
    enable_sqlite_foreign_keys,
    head_revision,
    upgrade_database,
    upgrade_database_async,
    workflow_metadata,
)
from litestar_workflows.db.migrate import MIGRATIONS_DIR, alembic_config, migration_context_options

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Connection

MODEL_TABLES = {
    "workflow_definitions",
    "workflow_instances",
    "workflow_step_executions",
    "workflow_human_tasks",
}


def _schema_differences(connection: Connection) -> list[Any]:
    options = migration_context_options(connection.dialect.name)
    context = MigrationContext.configure(connection, opts=options)
    return list(compare_metadata(context, workflow_metadata))


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _differences(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return await connection.run_sync(_schema_differences)


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return await connection.run_sync(_table_names)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_shipped_files_and_metadata_isolation() -> None:
    assert (MIGRATIONS_DIR / "env.py").is_file()
    assert (MIGRATIONS_DIR / "script.py.mako").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0001_initial.py").is_file()
    assert (MIGRATIONS_DIR / "versions" / "0002_failures_and_keys.py").is_file()
    assert set(workflow_metadata.tables) == MODEL_TABLES
    assert MODEL_TABLES | {VERSION_TABLE} == WORKFLOW_TABLE_NAMES
    # The models are on advanced-alchemy's shared metadata (the documented create_all works); the
    # migrations' own metadata is a copy of exactly our tables.
    assert set(orm_registry.metadata.tables) >= MODEL_TABLES
    assert head_revision() == "0002"


async def test_upgrade_to_head_creates_exactly_the_models(async_engine: AsyncEngine) -> None:
    await upgrade_database_async(async_engine)

    assert await current_revision(async_engine) == head_revision()
    assert await _tables(async_engine) == MODEL_TABLES | {VERSION_TABLE}
    assert await _differences(async_engine) == []
    await check_schema_current(async_engine)


async def test_upgrade_is_idempotent(async_engine: AsyncEngine) -> None:
    await upgrade_database_async(async_engine)
    await upgrade_database_async(async_engine)

    assert await current_revision(async_engine) == head_revision()


async def test_downgrade_to_base_and_back(async_engine: AsyncEngine) -> None:
    await upgrade_database_async(async_engine)

    await downgrade_database_async(async_engine, "base")

    assert await current_revision(async_engine) is None
    assert await _tables(async_engine) == {VERSION_TABLE}
    with pytest.raises(StoreError, match="no litestar-workflows schema"):
        await check_schema_current(async_engine)

    await upgrade_database_async(async_engine)
    assert await _differences(async_engine) == []


async def test_shares_a_database_with_an_applications_own_alembic_history(async_engine: AsyncEngine) -> None:
    async with async_engine.begin() as connection:
        await connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
        await connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('app_rev_1')"))
        await connection.execute(text("CREATE TABLE app_orders (id INTEGER PRIMARY KEY)"))

    await upgrade_database_async(async_engine)

    async with async_engine.connect() as connection:
        app_revision = (
            await connection.execute(text("SELECT version_num FROM alembic_version"))
        ).scalar_one()
    assert app_revision == "app_rev_1"
    assert await current_revision(async_engine) == head_revision()
    # The app's tables are invisible to our comparisons: no "drop app_orders" proposed.
    assert await _differences(async_engine) == []


async def test_check_schema_current_on_empty_database_names_the_fix(async_engine: AsyncEngine) -> None:
    assert await current_revision(async_engine) is None

    with pytest.raises(StoreError) as excinfo:
        await check_schema_current(async_engine)

    message = str(excinfo.value)
    assert "`litestar workflows migrate`" in message
    assert "litestar_workflows.db.upgrade_database(url)" in message
    assert repr(head_revision()) in message


async def test_check_schema_current_when_behind(sqlite_engine: AsyncEngine) -> None:
    await upgrade_database_async(sqlite_engine, "0001")  # what the previous release left

    with pytest.raises(
        StoreError, match=r"at revision '0001', expected '0002': run `litestar workflows migrate`"
    ):
        await check_schema_current(sqlite_engine)


async def test_check_schema_current_when_migrated_by_a_newer_release(sqlite_engine: AsyncEngine) -> None:
    await upgrade_database_async(sqlite_engine)
    async with sqlite_engine.begin() as connection:
        await connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))

    with pytest.raises(StoreError, match=r"revision '9999', which this version .* does not know"):
        await check_schema_current(sqlite_engine)


async def test_unreachable_database_gives_a_clear_store_error() -> None:
    port = _free_port()
    engine = create_async_engine(f"postgresql+asyncpg://workflows:s3cret@127.0.0.1:{port}/test")
    try:
        for call in (check_schema_current, current_revision, upgrade_database_async):
            with pytest.raises(StoreError) as excinfo:
                await call(engine)
            message = str(excinfo.value)
            assert message.startswith("cannot connect to the workflows database at ")
            assert f"127.0.0.1:{port}/test" in message
            assert "s3cret" not in message
            assert "workflows:***@" in message
    finally:
        await engine.dispose()


def test_sync_upgrade_database_with_unreachable_url() -> None:
    port = _free_port()
    with pytest.raises(StoreError, match=rf"cannot connect .*127\.0\.0\.1:{port}"):
        upgrade_database(f"postgresql+asyncpg://postgres:s3cret@127.0.0.1:{port}/test")


def test_sync_upgrade_and_downgrade_on_sqlite(sqlite_url: str) -> None:
    upgrade_database(sqlite_url)
    # The same file through a sync driver: a no-op, the schema is current.
    sync_url = sqlite_url.replace("sqlite+aiosqlite://", "sqlite://")
    upgrade_database(sync_url)

    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            assert _table_names(connection) == MODEL_TABLES | {VERSION_TABLE}
            assert _schema_differences(connection) == []
        downgrade_database(sync_url)
        with engine.connect() as connection:
            assert _table_names(connection) == {VERSION_TABLE}
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_sync_upgrade_on_postgres(postgres_url: str, postgres_engine_options: dict[str, Any]) -> None:
    upgrade_database(postgres_url, engine_options=postgres_engine_options)

    async def verify() -> None:
        engine = create_async_engine(postgres_url, **postgres_engine_options)
        try:
            await check_schema_current(engine)
            assert await _differences(engine) == []
        finally:
            await engine.dispose()

    asyncio.run(verify())
    downgrade_database(postgres_url, engine_options=postgres_engine_options)


async def test_sync_upgrade_refuses_to_run_inside_an_event_loop(sqlite_url: str) -> None:
    with pytest.raises(StoreError, match=r"await upgrade_database_async\(engine\)"):
        upgrade_database(sqlite_url)


@pytest.mark.postgres
async def test_concurrent_upgrades_on_postgres_are_serialised(
    postgres_url: str, postgres_engine_options: dict[str, Any]
) -> None:
    engines = [create_async_engine(postgres_url, **postgres_engine_options) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_database_async(engine) for engine in engines))
        await check_schema_current(engines[0])
    finally:
        for engine in engines:
            await engine.dispose()


_UPGRADE_SCRIPT = """
import json, sys
from litestar_workflows.db import upgrade_database
upgrade_database(sys.argv[1], engine_options=json.loads(sys.argv[2]))
"""


async def _upgrade_in_processes(url: str, engine_options: dict[str, Any], count: int) -> None:
    """``upgrade_database(url)`` in ``count`` processes started at once; each must succeed."""
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-W",
            "ignore",
            "-c",
            _UPGRADE_SCRIPT,
            url,
            json.dumps(engine_options),
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(count)
    ]
    results = [await process.communicate() for process in processes]
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr.decode()


@pytest.mark.postgres
async def test_concurrent_upgrades_from_several_processes(
    postgres_url: str, postgres_engine: AsyncEngine, postgres_engine_options: dict[str, Any]
) -> None:
    # The deployment scenario: every worker process migrates at start-up, all at once.
    await _upgrade_in_processes(postgres_url, postgres_engine_options, 3)
    await check_schema_current(postgres_engine)


@pytest.mark.parametrize("driver", ["sqlite+aiosqlite", "sqlite"])
async def test_concurrent_upgrades_of_a_new_sqlite_file_from_several_processes(
    tmp_path: Path, driver: str
) -> None:
    """Each process's migration waits for the write lock (``BEGIN IMMEDIATE``) instead of racing on
    ``CREATE TABLE``: some of four used to fail with "table ... already exists"."""
    for attempt in range(3):
        await _upgrade_in_processes(f"{driver}:///{tmp_path / f'fresh{attempt}.sqlite3'}", {}, 4)
        engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / f'fresh{attempt}.sqlite3'}")
        try:
            await check_schema_current(engine)
        finally:
            await engine.dispose()


async def test_sqlite_foreign_keys_are_suspended_for_migrations_and_restored(sqlite_url: str) -> None:
    engine = create_async_engine(sqlite_url)
    enable_sqlite_foreign_keys(engine)
    try:
        await upgrade_database_async(engine)
        await downgrade_database_async(engine)
        await upgrade_database_async(engine)
        async with engine.connect() as connection:
            assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert await _differences(engine) == []
    finally:
        await engine.dispose()


@pytest.mark.parametrize(("url", "json_type"), [("postgresql://", "JSONB"), ("sqlite://", "JSON")])
def test_offline_sql_script(url: str, json_type: str) -> None:
    config = alembic_config()
    config.set_main_option("sqlalchemy.url", url)
    buffer = io.StringIO()
    config.output_buffer = buffer

    command.upgrade(config, "head", sql=True)

    script = buffer.getvalue()
    assert "CREATE TABLE workflow_instances" in script
    assert f"context_data {json_type} DEFAULT '{{}}' NOT NULL" in script
    assert f"CREATE TABLE {VERSION_TABLE}" in script
    assert "alembic_version " not in script.replace(VERSION_TABLE, "")


async def test_a_schema_an_older_release_created_is_stamped_at_its_revision_and_upgraded(
    async_engine: AsyncEngine,
) -> None:
    # What create_all of the release before 0002 left: 0001's tables, and no revision table.
    await upgrade_database_async(async_engine, "0001")
    async with async_engine.begin() as connection:
        await connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
    assert await current_revision(async_engine) is None

    await upgrade_database_async(async_engine)

    assert await current_revision(async_engine) == head_revision()
    assert await _differences(async_engine) == []


def test_the_persistence_guide_s_alembic_command(tmp_path: Any) -> None:
    """``WORKFLOW_DATABASE_URL=... alembic -c .../alembic.ini upgrade head``, with the shipped file."""
    import os
    import subprocess

    database = tmp_path / "guide.sqlite3"

    def alembic_upgrade(**environment: str) -> subprocess.CompletedProcess[str]:
        command = [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(MIGRATIONS_DIR / "alembic.ini"),
            "upgrade",
            "head",
        ]
        variables = {k: v for k, v in os.environ.items() if k != "WORKFLOW_DATABASE_URL"} | environment
        return subprocess.run(
            command, env=variables, capture_output=True, text=True, check=False, cwd=tmp_path
        )

    done = alembic_upgrade(WORKFLOW_DATABASE_URL=f"sqlite+aiosqlite:///{database}")
    assert done.returncode == 0, done.stderr
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            assert set(inspect(connection).get_table_names()) == {*MODEL_TABLES, VERSION_TABLE}
            version = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one()
            assert version == head_revision()
    finally:
        engine.dispose()
    missing = alembic_upgrade()
    assert missing.returncode != 0
    assert "set WORKFLOW_DATABASE_URL" in missing.stderr
