"""SQLite: a group commit's statements run as one job on the driver's thread.

aiosqlite runs every statement on its connection's own thread and hands the result back to the
event loop. Each hand-over costs a thread switch both ways (a tenth of a millisecond or more on
a busy machine), and a typical batch pays it seven times: ``BEGIN IMMEDIATE``, the lease check,
one ``executemany`` per table and ``COMMIT``. A start awaited on its own waits for all of them.
Here the whole transaction is one job on that thread: the same statements, in the same order,
with the same checks.

Only the common case takes this way: a batch whose leases are all still ours and whose instance
rows all still have the expected versions, on a database file (an in-memory database shared
with the application has its own connection discipline, :mod:`.shared_memory`). Anything else,
a failed check or an error from SQLite included, rolls back and returns ``False``: the store then
writes the batch the careful way, through SQLAlchemy, which reports errors and invalidates
broken connections as usual. ``aiosqlite.Connection._execute`` (run a function on the
connection's thread) is not public API; without it this module is simply not used.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence  # noqa: TC003 - the Rows alias is built at run time
from typing import TYPE_CHECKING, Any

from litestar_workflows.db.connection import mark_transaction_ended

if TYPE_CHECKING:
    from sqlalchemy.pool import PoolProxiedConnection

__all__ = ("Rows", "one_call_supported", "write_in_one_call")

Rows = tuple[
    "Sequence[tuple[Any, ...]]",
    "Sequence[tuple[Any, ...]]",
    "Sequence[tuple[Any, ...]]",
    "Sequence[tuple[Any, ...]]",
]
"""Instance rows to insert, instance rows to update (version checked), execution rows, task rows."""


def one_call_supported() -> bool:
    """Whether the installed aiosqlite lets a function run on a connection's thread."""
    try:
        import aiosqlite
    except ImportError:  # pragma: no cover - the db extra installs it
        return False
    return callable(getattr(aiosqlite.Connection, "_execute", None))


async def write_in_one_call(
    raw: PoolProxiedConnection,
    statements: tuple[str, str, str, str],
    lease_check: tuple[str, Sequence[Any]] | None,
    rows: Rows,
) -> bool:
    """Write ``rows`` in one transaction on ``conn``'s thread; ``False`` (rolled back) if it cannot.

    Args:
        raw: The pooled DBAPI connection of a connection of the store's SQLite engine, with no
            transaction open (``await conn.get_raw_connection()``).
        statements: The row writer's insert, update, execution upsert and task upsert statements.
        lease_check: A query returning the batch's executions leased to another process, and its
            parameters; any row returned fails the batch.
        rows: The parameters of each statement (see :data:`Rows`).
    """
    driver: Any = raw.driver_connection
    try:
        written: bool = await driver._execute(_write, driver._conn, statements, lease_check, rows)
    except sqlite3.Error:
        return False
    mark_transaction_ended(raw)
    return written


def _write(
    db: sqlite3.Connection,
    statements: tuple[str, str, str, str],
    lease_check: tuple[str, Sequence[Any]] | None,
    rows: Rows,
) -> bool:
    """The transaction itself, on the connection's thread (no event loop here)."""
    insert, update, upsert_runs, upsert_tasks = statements
    inserted, updated, runs, tasks = rows
    db.execute("BEGIN IMMEDIATE")
    try:
        if lease_check is not None and db.execute(*lease_check).fetchone() is not None:
            db.execute("ROLLBACK")
            return False
        if inserted:
            db.executemany(insert, inserted)
        if updated and db.executemany(update, updated).rowcount < len(updated):
            db.execute("ROLLBACK")
            return False
        if runs:
            db.executemany(upsert_runs, runs)
        if tasks:
            db.executemany(upsert_tasks, tasks)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
    return True
