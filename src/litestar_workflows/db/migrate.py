"""Create, upgrade and check the litestar-workflows database schema.

The schema is owned by the Alembic migrations shipped inside this package
(``litestar_workflows/db/migrations``). They are configured programmatically, so applications need no
``alembic.ini``, and they record their revision in a dedicated ``workflows_alembic_version`` table, so
an application's own Alembic history (in ``alembic_version``) never collides with ours.

Typical use::

    from litestar_workflows.db import upgrade_database

    upgrade_database("postgresql+asyncpg://app@db/app")  # at deploy time, outside any event loop

or, inside async code (e.g. an application's startup hook)::

    await upgrade_database_async(engine)
    await check_schema_current(engine)  # at store start-up: fail fast with a message naming the fix
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from advanced_alchemy.types import GUID
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Numeric, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from litestar_workflows.core.errors import StoreError
from litestar_workflows.db.connection import WRITE_OPTION, configure_engine, configure_sync_engine
from litestar_workflows.db.models import workflow_metadata

if TYPE_CHECKING:
    from sqlalchemy import Column
    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
    from sqlalchemy.types import TypeEngine

__all__ = (
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "WORKFLOW_TABLE_NAMES",
    "alembic_config",
    "check_schema_current",
    "current_revision",
    "downgrade_database",
    "downgrade_database_async",
    "head_revision",
    "migration_context_options",
    "revision_history",
    "upgrade_database",
    "upgrade_database_async",
)

MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory shipped in the package."""

VERSION_TABLE: Final = "workflows_alembic_version"
"""Where our migrations record their revision; not ``alembic_version``, which belongs to the app."""

WORKFLOW_TABLE_NAMES: Final = frozenset({*workflow_metadata.tables, VERSION_TABLE})
"""Every table litestar-workflows owns, version table included.

Exclude these from an application's own Alembic autogenerate so it neither re-creates nor drops them::

    context.configure(..., include_name=lambda name, type_, _: type_ != "table" or name not in
                      WORKFLOW_TABLE_NAMES)
"""

_FIX_HINT: Final = "run `litestar workflows migrate` or `litestar_workflows.db.upgrade_database(url)`"

_AlembicAction = Callable[[Config], None]

_GUID_BYTES: Final = 16

# Alembic keeps the running migration's context in module globals (``alembic.context``/``alembic.op``),
# so two runs in one process -- in two threads, or two coroutines interleaving at their awaits -- would
# corrupt each other. Runs are serialised per process; across processes, env.py's advisory lock does it.
_ALEMBIC_PROCESS_LOCK: Final = threading.Lock()
_ALEMBIC_LOOP_LOCKS: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    # Only ever look at our own tables, so autogenerate in a database shared with an application never
    # proposes to drop the application's tables (or our version table).
    if type_ == "table":
        return name in workflow_metadata.tables
    return True


