"""The hot write path of the store: plain SQL and driver-level ``executemany``.

SQLAlchemy's per-value type processing costs tens of microseconds per row, more than the
database itself once commits are batched. Here each statement is written once per dialect and
values are converted to what the driver wants with a few cheap functions: on SQLite UUIDs as
16 bytes, datetimes as the text SQLAlchemy's ``DATETIME`` stores (UTC, no offset), JSON as
text and NULL as described at :data:`NEVER_EMPTY`; on PostgreSQL asyncpg takes UUIDs and aware
datetimes as they are and JSONB as text.
The formats must match what the models' column types write, since everything else reads
through them (a test checks the round trip).
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from litestar_workflows.core.types import HumanTaskStatus, StepStatus, StepType, WorkflowStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime

    from sqlalchemy.ext.asyncio import AsyncConnection

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData

INSTANCE_COLUMNS = (
    "id",
    "definition_id",
    "workflow_name",
    "workflow_version",
    "status",
    "current_step",
    "context_data",
    "metadata",
    "error",
    "started_at",
    "completed_at",
    "tenant_id",
    "created_by",
    "version",
    "runtime_state",
    "key",
    "created_at",
    "updated_at",
)
INSTANCE_CHANGING = (
    "status",
    "current_step",
    "context_data",
    "error",
    "completed_at",
    "version",
    "runtime_state",
    "updated_at",
)
RUN_COLUMNS = (
    "id",
    "instance_id",
    "step_name",
    "step_type",
    "status",
    "input_data",
    "output_data",
    "error",
    "error_type",
    "stack_trace",
    "started_at",
    "completed_at",
    "assigned_to",
    "completed_by",
    "attempt",
    "iteration",
    "result",
    "context_changes",
    "scheduled_for",
    "lease_owner",
    "lease_expires_at",
    "created_at",
    "updated_at",
)
TASK_COLUMNS = (
    "id",
    "instance_id",
    "step_execution_id",
    "step_name",
    "title",
    "description",
    "form_schema",
    "assignee_id",
    "assignee_group",
    "due_at",
    "reminder_at",
    "status",
    "completed_at",
    "completed_by",
    "created_at",
    "updated_at",
)


# Columns that never hold an empty string (ids, timestamps, JSON, the lease owner). On SQLite
# they are bound as ``NULLIF(?, '')`` and NULL is passed as ``''``: the sqlite3 module binds exact
# ``str``, ``int``, ``float`` and ``bytearray`` values directly, but sends every other value
# (``None``, ``bytes``, enum members) through its adapter protocol, which costs several times
# more than the database's own work for the value.
NEVER_EMPTY = frozenset({
    "id", "definition_id", "instance_id", "step_execution_id", "context_data", "metadata",
    "runtime_state", "input_data", "output_data", "result", "context_changes", "form_schema",
    "started_at", "completed_at", "scheduled_for", "due_at", "reminder_at", "lease_expires_at",
    "created_at", "updated_at", "lease_owner",
})  # fmt: skip
SQLITE_NULL = float("nan")
"""What SQLite binds as NULL for a free-text column, where ``''`` is a value of its own.

