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
    INSTANCE_CHANGING,
    INSTANCE_COLUMNS,
    RUN_COLUMNS,
    TASK_COLUMNS,
    VERSIONS_AND_LEASES,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection
    from sqlalchemy.pool import PoolProxiedConnection

__all__ = (
    "MAX_PARAMETERS",
    "batch_statement",
    "insert_statement",
    "write_creations",
    "write_in_one_statement",
    "write_in_one_transaction",
)

_DIVISION_BY_ZERO = "22012"
"""The SQLSTATE with which :func:`batch_statement` refuses a batch that met a conflict."""

_UPDATE_TYPES = (
    "varchar", "varchar", "jsonb", "text", "timestamptz",
    "integer", "jsonb", "timestamptz", "uuid", "integer",
)  # fmt: skip
"""The types of an instance update's values (``INSTANCE_CHANGING``, the id, the expected version).

In ``VALUES`` they have no column to take a type from, so each is cast.
"""

MAX_PARAMETERS = 20_000
"""Batches with more parameters than this are written the usual way."""

_TABLES = (
    ("workflow_instances", INSTANCE_COLUMNS, False),
    ("workflow_step_executions", RUN_COLUMNS, True),
    ("workflow_human_tasks", TASK_COLUMNS, True),
)


def _value_rows(start: int, count: int, types: tuple[str, ...]) -> str:
    """``count`` rows of numbered parameters from ``$start + 1`` on, each value cast to its type.

    A type ``""`` leaves the value uncast (it takes the type of the column it goes into).
    """
    width = len(types)
    return ", ".join(
        "("
        + ", ".join(f"${start + r * width + i + 1}" + (f"::{t}" if t else "") for i, t in enumerate(types))
        + ")"
        for r in range(count)
    )


def _upsert(columns: tuple[str, ...]) -> str:
    """An upsert's conflict clause: every column but those fixed at creation takes the new value."""
    changes = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in IMMUTABLE)
    return f" ON CONFLICT (id) DO UPDATE SET {changes}"


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
        rows = _value_rows(number, count, ("",) * len(columns))
        number += count * len(columns)
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {rows}"
        parts.append(statement + _upsert(columns) if upsert else statement)
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


@lru_cache(maxsize=256)
def batch_statement(counts: tuple[int, int, int, int]) -> str:
    """One statement writing a group commit's rows, refusing the whole batch on any conflict.

    ``counts``: instance rows to insert, instance rows to update (each with the version its row
    must still have), execution rows and task rows, each table's rows in one ``WITH`` clause.
    Parameters are the rows' values in that order, then the ids of the executions whose outcome
    the batch records (an array) and this process's lease owner.

    What the careful way checks first under row locks is checked by the writes themselves, each of
    which locks the row it writes and sees its latest committed version: an instance row is
    updated only at the version the batch expects, and an execution whose outcome the batch
    records only while no other owner leases it. The final ``SELECT`` divides by zero unless every
    one of those writes happened, which aborts the statement, and with it every write it made.
    The instance rows are updated first, by one ``UPDATE ... FROM (VALUES ...)`` (one clause per
    row was planned and run row by row: ten rows took 2.4 ms against 1.45), then the executions
    are written; a deadlock with another writer (the server picks one to fail) sends the batch
    the careful way, which locks in id order.
    """
    inserted, updated, runs, tasks = counts
    widths = (len(INSTANCE_COLUMNS), len(INSTANCE_CHANGING) + 2, len(RUN_COLUMNS), len(TASK_COLUMNS))
    total = sum(count * width for count, width in zip(counts, widths, strict=True))
    leased, owner = f"${total + 1}", f"${total + 2}"  # after every row's values
    clauses: list[str] = []
    checked: list[str] = []
    number = 0

    def values(columns: tuple[str, ...], count: int, types: tuple[str, ...] | None = None) -> str:
        nonlocal number
        rows = _value_rows(number, count, types or ("",) * len(columns))
        number += count * len(columns)
        return rows

    if inserted:
        rows = values(INSTANCE_COLUMNS, inserted)
        clauses.append(f"i AS (INSERT INTO workflow_instances ({', '.join(INSTANCE_COLUMNS)}) VALUES {rows})")
    if updated:
        names = (*INSTANCE_CHANGING, "id", "expected")
        rows = values(names, updated, _UPDATE_TYPES)
        sets = ", ".join(f"{c} = n.{c}" for c in INSTANCE_CHANGING)
        clauses.append(
            f"u AS (UPDATE workflow_instances AS w SET {sets} FROM (VALUES {rows}) AS n({', '.join(names)}) "
            "WHERE w.id = n.id AND w.version = n.expected RETURNING 1)"
        )
        checked.append("(SELECT count(*) FROM u)")
    lease_kept = (
        f" WHERE NOT coalesce(workflow_step_executions.id = ANY({leased}::uuid[]) AND "
        f"workflow_step_executions.lease_owner <> {owner}::text, false)"
    )
    for name, table, columns, count, condition in (
        ("r", "workflow_step_executions", RUN_COLUMNS, runs, lease_kept),
        ("t", "workflow_human_tasks", TASK_COLUMNS, tasks, ""),
    ):
        if count:
            rows = values(columns, count)
            clauses.append(
                f"{name} AS (INSERT INTO {table} ({', '.join(columns)}) VALUES {rows}"
                f"{_upsert(columns)}{condition} RETURNING 1)"
            )
    if runs:
        checked.append("(SELECT count(*) FROM r)")
    statement = "WITH " + ", ".join(clauses) + " SELECT 1 / (CASE WHEN "
    statement += (" + ".join(checked) or "0") + f" = {updated + runs} THEN 1 ELSE 0 END)"
    if not runs:  # the lease parameters are sent all the same: the server must be able to type them
        statement += f" WHERE cardinality({leased}::uuid[]) >= 0 AND {owner}::text IS NOT NULL"
    return statement


async def write_in_one_statement(
    raw: PoolProxiedConnection,
    owner: str,
    leased: Sequence[Any],
    rows: tuple[Sequence[tuple[Any, ...]], ...],
) -> bool:
    """Write a group commit in one statement outside any transaction (:func:`batch_statement`).

    One round trip where :func:`write_in_one_transaction` takes six (``BEGIN``, the check, one
    ``executemany`` per table, ``COMMIT``), committed when it returns. ``False`` when the batch
    must go the careful way: an instance changed elsewhere, or a lease was lost (nothing was
    written). Any other error is raised; ``raw`` (a pooled asyncpg connection) must have no
    transaction open, and none is left open.

    Args:
        raw: The pooled DBAPI connection of a connection of the store's PostgreSQL engine.
        owner: This process's lease owner name.
        leased: The executions whose outcome the batch records (leased here).
        rows: Instance rows to insert, to update (the expected version last), execution rows, task
            rows (sorted by id, as the careful way locks them).
    """
    driver: Any = raw.driver_connection
    inserted, updated, runs, tasks = rows
    statement = batch_statement((len(inserted), len(updated), len(runs), len(tasks)))
    parameters = [value for part in rows for row in part for value in row]
    try:
        await driver.execute(statement, *parameters, list(leased), owner)
    except Exception as error:
        if getattr(error, "sqlstate", None) == _DIVISION_BY_ZERO:
            return False  # the batch's own refusal (see batch_statement)
        raise
    return True


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
