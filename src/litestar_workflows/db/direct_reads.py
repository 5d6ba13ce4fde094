"""The store's reads of an instance straight through the driver, in one call.

Through SQLAlchemy's async adapters a read costs several round trips to the driver per statement,
and a consistent read of an instance (``BEGIN``, its row, its history, its tasks, ``ROLLBACK``)
a dozen or more: each a few tenths of a millisecond of Python and waiting, for what the database
answers in microseconds. So the store reads an instance here in one call:

- **SQLite** (aiosqlite): the statements run as one job on the connection's own thread, inside
  one read transaction (one snapshot, as before), instead of some twenty hand-overs to that
  thread and back. Like :mod:`.sqlite_batch`, this relies on ``aiosqlite.Connection._execute``.
- **PostgreSQL** (asyncpg): one statement returns the instance's row with its executions and
  tasks as arrays of table rows (one statement sees one snapshot), which asyncpg decodes with
  the same codecs as plain columns.

Either way the values are then converted by the result processors of the tables' own column
types on the store engine's dialect, so the rows are those SQLAlchemy would have returned. On
SQLite the two commonest, timestamps and ids, are converted by equivalents that cost a fraction
(:func:`fast_converter`): a microsecond each through SQLAlchemy, some two hundred per instance. When
the driver raises anything, the store reads the careful way, through SQLAlchemy, which reports
errors and invalidates broken connections as usual.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID, SafeUUID

from advanced_alchemy.types import GUID, DateTimeUTC
from sqlalchemy import Select, bindparam, select

from litestar_workflows.db.connection import mark_transaction_ended
from litestar_workflows.db.queries import executions, instances, tasks

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from sqlalchemy import BindParameter, ColumnElement
    from sqlalchemy.engine import Dialect
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = (
    "InstanceRows",
    "OneCallReader",
    "PostgresReader",
    "ReadFellThrough",
    "fast_converter",
    "reader_for",
)

InstanceRows = tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]
"""An instance's row, its executions' rows (oldest first) and its tasks' rows, keyed by column."""


class ReadFellThrough(Exception):  # noqa: N818 - a signal to read the careful way, not an error
    """The driver refused the read (nothing was read): read the careful way, which reports a lasting error."""