SQLite stores a NaN bound as a double as NULL, and an exact ``float`` is one of the types the
sqlite3 module binds without adaptation. ``None`` goes through the adapter protocol, whose failed
``__adapt__`` lookup on a type formats an ``AttributeError`` message every time: several times
SQLite's own work for the value, on the connection's thread that every group commit waits for.
"""
IMMUTABLE = frozenset(
    {"id", "instance_id", "step_execution_id", "step_name", "step_type", "iteration", "created_at"}
)
"""Columns of executions and tasks that never change once the row exists."""
_PLAIN_TEXT: dict[Any, str] = {
    member: member.value
    for enum in (WorkflowStatus, StepStatus, StepType, HumanTaskStatus)
    for member in enum
}
_KEYED_CHUNK = 200
"""Keyed instance rows per INSERT (18 parameters each: far below SQLite's and asyncpg's limits)."""


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _json_or_empty(value: Any) -> str:
    return "" if value is None else orjson.dumps(value).decode()


def _sqlite_uuid(value: UUID | None) -> bytearray | str:
    return "" if value is None else bytearray(value.int.to_bytes(16))


def _sqlite_text(value: Any) -> Any:
    """An enum member as the plain ``str`` of its value; anything else unchanged."""
    return _PLAIN_TEXT.get(value, value)


def _sqlite_nullable(value: Any) -> Any:
    """A free-text value, ``None`` as :data:`SQLITE_NULL`."""
    return SQLITE_NULL if value is None else value


class _SqliteTimes:
    """Datetimes as the text SQLAlchemy's SQLite ``DATETIME`` stores: UTC, no offset, microseconds.

    Formatting a datetime is among the dearest things the write path does: ``isoformat`` of an
    aware datetime costs about a microsecond, and a batch formats several per row. So the
    "YYYY-MM-DD HH:MM:" part is kept from the last value (consecutive values share their minute),
    and :meth:`moment` remembers the texts of the two values every row of a batch repeats (its
    commit time and lease expiry), by identity.
    """

    __slots__ = ("_minute", "_moment_a", "_moment_b", "_prefix", "_text_a", "_text_b")

    def __init__(self) -> None:
        self._minute: tuple[int, int, int, int, int] | None = None
        self._prefix = ""
        self._moment_a: datetime | None = None
        self._moment_b: datetime | None = None
        self._text_a = self._text_b = ""

    def text(self, value: datetime | None) -> str:
        """The stored text of ``value``, ``""`` (NULL, see :data:`NEVER_EMPTY`) for ``None``."""
        if value is None:
            return ""
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        minute = (value.minute, value.hour, value.day, value.month, value.year)
        if minute != self._minute:
            self._minute, self._prefix = minute, value.isoformat(" ")[:17]
        return "%s%02d.%06d" % (self._prefix, value.second, value.microsecond)  # noqa: UP031 - fastest here

    def moment(self, value: datetime) -> str:
        """:meth:`text` of a value the rows of a batch repeat (the same object each time)."""
        if value is self._moment_a:
            return self._text_a
        if value is self._moment_b:
            return self._text_b
        text = self.text(value)
        self._moment_b, self._text_b = self._moment_a, self._text_a
        self._moment_a, self._text_a = value, text
        return text


def _hashable(value: Any) -> Any:
    """An id as bound or returned by a driver, comparable and hashable (SQLite binds bytearrays)."""
    return bytes(value) if isinstance(value, (bytearray, memoryview)) else value


def _same(value: Any) -> Any:
    return value


def _numbered_mark(i: int, _column: str) -> str:
    return f"${i}"


def _sqlite_mark(_i: int, column: str) -> str:
    return "NULLIF(?, '')" if column in NEVER_EMPTY else "?"


VERSIONS_AND_LEASES = (
    "WITH v AS (SELECT id, version FROM workflow_instances WHERE id = ANY($1)"
    " ORDER BY id FOR UPDATE),"
    " l AS (SELECT id FROM workflow_step_executions WHERE id = ANY($2) AND lease_owner <> $3"
    " ORDER BY id FOR UPDATE)"
    " SELECT id, version FROM v UNION ALL SELECT id, NULL FROM l"
)
"""PostgreSQL: the versions of instances ($1) and which executions ($2) another owner than $3 leases.

