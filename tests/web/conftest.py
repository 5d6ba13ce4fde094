"""Fixtures for the web layer: one engine per backend (memory, SQLite file, PostgreSQL) and an app on it.

* ``engine_factory`` is parametrized over the three backends; it builds engines on the test's
  database (the app's lifespan starts and stops them).
* PostgreSQL gets a fresh schema per test module (migrated once, emptied before each test) and
  SQLite a migrated template file per module, copied for each test: migrations run once, tests
  stay isolated.

Apps and identity headers come from ``web_helpers``.
"""

from __future__ import annotations

import asyncio
import importlib.util
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from litestar import Litestar
from litestar.cli.main import litestar_group
from litestar.testing import TestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool
from web_helpers import GROUPS, build_registry, in_thread, make_app

from litestar_workflows import AssigneeAuthorizer, LocalExecutionEngine, WorkflowRegistry
from litestar_workflows.db import PersistentExecutionEngine, upgrade_database, workflow_metadata
from litestar_workflows.db.store import create_store_engine
from litestar_workflows.web.cli import workflows_group

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def _load_db_helpers() -> Any:
    # The PostgreSQL helpers live in the database tests' conftest; load that file by path (a
    # conftest cannot be imported by name when several exist without packages).
    path = Path(__file__).parents[1] / "integration" / "db" / "conftest.py"
    spec = importlib.util.spec_from_file_location("_workflows_db_test_helpers", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


db_helpers = _load_db_helpers()


@pytest.fixture(autouse=True)
def wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """CLI output (Rich tables, tracebacks) as wide as it needs: the width a test process is given
    depends on how it was started (a terminal, a pipe, a worker process), and narrow tables cut
    the values the CLI tests look for."""
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(autouse=True)
def workflows_command_registered() -> None:
    """``workflows`` is a command of Litestar's CLI group in every test, whatever ran first.

    The group asks the plugins of the first app it loads in a process to add their commands, and
    never asks again: a worker process whose first CLI test loads an app without the plugin would
    otherwise answer "No such command" to every later test (the order depends on how the
    workers share out the tests). A real ``litestar`` process loads one app, once.

    Added only when missing: each ``add_command`` wraps the command's callback once more, and a
    worker process that ran a thousand web tests found the chain of wrappers past Python's
    recursion limit (``ValueError: wrapper loop when unwrapping workflows_group``).
    """
    if litestar_group.commands.get(workflows_group.name) is not workflows_group:
        litestar_group.add_command(workflows_group)


# ---------------------------------------------------------------------- databases


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the latest schema, once per module."""
    path = tmp_path_factory.mktemp("template") / "workflows.sqlite3"
    in_thread(lambda: upgrade_database(f"sqlite:///{path}"))
    return path


@dataclass
class PostgresSchema:
    """A migrated schema of the test module, and how to connect to it."""

    url: str
    schema: str
    connect_args: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def postgres_schema() -> Iterator[PostgresSchema]:
    """A fresh PostgreSQL schema for the module, migrated once and dropped afterwards."""
    url = db_helpers.postgres_url_from_env()
    reason = db_helpers.postgres_available(url)
    if reason is not None:
        db_helpers.skip_or_fail(reason)
    schema = f"wf_web_{uuid.uuid4().hex[:16]}"

    async def execute(statement: str) -> None:
        admin = create_async_engine(url, poolclass=NullPool)
        try:
            async with admin.begin() as connection:
                await connection.execute(text(statement))
        finally:
            await admin.dispose()

    in_thread(lambda: asyncio.run(execute(f'CREATE SCHEMA "{schema}"')))
    try:
        connect_args = db_helpers.schema_connect_args(url, schema)
        in_thread(lambda: upgrade_database(url, engine_options={"connect_args": connect_args}))
        yield PostgresSchema(url, schema, connect_args)
    finally:
        in_thread(lambda: asyncio.run(execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')))


async def _empty_tables(pg: PostgresSchema) -> None:
    names = ", ".join(table.name for table in workflow_metadata.sorted_tables)
    db_engine = create_async_engine(pg.url, connect_args=pg.connect_args, poolclass=NullPool)
    try:
        async with db_engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {names} CASCADE"))
    finally:
        await db_engine.dispose()


# ---------------------------------------------------------------------- engines


@dataclass
class EngineFactory:
    """Builds engines of one backend on the test's database; ``backend`` names it."""

    backend: str
    make: Callable[..., Any]

    def __call__(self, registry: WorkflowRegistry, **options: Any) -> Any:
        options.setdefault("authorizer", AssigneeAuthorizer(groups_of=lambda user: GROUPS.get(user, ())))
        return self.make(registry, **options)


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """The backend under test: in memory, a SQLite file, a PostgreSQL schema."""
    return str(request.param)


@pytest.fixture
def engine_factory(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> EngineFactory:
    """Engines of ``backend`` on a database of the test alone.

    Litestar's test clients run the app (and so the engine) on an event loop of their own, in a
    portal thread; the app's lifespan starts and stops the engine there. PostgreSQL connections
    are therefore not pooled (a pooled connection would outlive that loop).
    """
    if backend == "memory":
        return EngineFactory(backend, LocalExecutionEngine)
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "workflows.sqlite3"
        shutil.copyfile(template, path)
        url = f"sqlite+aiosqlite:///{path}"
        return EngineFactory(
            backend, lambda registry, **kw: PersistentExecutionEngine(registry, url=url, **kw)
        )
    pg: PostgresSchema = request.getfixturevalue("postgres_schema")
    in_thread(lambda: asyncio.run(_empty_tables(pg)))
    db_engine = create_store_engine(pg.url, connect_args=pg.connect_args, poolclass=NullPool)
    sessions = async_sessionmaker(db_engine)
    return EngineFactory(
        backend, lambda registry, **kw: PersistentExecutionEngine(registry, session_factory=sessions, **kw)
    )


# ---------------------------------------------------------------------- the app under test


@pytest.fixture
def registry() -> WorkflowRegistry:
    """The test workflows (see ``web_helpers.build_registry``)."""
    return build_registry()


@pytest.fixture
def engine(engine_factory: EngineFactory, registry: WorkflowRegistry) -> Any:
    """An engine of the backend under test, on the test workflows."""
    return engine_factory(registry)


@pytest.fixture
def client(engine: Any) -> Iterator[TestClient[Litestar]]:
    """A client of the plugin's API on ``engine`` (the app's lifespan starts and stops the engine)."""
    with TestClient(make_app(engine)) as test_client:
        yield test_client