class _Columns:
    """A converter per selected column: the column type's result processor on the store's dialect."""

    __slots__ = ("columns",)

    def __init__(self, selected: Iterable[ColumnElement[Any]], dialect: Dialect) -> None:
        self.columns: list[tuple[str, Callable[[Any], Any] | None]] = [
            (
                column.name,
                fast_converter(
                    column.type, dialect, column.type.dialect_impl(dialect).result_processor(dialect, None)
                ),
            )
            for column in selected
        ]

    def rows(self, raw: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
        """Rows whose values come in the order of the columns."""
        return [_converted(zip(self.columns, row, strict=True)) for row in raw]

    def records(self, raw: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Rows whose values are found by column name (asyncpg records of a table's row type)."""
        return [_converted((column, row[column[0]]) for column in self.columns) for row in raw]


def _converted(pairs: Iterable[tuple[tuple[str, Callable[[Any], Any] | None], Any]]) -> dict[str, Any]:
    """A row keyed by column name, each value made a Python one by its column's converter."""
    return {
        name: value if convert is None or value is None else convert(value)
        for (name, convert), value in pairs
    }


def fast_converter(
    column_type: Any, dialect: Dialect, processor: Callable[[Any], Any] | None
) -> Callable[[Any], Any] | None:
    """``processor`` (a column type's result processor), or on SQLite an equivalent that costs less.

    Timestamps (``DateTimeUTC``) and ids (``GUID``) are most of an instance's values. SQLAlchemy
    parses SQLite's timestamp text with a regular expression and then sets the zone, and builds ids
    through ``UUID.__init__``'s checks: about a microsecond each. The equivalents take the form the
    store (and SQLAlchemy) writes, 26 characters of text and 16 bytes, at C speed, and hand
    anything else to ``processor``: the results are the same values either way.
    """
    if processor is None or dialect.name != "sqlite":
        return processor
    if isinstance(column_type, DateTimeUTC):
        return _sqlite_timestamp(processor)
    if isinstance(column_type, GUID) and column_type.binary:
        return _sqlite_id(processor)
    return processor


def _sqlite_timestamp(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    parse = datetime.fromisoformat

    def convert(value: Any) -> Any:
        # "YYYY-MM-DD HH:MM:SS.ffffff", in UTC: the text of SQLAlchemy's SQLite DATETIME, which any
        # of its versions reads as this does (other texts go to it, whatever it makes of them).
        if type(value) is str and len(value) == _TIMESTAMP_LENGTH and value[10] == " " and value[19] == ".":
            try:
                return parse(value + "+00:00")
            except ValueError:
                pass
        return processor(value)

    return convert


def _sqlite_id(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    new, assign, from_bytes, unknown = object.__new__, object.__setattr__, int.from_bytes, SafeUUID.unknown

    def convert(value: Any) -> Any:
        if type(value) is bytes and len(value) == _ID_LENGTH:  # what UUID(bytes=value) takes
            uid = new(UUID)
            assign(uid, "int", from_bytes(value))
            assign(uid, "is_safe", unknown)
            return uid
        return processor(value)

    return convert


_TIMESTAMP_LENGTH = 26
_ID_LENGTH = 16


class _Query(_Columns):
    """One statement compiled for the store's dialect, with a converter per selected column."""

    __slots__ = ("sql",)

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        super().__init__(statement.selected_columns, dialect)
        self.sql = str(statement.compile(dialect=dialect))


def reader_for(db_engine: AsyncEngine, one_call_sqlite: bool) -> OneCallReader | PostgresReader | None:
    """The direct reader for a store engine: SQLite files with ``one_call_sqlite``, PostgreSQL on asyncpg."""
    dialect = db_engine.dialect
    if one_call_sqlite:
        return OneCallReader(dialect)
    if dialect.name == "postgresql" and dialect.driver == "asyncpg":
        return PostgresReader(dialect)
    return None


class OneCallReader:
    """The instance reads of a store on a SQLite file, each in one call to the driver's thread.

    Args:
        dialect: The store engine's dialect (its JSON deserializer is the one the store set up).
    """

    def __init__(self, dialect: Dialect) -> None:
        instance_id: BindParameter[Any] = bindparam("instance_id")
        self._instance = _Query(select(instances).where(instances.c.id == instance_id), dialect)
        self._runs = _Query(
            select(executions)
            .where(executions.c.instance_id == instance_id)
            .order_by(executions.c.created_at, executions.c.id),
            dialect,
        )
        self._tasks = _Query(select(tasks).where(tasks.c.instance_id == instance_id), dialect)
        self._version = _Query(select(instances.c.version).where(instances.c.id == instance_id), dialect)
        self._versions = _Columns((instances.c.id, instances.c.version), dialect)
        bind = instances.c.id.type.dialect_impl(dialect).bind_processor(dialect)
        self._bind_id: Callable[[Any], Any] = bind if bind is not None else _same

    async def load(self, conn: AsyncConnection, instance_id: UUID) -> InstanceRows | None:
        """The instance's rows, or ``None`` when it does not exist.

        Args:
            conn: A connection of the store's SQLite engine, with no transaction open.
            instance_id: The instance to read.

        Raises:
            ReadFellThrough: SQLite raised an error; nothing was read.
        """
        key = (self._bind_id(instance_id),)
        statements = ((self._instance.sql, key), (self._runs.sql, key), (self._tasks.sql, key))
        raw = await _run(conn, statements, stop_if_first_empty=True)
        if not raw[0]:
            return None
        row = self._instance.rows(raw[0])[0]
        return row, self._runs.rows(raw[1]), self._tasks.rows(raw[2])

    async def version(self, conn: AsyncConnection, instance_id: UUID) -> int | None:
        """The stored version of the instance, or ``None`` when it does not exist.

        Raises:
            ReadFellThrough: SQLite raised an error; nothing was read.
        """
        raw = await _run(
            conn, ((self._version.sql, (self._bind_id(instance_id),)),), stop_if_first_empty=False
        )
        version: int | None = raw[0][0][0] if raw[0] else None
        return version

    async def versions(self, conn: AsyncConnection, ids: Sequence[UUID], chunk: int) -> dict[UUID, int]:
        """The stored version of each of the instances that exists (``chunk`` ids per statement).

        Raises:
            ReadFellThrough: SQLite raised an error; nothing was read.
        """
        bind = self._bind_id
        statements = []
        for start in range(0, len(ids), chunk):
            keys = tuple(bind(i) for i in ids[start : start + chunk])
            marks = ", ".join("?" * len(keys))
            statements.append((f"SELECT id, version FROM workflow_instances WHERE id IN ({marks})", keys))
        raw = await _run(conn, statements, stop_if_first_empty=False)
        return {row["id"]: row["version"] for rows in raw for row in self._versions.rows(rows)}


def _same(value: Any) -> Any:
    return value


async def _run(
    conn: AsyncConnection, statements: Sequence[tuple[str, tuple[Any, ...]]], *, stop_if_first_empty: bool
) -> list[list[tuple[Any, ...]]]:
    """Raw rows of each statement, read in one transaction on ``conn``'s thread."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        rows: list[list[tuple[Any, ...]]] = await driver._execute(
            _read, driver._conn, statements, stop_if_first_empty
        )
    except sqlite3.Error as error:
        raise ReadFellThrough(str(error)) from error
    mark_transaction_ended(raw)
    return rows


def _read(
    db: sqlite3.Connection, statements: Sequence[tuple[str, tuple[Any, ...]]], stop_if_first_empty: bool
) -> list[list[tuple[Any, ...]]]:
    """The read itself, on the connection's thread (no event loop here).

    A deferred transaction: in WAL mode a reader takes no lock that writers wait for, and all
    statements see the database as it was at the first one.
    """
    if len(statements) == 1:  # one statement is a snapshot by itself
        return [db.execute(*statements[0]).fetchall()]
    results: list[list[tuple[Any, ...]]] = []
    db.execute("BEGIN")
    try:
        for sql, parameters in statements:
            rows = db.execute(sql, parameters).fetchall()
            results.append(rows)
            if stop_if_first_empty and not rows:
                break
    finally:
        db.execute("ROLLBACK")
    return results


class PostgresReader:
    """The instance reads of a store on PostgreSQL (asyncpg), each one statement.

    Args:
        dialect: The store engine's dialect.
    """

    _LOAD = (
        "SELECT i.*,"
        " ARRAY(SELECT e FROM workflow_step_executions e WHERE e.instance_id = i.id"
        " ORDER BY e.created_at, e.id) AS history,"
        " ARRAY(SELECT t FROM workflow_human_tasks t WHERE t.instance_id = i.id) AS tasks"
        " FROM workflow_instances i WHERE i.id = $1"
    )
    _VERSION = "SELECT version FROM workflow_instances WHERE id = $1"
    _VERSIONS = "SELECT id, version FROM workflow_instances WHERE id = ANY($1::uuid[])"

    def __init__(self, dialect: Dialect) -> None:
        self._instance = _Columns(instances.columns, dialect)
        self._runs = _Columns(executions.columns, dialect)
        self._tasks = _Columns(tasks.columns, dialect)
        self._versions = _Columns((instances.c.id, instances.c.version), dialect)

    async def load(self, conn: AsyncConnection, instance_id: UUID) -> InstanceRows | None:
        """The instance's rows, or ``None`` when it does not exist.

        Args:
            conn: A connection of the store's PostgreSQL engine, with no transaction open.
            instance_id: The instance to read.

        Raises:
            ReadFellThrough: The driver raised an error; nothing was read.
        """
        row = await _fetchrow(conn, self._LOAD, instance_id)
        if row is None:
            return None
        try:
            return (
                self._instance.records([row])[0],
                self._runs.records(row["history"]),
                self._tasks.records(row["tasks"]),
            )
        except KeyError as error:  # the table lacks a column the models have: an older schema
            raise ReadFellThrough(f"no column {error} in the stored rows") from error

    async def version(self, conn: AsyncConnection, instance_id: UUID) -> int | None:
        """The stored version of the instance, or ``None`` when it does not exist.

        Raises:
            ReadFellThrough: The driver raised an error; nothing was read.
        """
        row = await _fetchrow(conn, self._VERSION, instance_id)
        return None if row is None else int(row[0])

    async def versions(self, conn: AsyncConnection, ids: Sequence[UUID], chunk: int) -> dict[UUID, int]:
        """The stored version of each of the instances that exists (``chunk`` ids per statement).

        Raises:
            ReadFellThrough: The driver raised an error; nothing was read.
        """
        found: dict[UUID, int] = {}
        for start in range(0, len(ids), chunk):
            rows = await _fetch(conn, self._VERSIONS, list(ids[start : start + chunk]))
            found.update((row["id"], row["version"]) for row in self._versions.records(rows))
        return found


async def _fetchrow(conn: AsyncConnection, sql: str, *arguments: Any) -> Any:
    """One row of ``sql`` straight from asyncpg, outside any transaction (the statement is its snapshot)."""
    rows = await _fetch(conn, sql, *arguments)
    return rows[0] if rows else None


async def _fetch(conn: AsyncConnection, sql: str, *arguments: Any) -> Any:
    """The rows of ``sql`` straight from asyncpg, outside any transaction."""
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    try:
        return await driver.fetch(sql, *arguments)
    except Exception as error:
        raise ReadFellThrough(str(error)) from error