Rows are locked, instance rows first, each in id order (the order of every statement of the
store); a leased execution comes back with a ``NULL`` version.
"""


class RowWriter:
    """Turns the core's objects into driver parameters and writes them ("sqlite" or "postgresql").

    On PostgreSQL values go to asyncpg as they are. On SQLite they are made into the plain types
    the sqlite3 module binds without adaptation (see :data:`NEVER_EMPTY`).
    """

    def __init__(self, dialect: str) -> None:
        postgres = dialect == "postgresql"
        self.uuid: Callable[[Any], Any] = _same if postgres else _sqlite_uuid
        times = _SqliteTimes()
        self.time: Callable[[Any], Any] = _same if postgres else times.text
        self.moment: Callable[[Any], Any] = _same if postgres else times.moment
        """:attr:`time` of the commit time and lease expiry the rows of a batch share."""
        self.json: Callable[[Any], Any] = _json if postgres else _json_or_empty
        self.text: Callable[[Any], Any] = _same if postgres else _sqlite_text
        self.free: Callable[[Any], Any] = _same if postgres else _sqlite_nullable
        """A free-text value (``''`` is not NULL there): ``None`` as :data:`SQLITE_NULL` on SQLite."""
        mark = _numbered_mark if postgres else _sqlite_mark
        self.insert_instances = _insert("workflow_instances", INSTANCE_COLUMNS, mark)
        self._mark = mark
        self._keyed_inserts: dict[int, str] = {}
        assignments = ", ".join(f"{c} = {mark(i + 1, c)}" for i, c in enumerate(INSTANCE_CHANGING))
        n = len(INSTANCE_CHANGING)
        # The key and version are never NULL: plain parameters, so the primary key index is used.
        where = f"id = {mark(n + 1, '')} AND version = {mark(n + 2, '')}"
        self.update_instances = f"UPDATE workflow_instances SET {assignments} WHERE {where}"
        self.upsert_runs = _upsert("workflow_step_executions", RUN_COLUMNS, mark)
        self.upsert_tasks = _upsert("workflow_human_tasks", TASK_COLUMNS, mark)
        self.statements = (self.insert_instances, self.update_instances, self.upsert_runs, self.upsert_tasks)
        """The four statements of :meth:`write`, in its order."""
        self._postgres = postgres

    def instance_insert(
        self, i: WorkflowInstanceData, now: datetime, definition_id: UUID | None
    ) -> tuple[Any, ...]:
        """Parameters of :attr:`insert_instances` (order of ``INSTANCE_COLUMNS``)."""
        u, t, j, f, c = self.uuid, self.time, self.json, self.free, i.context
        return (
            u(i.id), u(definition_id), i.workflow_name, i.workflow_version, self.text(i.status),
            f(i.current_step), j(c.data), j(c.metadata), f(i.error), t(i.started_at), t(i.completed_at),
            f(i.tenant_id), f(i.created_by), i.version, j(i.runtime.to_json()), f(i.key), t(i.started_at),
            self.moment(now),
        )  # fmt: skip

    def instance_update(self, i: WorkflowInstanceData, now: datetime) -> tuple[Any, ...]:
        """Parameters of :attr:`update_instances`, but for the version the row must still have.

        The caller appends that version: it depends on the other transitions in the batch.
        """
        t, j, f = self.time, self.json, self.free
        return (
            self.text(i.status), f(i.current_step), j(i.context.data), f(i.error), t(i.completed_at),
            i.version, j(i.runtime.to_json()), self.moment(now), self.uuid(i.id),
        )  # fmt: skip

    def run(
        self, r: StepExecution, instance_id: UUID, now: datetime, lease: tuple[str, datetime] | None
    ) -> tuple[Any, ...]:
        """Parameters of :attr:`upsert_runs` (order of ``RUN_COLUMNS``)."""
        u, t, j, f, text = self.uuid, self.time, self.json, self.free, self.text
        owner, expiry = lease if lease else (None, None)
        stamp = self.moment(now)
        return (
            u(r.id), u(instance_id), r.step_name, text(r.step_type), text(r.status), j(r.input_data),
            j(r.output_data), f(r.error), f(r.error_type), f(r.stack_trace), t(r.started_at),
            t(r.completed_at), f(r.assigned_to), f(r.completed_by), r.attempt, r.iteration, j(r.result),
            j(r.context_changes),
            t(r.scheduled_for), owner, t(expiry) if expiry is None else self.moment(expiry), stamp, stamp,
        )  # fmt: skip

    def task(self, k: HumanTask, now: datetime) -> tuple[Any, ...]:
        """Parameters of :attr:`upsert_tasks` (order of ``TASK_COLUMNS``)."""
        u, t, f = self.uuid, self.time, self.free
        return (
            u(k.id), u(k.instance_id), u(k.step_execution_id), k.step_name, k.title, f(k.description),
            self.json(k.form_schema), f(k.assignee_id), f(k.assignee_group), t(k.due_at), t(k.reminder_at),
            self.text(k.status), t(k.completed_at), f(k.completed_by), t(k.created_at), self.moment(now),
        )  # fmt: skip

    @staticmethod
    def sqlite_lease_check(owner: str, ids: Sequence[UUID]) -> tuple[str, tuple[Any, ...]]:
        """SQLite: the query (and its parameters) of :meth:`leased_elsewhere`."""
        marks = ", ".join("?" * len(ids))
        statement = f"SELECT id FROM workflow_step_executions WHERE id IN ({marks}) AND lease_owner <> ?"
        return statement, (*(_sqlite_uuid(i) for i in ids), owner)

    async def leased_elsewhere(self, conn: AsyncConnection, owner: str, ids: Sequence[UUID]) -> set[UUID]:
        """Those of the executions ``ids`` whose lease another owner than ``owner`` holds.

        Plain driver SQL: this runs in every write transaction that records step outcomes. On
        PostgreSQL the rows are locked (a claim skips locked rows; in id order, like every
        statement of the store), so the answer holds until the transaction ends; on SQLite the
        write transaction already excludes other writers.
        """
        if self._postgres:
            statement = (
                "SELECT id FROM workflow_step_executions WHERE id = ANY($1) AND lease_owner <> $2"
                " ORDER BY id FOR UPDATE"
            )
            rows = await conn.exec_driver_sql(statement, (list(ids), owner))
            return {row[0] for row in rows}
        statement, parameters = self.sqlite_lease_check(owner, ids)
        rows = await conn.exec_driver_sql(statement, parameters)
        return {UUID(bytes=bytes(row[0])) for row in rows}

    async def versions_and_leases(
        self, conn: AsyncConnection, instance_ids: Sequence[UUID], owner: str, leased: Sequence[UUID]
    ) -> tuple[dict[UUID, int], set[UUID]]:
        """PostgreSQL only: lock and read the instances' versions and :meth:`leased_elsewhere`, at once.

        The two checks a batch of step outcomes needs before it writes, in one round trip instead
        of two: the instance rows are locked first, then the execution rows, each in id order
        (the order of every statement of the store), as the two separate statements did.
        """
        rows = await conn.exec_driver_sql(VERSIONS_AND_LEASES, (list(instance_ids), list(leased), owner))
        versions: dict[UUID, int] = {}
        elsewhere: set[UUID] = set()
        for row in rows:
            row_id, version = row._mapping["id"], row._mapping["version"]
            if version is None:
                elsewhere.add(row_id)
            else:
                versions[row_id] = version
        return versions, elsewhere

    async def insert_keyed(self, conn: AsyncConnection, rows: Sequence[tuple[Any, ...]]) -> set[Any]:
        """Insert instance rows that have a start key; return the ids (as bound) of those written.

        Apart from the batch's other rows: the unique index on ``(workflow_name, key)`` may refuse
        some, and that must fail only them (``ON CONFLICT ... DO NOTHING``; a later row with the
        key of an earlier one is refused too). One multi-row statement per ``_KEYED_CHUNK`` rows.
        On PostgreSQL a concurrent transaction inserting the same key is waited for: if it
        commits, the row here is refused; if it rolls back, the row goes in.
        """
        written: set[Any] = set()
        for start in range(0, len(rows), _KEYED_CHUNK):
            chunk = rows[start : start + _KEYED_CHUNK]
            parameters = tuple(value for row in chunk for value in row)
            result = await conn.exec_driver_sql(self._keyed_insert(len(chunk)), parameters)
            written.update(_hashable(row[0]) for row in result)
        return written

    @staticmethod
    def bound_id(row: tuple[Any, ...]) -> Any:
        """The id of an instance row as :meth:`insert_keyed` reports it (bytes on SQLite, a UUID)."""
        return _hashable(row[0])

    def _keyed_insert(self, count: int) -> str:
        statement = self._keyed_inserts.get(count)
        if statement is None:
            width = len(INSTANCE_COLUMNS)
            mark = self._mark
            values = ", ".join(
                "(" + ", ".join(mark(r * width + i + 1, c) for i, c in enumerate(INSTANCE_COLUMNS)) + ")"
                for r in range(count)
            )
            statement = self._keyed_inserts[count] = (
                f"INSERT INTO workflow_instances ({', '.join(INSTANCE_COLUMNS)}) VALUES {values} "
                "ON CONFLICT (workflow_name, key) DO NOTHING RETURNING id"
            )
        return statement

    async def write(
        self,
        conn: AsyncConnection,
        inserted: Sequence[tuple[Any, ...]],
        updated: Sequence[tuple[Any, ...]],
        runs: Sequence[tuple[Any, ...]],
        tasks: Sequence[tuple[Any, ...]],
    ) -> bool:
        """Write the rows in foreign-key order, one ``executemany`` per statement.

        Returns ``False`` (and writes nothing more) when an instance row no longer had the
        expected version; the caller rolls back. On PostgreSQL the caller passes the rows sorted
        by id, the order in which every statement of the store locks rows. PostgreSQL reports no row count for
        ``executemany``, so there the caller checks versions under a row lock beforehand.
        """
        if inserted:
            await conn.exec_driver_sql(self.insert_instances, list(inserted))
        if updated:
            result = await conn.exec_driver_sql(self.update_instances, list(updated))
            if 0 <= result.rowcount < len(updated):
                return False
        if runs:
            await conn.exec_driver_sql(self.upsert_runs, list(runs))
        if tasks:
            await conn.exec_driver_sql(self.upsert_tasks, list(tasks))
        return True


class SqliteRowWriter(RowWriter):
    """:class:`RowWriter` for SQLite, with the per-step row built without a call per value.

    Most values of an execution row are NULL (a scheduled execution has no times, result or
    error yet), and a function call costs more than the test it makes.
    """

    def __init__(self) -> None:
        super().__init__("sqlite")

    def instance_update(self, i: WorkflowInstanceData, now: datetime) -> tuple[Any, ...]:
        """Parameters of :attr:`update_instances`, but for the version the row must still have."""
        completed, status, current, error = i.completed_at, i.status, i.current_step, i.error
        return (
            _PLAIN_TEXT.get(status, status),
            SQLITE_NULL if current is None else current,
            orjson.dumps(i.context.data).decode(),
            SQLITE_NULL if error is None else error,
            "" if completed is None else self.time(completed),
            i.version,
            orjson.dumps(i.runtime.to_json()).decode(),
            self.moment(now),
            bytearray(i.id.int.to_bytes(16)),
        )

    def run(
        self, r: StepExecution, instance_id: UUID, now: datetime, lease: tuple[str, datetime] | None
    ) -> tuple[Any, ...]:
        """Parameters of :attr:`upsert_runs` (order of ``RUN_COLUMNS``)."""
        t, dumps, plain = self.time, orjson.dumps, _PLAIN_TEXT
        stamp = self.moment(now)
        started, completed, scheduled = r.started_at, r.completed_at, r.scheduled_for
        result, changes, given, made = r.result, r.context_changes, r.input_data, r.output_data
        error, error_type, trace = r.error, r.error_type, r.stack_trace
        assigned, completed_by, null = r.assigned_to, r.completed_by, SQLITE_NULL
        return (
            bytearray(r.id.int.to_bytes(16)),  # type: ignore[union-attr]
            bytearray(instance_id.int.to_bytes(16)),
            r.step_name,
            plain.get(r.step_type, r.step_type),
            plain.get(r.status, r.status),
            "" if given is None else dumps(given).decode(),
            "" if made is None else dumps(made).decode(),
            null if error is None else error,
            null if error_type is None else error_type,
            null if trace is None else trace,
            "" if started is None else t(started),
            "" if completed is None else t(completed),
            null if assigned is None else assigned,
            null if completed_by is None else completed_by,
            r.attempt,
            r.iteration,
            "" if result is None else dumps(result).decode(),
            "" if changes is None else dumps(changes).decode(),
            "" if scheduled is None else t(scheduled),
            "" if lease is None else lease[0],
            "" if lease is None else self.moment(lease[1]),
            stamp,
            stamp,
        )


def row_writer(dialect: str) -> RowWriter:
    """The row writer for ``dialect`` ("sqlite" or "postgresql")."""
    return SqliteRowWriter() if dialect == "sqlite" else RowWriter(dialect)


def _insert(table: str, columns: Sequence[str], mark: Callable[[int, str], str]) -> str:
    values = ", ".join(mark(i + 1, column) for i, column in enumerate(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"


def _upsert(table: str, columns: Sequence[str], mark: Callable[[int, str], str]) -> str:
    # A column named in SET has its indexes rewritten even when its value is unchanged, so the
    # ones fixed at creation are left out.
    changes = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in IMMUTABLE)
    return f"{_insert(table, columns, mark)} ON CONFLICT (id) DO UPDATE SET {changes}"


__all__ = (
    "INSTANCE_COLUMNS",
    "NEVER_EMPTY",
    "RUN_COLUMNS",
    "TASK_COLUMNS",
    "RowWriter",
    "SqliteRowWriter",
    "row_writer",
)