def _compare_type(
    context: MigrationContext,
    inspected_column: Column[Any],
    metadata_column: Column[Any],
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    # SQLite has no BINARY type name in SQLAlchemy's reflection table, so the BINARY(16) our UUID columns
    # are created with reflects as NUMERIC(16) (type affinity) although the DDL is exactly right.
    if (
        context.dialect.name == "sqlite"
        and isinstance(metadata_type, GUID)
        and isinstance(inspected_type, Numeric)
        and inspected_type.precision == _GUID_BYTES
    ):
        return False
    return None  # Alembic's own comparison


def migration_context_options(dialect_name: str) -> dict[str, Any]:
    """The options our ``env.py`` configures Alembic with, for autogenerate and schema comparisons.

    Shared with the test-suite, which checks (with :func:`alembic.autogenerate.compare_metadata` and a
    ``MigrationContext`` configured with these options) that the migrations produce exactly the models.

    Args:
        dialect_name: The SQLAlchemy dialect name (``"postgresql"``, ``"sqlite"``, ...).

    Returns:
        Keyword options for ``EnvironmentContext.configure`` / ``MigrationContext.configure(opts=...)``.
    """
    return {
        "target_metadata": workflow_metadata,
        "version_table": VERSION_TABLE,
        "include_name": _include_name,
        "compare_type": _compare_type,
        "compare_server_default": True,
        # SQLite cannot ALTER most things; batch mode recreates the table instead.
        "render_as_batch": dialect_name == "sqlite",
    }


def alembic_config() -> Config:
    """Build the Alembic configuration for our migrations, without any ini file.

    Exposed for maintainers and advanced users (e.g. ``command.history(alembic_config())`` or writing a
    new revision with autogenerate against a scratch database); applications should use
    :func:`upgrade_database` / :func:`upgrade_database_async`.

    Returns:
        A fresh :class:`alembic.config.Config` pointing at :data:`MIGRATIONS_DIR`.
    """
    config = Config()
    # ConfigParser interpolates "%": escape it so paths containing a percent sign survive.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


@functools.cache
def _script_directory() -> ScriptDirectory:
    # Parsing the revision files is not free and they cannot change while the process runs.
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision a fully migrated database is at, for this version of litestar-workflows.

    Returns:
        The head revision id.
    """
    head = _script_directory().get_current_head()
    if head is None:  # pragma: no cover - would mean the package was shipped without migrations
        msg = f"no migrations found in {MIGRATIONS_DIR}; the litestar-workflows installation is broken"
        raise StoreError(msg)
    return head


def revision_history() -> list[tuple[str, str | None, str]]:
    """The shipped migrations, newest first: each revision, the one it follows and what it does.

    For ``litestar workflows migrate history``; the descriptions are the first line of each
    migration's docstring.
    """
    return [
        (script.revision, script.down_revision if isinstance(script.down_revision, str) else None, script.doc)
        for script in _script_directory().walk_revisions()
    ]


def _redacted(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _unreachable(url: URL, exc: BaseException) -> StoreError:
    return StoreError(f"cannot connect to the workflows database at {_redacted(url)}: {exc}")


@contextlib.asynccontextmanager
async def _connected(db_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Open a connection, turning every way of failing to reach the database into one clear error."""
    try:
        connection = await db_engine.connect()
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        raise _unreachable(db_engine.url, exc) from exc
    try:
        yield connection
    finally:
        await connection.close()


@contextlib.contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    """Suspend SQLite foreign-key enforcement for the duration of a migration.

    Batch migrations rebuild a table by copy-drop-rename; with ``PRAGMA foreign_keys=ON`` (which a store
    enables for ``ON DELETE CASCADE``) dropping ``workflow_instances`` would cascade-delete every step
    and task. The pragma is a no-op inside a transaction, so it is switched before ours begins and
    restored afterwards.
    """
    if connection.dialect.name != "sqlite":
        yield
        return
    enabled = bool(connection.exec_driver_sql("PRAGMA foreign_keys").scalar())
    if enabled:
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        if enabled:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def _run_alembic(connection: Connection, action: _AlembicAction) -> None:
    """Run an Alembic command over an open connection (our ``env.py`` picks it up), in one transaction.

    On PostgreSQL DDL is transactional, so a failing migration leaves the schema exactly as it was. On
    SQLite the driver commits each DDL statement by itself: a failure can leave a partial migration.
    """
    config = alembic_config()
    config.attributes["connection"] = connection
    # On a store engine (see configure_engine), SQLite then begins with BEGIN IMMEDIATE: the write
    # lock is waited for up front. A deferred transaction that read the revision table first failed
    # with "database is locked" at its first DDL when another connection had written meanwhile.
    connection.execution_options(**{WRITE_OPTION: True})
    with _ALEMBIC_PROCESS_LOCK, _sqlite_foreign_keys_off(connection), connection.begin():
        action(config)


_COLUMNS_ADDED: Final[dict[str, dict[str, frozenset[str]]]] = {
    "0002": {
        "workflow_instances": frozenset({"key"}),
        "workflow_step_executions": frozenset({"error_type", "stack_trace"}),
    },
}
"""Columns each revision after 0001 added, newest last: to tell which release's ``create_all``
made an unversioned schema."""


def _matches_models(connection: Connection, without: Mapping[str, frozenset[str]] | None = None) -> bool:
    """Tell whether every one of our tables exists with every column of the models.

    That is what ``UUIDAuditBase.metadata.create_all`` (the documented way) leaves behind: our
    current schema, without our revision table. ``without`` leaves out columns of later revisions
    (per table): the schema an older release's ``create_all`` made.
    """
    inspector = inspect(connection)
    existing = set(inspector.get_table_names())
    for table in workflow_metadata.tables.values():
        if table.name not in existing:
            return False
        columns = {column["name"] for column in inspector.get_columns(table.name)}
        wanted = set(table.columns.keys()) - (without or {}).get(table.name, frozenset())
        if not wanted <= columns:
            return False
    return True


def _created_revision(connection: Connection) -> str | None:
    """The revision an unversioned schema made by ``create_all`` is at, or ``None`` if it is not one."""
    if _matches_models(connection):
        return "head"
    later: dict[str, set[str]] = {}
    revisions = list(_COLUMNS_ADDED)
    for index in range(len(revisions) - 1, -1, -1):  # newest first: 0002 back to 0001
        for table, columns in _COLUMNS_ADDED[revisions[index]].items():
            later.setdefault(table, set()).update(columns)
        if _matches_models(connection, {t: frozenset(c) for t, c in later.items()}):
            return revisions[index - 1] if index else "0001"
    return None


def _adopt_created_schema(config: Config) -> None:
    """Stamp the revision of a schema made by ``create_all`` (unversioned, matching some release's models).

    Without it the first migration would try to create tables that exist already. A schema an
    older release created is stamped at that release's revision, and the upgrade adds the rest.
    """
    connection = config.attributes["connection"]
    if _read_revision(connection) is None:
        revision = _created_revision(connection)
        if revision is not None:
            command.stamp(config, revision)


MIGRATION_LOCK_KEY: Final = 0x6C77_6D69_6772
"""Names the PostgreSQL advisory lock that serialises migrations across processes ("lwmigr")."""


def lock_migrations(connection: Connection) -> None:
    """On PostgreSQL, wait for other processes' migrations; held until this transaction ends.

    Re-entrant within the transaction (``env.py`` takes it again around the migrations).
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})


def _upgrade(config: Config, revision: str) -> None:
    # Under the lock: deciding which release made an unversioned schema while another process
    # commits its migration would stamp it older than it is, and the upgrade would add columns twice.
    lock_migrations(config.attributes["connection"])
    _adopt_created_schema(config)
    command.upgrade(config, revision)


def _upgrade_action(revision: str) -> _AlembicAction:
    return functools.partial(_upgrade, revision=revision)


def _downgrade_action(revision: str) -> _AlembicAction:
    return functools.partial(command.downgrade, revision=revision)


def _migration_failed(url: URL, verb: str, revision: str, exc: BaseException) -> StoreError:
    return StoreError(f"could not {verb} the workflows database at {_redacted(url)} to {revision!r}: {exc}")


def _loop_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _ALEMBIC_LOOP_LOCKS.get(loop)
    if lock is None:
        lock = _ALEMBIC_LOOP_LOCKS[loop] = asyncio.Lock()
    return lock


async def _run_async(db_engine: AsyncEngine, action: _AlembicAction, verb: str, revision: str) -> None:
    # Queue coroutines of this loop here, without blocking the loop, before they reach the process lock
    # (taken in _run_alembic, on the loop's thread): otherwise a second coroutine would block the loop
    # while waiting for a first one that needs the loop to finish.
    async with _loop_lock(), _connected(db_engine) as connection:
        try:
            await connection.run_sync(_run_alembic, action)
        except (SQLAlchemyError, CommandError) as exc:
            raise _migration_failed(db_engine.url, verb, revision, exc) from exc


def _run_sync(db_engine: Engine, action: _AlembicAction, verb: str, revision: str) -> None:
    try:
        connection = db_engine.connect()
    except (OSError, TimeoutError, SQLAlchemyError) as exc:
        raise _unreachable(db_engine.url, exc) from exc
    with connection:
        try:
            _run_alembic(connection, action)
        except (SQLAlchemyError, CommandError) as exc:
            raise _migration_failed(db_engine.url, verb, revision, exc) from exc


def _run_with_url(
    url: str | URL,
    action: _AlembicAction,
    verb: str,
    revision: str,
    engine_options: Mapping[str, Any] | None,
) -> None:
    sa_url = make_url(url)
    options: dict[str, Any] = {"poolclass": NullPool, **(engine_options or {})}
    if not sa_url.get_dialect().is_async:
        sync_engine = create_engine(sa_url, **options)
        configure_sync_engine(sync_engine)  # SQLite: writers queue for the lock (see _run_alembic)
        try:
            _run_sync(sync_engine, action, verb, revision)
        finally:
            sync_engine.dispose()
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        msg = (
            f"{verb}_database() cannot use the async driver {sa_url.drivername!r} inside a running event "
            f"loop; use `await {verb}_database_async(engine)` instead"
        )
        raise StoreError(msg)

    async def run() -> None:
        async_engine = create_async_engine(sa_url, **options)
        configure_engine(async_engine)  # SQLite: processes migrating at once queue for the write lock
        try:
            await _run_async(async_engine, action, verb, revision)
        finally:
            await async_engine.dispose()

    asyncio.run(run())


def upgrade_database(
    url: str | URL,
    revision: str = "head",
    *,
    engine_options: Mapping[str, Any] | None = None,
) -> None:
    """Migrate the database at ``url`` up to ``revision`` (the latest schema by default).

    Meant for deploy scripts and CLIs: it creates and disposes its own engine. Async URLs
    (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``) are run over an async engine on a private event
    loop, so this must not be called while an event loop is running in the thread -- use
    :func:`upgrade_database_async` there. Sync URLs (``sqlite://``, ``postgresql+psycopg://``) work
    anywhere. Safe to run concurrently from several processes on PostgreSQL (an advisory lock serialises
    them) and a no-op when the database is already current.

    Args:
        url: SQLAlchemy database URL.
        revision: Target revision; ``"head"`` for the latest.
        engine_options: Extra keyword arguments for the engine, e.g.
            ``{"connect_args": {"server_settings": {"search_path": "workflows"}}}``.

    Raises:
        StoreError: The database cannot be reached (message names the URL without its password), or a
            migration failed.
    """
    _run_with_url(url, _upgrade_action(revision), "upgrade", revision, engine_options)


def downgrade_database(
    url: str | URL,
    revision: str = "base",
    *,
    engine_options: Mapping[str, Any] | None = None,
) -> None:
    """Migrate the database at ``url`` down to ``revision``; ``"base"`` drops every workflows table.

    Same calling rules as :func:`upgrade_database`.

    Args:
        url: SQLAlchemy database URL.
        revision: Target revision; ``"base"`` removes the whole schema (and all workflow data).
        engine_options: Extra keyword arguments for the engine.

    Raises:
        StoreError: The database cannot be reached, or a migration failed.
    """
    _run_with_url(url, _downgrade_action(revision), "downgrade", revision, engine_options)


async def upgrade_database_async(db_engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate the database behind ``db_engine`` up to ``revision``, from async code.

    Alembic itself is synchronous; this runs it through ``AsyncConnection.run_sync`` in one
    transaction, so it is safe to call from a running event loop (e.g. an application's startup).

    Args:
        db_engine: The engine to migrate through; it is not disposed.
        revision: Target revision; ``"head"`` for the latest.

    Raises:
        StoreError: The database cannot be reached, or a migration failed.
    """
    await _run_async(db_engine, _upgrade_action(revision), "upgrade", revision)


async def downgrade_database_async(db_engine: AsyncEngine, revision: str = "base") -> None:
    """Migrate the database behind ``db_engine`` down to ``revision``, from async code.

    Args:
        db_engine: The engine to migrate through; it is not disposed.
        revision: Target revision; ``"base"`` removes the whole schema (and all workflow data).

    Raises:
        StoreError: The database cannot be reached, or a migration failed.
    """
    await _run_async(db_engine, _downgrade_action(revision), "downgrade", revision)


def _read_revision(connection: Connection) -> str | None:
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


async def current_revision(db_engine: AsyncEngine) -> str | None:
    """The schema revision the database is at.

    Args:
        db_engine: The engine to inspect.

    Returns:
        The revision id, or ``None`` when the workflows schema has never been installed.

    Raises:
        StoreError: The database cannot be reached.
    """
    async with _connected(db_engine) as connection:
        try:
            return await connection.run_sync(_read_revision)
        except (SQLAlchemyError, CommandError) as exc:
            msg = f"cannot read the workflows schema revision at {_redacted(db_engine.url)}: {exc}"
            raise StoreError(msg) from exc


async def _created_schema_current(db_engine: AsyncEngine) -> bool:
    async with _connected(db_engine) as connection:
        try:
            return await connection.run_sync(_matches_models)
        except SQLAlchemyError as exc:
            msg = f"cannot inspect the workflows schema at {_redacted(db_engine.url)}: {exc}"
            raise StoreError(msg) from exc


async def check_schema_current(db_engine: AsyncEngine) -> None:
    """Fail fast, with a message naming the fix, unless the schema is exactly at our head revision.

    A schema without our revision table whose tables and columns match the models (what the
    documented ``UUIDAuditBase.metadata.create_all`` makes) is current too; the next upgrade stamps it.

    Stores call this at start-up so that a forgotten migration surfaces as one clear error instead of
    "no such table"/"column does not exist" errors deep inside the first workflow run.

    Args:
        db_engine: The engine the store will use.

    Raises:
        StoreError: The database cannot be reached; the schema is missing or behind (the message says to
            run ``litestar workflows migrate`` or :func:`upgrade_database`); or the database is at a
            revision this version of the package does not know (it was migrated by a newer release).
    """
    current = await current_revision(db_engine)
    expected = head_revision()
    if current == expected:
        return
    where = _redacted(db_engine.url)
    if current is None and await _created_schema_current(db_engine):
        return  # made by create_all, as documented: current, and adopted by the next migrate
    if current is None:
        msg = (
            f"the database at {where} has no litestar-workflows schema (table {VERSION_TABLE!r} is missing; "
            f"expected revision {expected!r}): {_FIX_HINT}"
        )
        raise StoreError(msg)
    try:
        known = _script_directory().get_revision(current) is not None
    except CommandError:
        known = False
    if not known:
        msg = (
            f"the database at {where} is at revision {current!r}, which this version of litestar-workflows "
            f"does not know (expected {expected!r}); it was probably migrated by a newer release: "
            "upgrade the litestar-workflows package"
        )
        raise StoreError(msg)
    msg = f"the database at {where} is at revision {current!r}, expected {expected!r}: {_FIX_HINT}"
    raise StoreError(msg)
