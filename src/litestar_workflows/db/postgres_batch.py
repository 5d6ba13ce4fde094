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
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from litestar_workflows.db.writer import IMMUTABLE, INSTANCE_COLUMNS, RUN_COLUMNS, TASK_COLUMNS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ("MAX_PARAMETERS", "insert_statement", "write_creations")

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
    conn: AsyncConnection,
    instances: Sequence[tuple[Any, ...]],
    runs: Sequence[tuple[Any, ...]],
    tasks: Sequence[tuple[Any, ...]],
) -> None:
    """Insert the rows in one statement outside any transaction: committed when it returns.

    ``conn`` must have no transaction open (none is begun here: the statement commits itself).
    """
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    statement = insert_statement((len(instances), len(runs), len(tasks)))
    parameters = [value for rows in (instances, runs, tasks) for row in rows for value in row]
    await driver.execute(statement, *parameters)
