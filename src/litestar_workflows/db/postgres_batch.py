"""PostgreSQL: new instances written by one statement, in one round trip.

A start awaited on its own waits for its commit, and on PostgreSQL every statement of a
transaction is a round trip to the server: ``BEGIN``, the instance row, its executions (and
tasks), ``COMMIT``. New instances need no check before they are written (no other transition
touches their rows until they are committed), so their rows go in as one ``INSERT`` whose
data-modifying ``WITH`` clauses insert the other tables' rows, sent outside any transaction:
PostgreSQL runs a single statement atomically and commits it (foreign keys are checked at the
end of the statement, when the instance row is there).

Used by the store's lane of new instances (``SQLAlchemyStore``), for batches without start keys
(those need ``ON CONFLICT`` on the key and go the usual way) and of moderate size (the
statement's parameters stay far below the protocol's limit of 32,767). Any error makes the store
write the batch the usual way, which reports it as it always did.

Every other batch without start keys first tries :func:`write_in_one_transaction`: the same checks
(instance versions and leases, rows locked in id order) and the same statements as the usual way,
sent straight through asyncpg. Through SQLAlchemy each statement costs a few tenths of a
millisecond of Python on top of its round trip, which the group commit pays on every batch.
"""

from __future__ import annotations

from contextlib import suppress
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from litestar_workflows.db.writer import (
    IMMUTABLE,
    INSTANCE_COLUMNS,
    RUN_COLUMNS,
    TASK_COLUMNS,
    VERSIONS_AND_LEASES,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection
    from sqlalchemy.pool import PoolProxiedConnection

__all__ = ("MAX_PARAMETERS", "insert_statement", "write_creations", "write_in_one_transaction")

MAX_PARAMETERS = 20_000
"""Batches with more parameters than this are written the usual way."""

_TABLES = (
    ("workflow_instances", INSTANCE_COLUMNS, False),
    ("workflow_step_executions", RUN_COLUMNS, True),
    ("workflow_human_tasks", TASK_COLUMNS, True),
)


@lru_cache(maxsize=256)
def insert_statement(counts: tuple[int, int, int]) -> str:
    """The statement inserting ``counts`` rows of instances, executions and tasks (one or more each).

    Execution and task rows are upserts, as in the usual write: the row of an execution that a
    batch both schedules and finishes is written once, with its latest values, by the caller.
    """
    parts: list[str] = []
    number = 0
    for (table, columns, upsert), count in zip(_TABLES, counts, strict=True):
        if not count:
            continue
        rows = []
        for _ in range(count):
            marks = ", ".join(f"${number + i + 1}" for i in range(len(columns)))
            number += len(columns)
            rows.append(f"({marks})")
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join(rows)}"
        if upsert:
            changes = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in IMMUTABLE)
            statement += f" ON CONFLICT (id) DO UPDATE SET {changes}"
        parts.append(statement)
    *first, last = parts
    if not first:
        return last
    return "WITH " + ", ".join(f"w{n} AS ({part})" for n, part in enumerate(first)) + " " + last


async def write_creations(
    raw: PoolProxiedConnection,
    instances: Sequence[tuple[Any, ...]],
    runs: Sequence[tuple[Any, ...]],
    tasks: Sequence[tuple[Any, ...]],
) -> None:
    """Insert the rows in one statement outside any transaction: committed when it returns.

    ``raw`` (a pooled asyncpg connection) must have no transaction open (none is begun here:
    the statement commits itself).
    """
    driver: Any = raw.driver_connection
    statement = insert_statement((len(instances), len(runs), len(tasks)))
    parameters = [value for rows in (instances, runs, tasks) for row in rows for value in row]
    await driver.execute(statement, *parameters)


async def write_in_one_transaction(  # noqa: PLR0917 - the batch's parts, as the careful way takes them
    conn: AsyncConnection,
    raw: PoolProxiedConnection,
    statements: tuple[str, str, str, str],
    expected: dict[Any, int],
    owner: str,
    leased: Sequence[Any],
    rows: tuple[Sequence[tuple[Any, ...]], ...],
) -> bool:
    """Write a batch in one transaction straight through asyncpg; ``False`` (rolled back) if it cannot.

    The common case of the group commit: every instance row still has the version the batch
    expects and no execution whose outcome it records is leased to another process. Then the
    rows are written exactly as the careful way writes them (the same statements and parameters,
    the same locks in the same order), without SQLAlchemy's work around each statement. Anything
    else (a conflict, a lease lost, an error) rolls back and returns ``False``: the store then
    writes the batch the careful way, which sorts out conflicts and reports errors. A connection
    whose transaction could not be ended is invalidated, never handed back to the pool.

    Args:
        conn: A connection of the store's PostgreSQL engine, with no transaction open.
        raw: Its pooled DBAPI connection (``await conn.get_raw_connection()``).
        statements: The row writer's insert, update, execution upsert and task upsert statements.
        expected: The version each updated instance's row must have, by instance id.
        owner: This process's lease owner name.
        leased: The executions whose outcome the batch records (leased here).
        rows: Instance rows to insert, to update, execution rows, task rows (sorted by id).
    """
    driver: Any = raw.driver_connection
    transaction = driver.transaction()
    try:
        await transaction.start()
        if expected or leased:
            found = await driver.fetch(VERSIONS_AND_LEASES, sorted(expected), list(leased), owner)
            versions = {row["id"]: row["version"] for row in found if row["version"] is not None}
            if len(versions) < len(found) or any(versions.get(i) != v for i, v in expected.items()):
                await transaction.rollback()
                return False
        for statement, parameters in zip(statements, rows, strict=True):
            if parameters:
                await driver.executemany(statement, list(parameters))
        await transaction.commit()
    except BaseException:
        await _abandon(conn, driver, transaction)
        raise
    return True


async def _abandon(conn: AsyncConnection, driver: Any, transaction: Any) -> None:
    """End a direct transaction that failed; invalidate the connection if it is still in one.

    A connection must never go back to the pool inside a transaction (or with asyncpg still
    holding this transaction as its current one): SQLAlchemy, which did not begin it, would not
    end it either.
    """
    try:
        with suppress(Exception):  # not started, ended already, or the connection broke: checked next
            await transaction.rollback()
        if driver.is_in_transaction():
            raise RuntimeError("the connection is still in a transaction")
    except BaseException:
        await conn.invalidate()
