"""SQLite: the store's reads of an instance as one job on the driver's thread.

Through SQLAlchemy, aiosqlite hands every driver call over to its connection's thread and back:
making a cursor, executing, fetching and closing it are four round trips per statement, and a
consistent read of an instance (``BEGIN``, its row, its history, its tasks, ``ROLLBACK``) costs
about twenty. Each one is a thread switch both ways, which on a busy machine adds up to
milliseconds for what SQLite itself answers in microseconds. Here the statements of a read run in
one job on that thread, inside one read transaction (so they see one snapshot, as before), and
the raw values are then turned into Python ones by the result processors of the tables' own
column types on the store engine's dialect: the rows are those SQLAlchemy would have returned.

Like :mod:`.sqlite_batch`, this relies on ``aiosqlite.Connection._execute``; when it is missing,
or SQLite raises anything, the store reads the careful way, through SQLAlchemy, which reports
errors and invalidates broken connections as usual.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, select

from litestar_workflows.db.connection import mark_transaction_ended
from litestar_workflows.db.queries import executions, instances, tasks

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from uuid import UUID

    from sqlalchemy import BindParameter
    from sqlalchemy.engine import Dialect
    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ("InstanceRows", "OneCallReader", "ReadFellThrough")

InstanceRows = tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]
"""An instance's row, its executions' rows (oldest first) and its tasks' rows, keyed by column."""


class ReadFellThrough(Exception):  # noqa: N818 - a signal to read the careful way, not an error
    """SQLite refused the job (rolled back): read the careful way, which reports the error if it persists."""


class _Query:
    """One statement compiled for the store's dialect, with a converter per selected column."""

    __slots__ = ("columns", "sql")

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        self.sql = str(statement.compile(dialect=dialect))
        self.columns: list[tuple[str, Callable[[Any], Any] | None]] = [
            (column.name, column.type.dialect_impl(dialect).result_processor(dialect, None))
            for column in statement.selected_columns
        ]

    def rows(self, raw: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
        columns = self.columns
        return [
            {name: value if convert is None or value is None else convert(value) for (name, convert), value in
             zip(columns, row, strict=True)}
            for row in raw
        ]  # fmt: skip


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
