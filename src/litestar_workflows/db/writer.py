"""The hot write path of the store: plain SQL and driver-level ``executemany``.

SQLAlchemy's per-value type processing costs tens of microseconds per row, more than the
database itself once commits are batched. Here each statement is written once per dialect and
values are converted to what the driver wants with a few cheap functions: on SQLite UUIDs as
16 bytes, datetimes as the text SQLAlchemy's ``DATETIME`` stores (UTC, no offset) and JSON as
text; on PostgreSQL asyncpg takes UUIDs and aware datetimes as they are and JSONB as text.
The formats must match what the models' column types write, since everything else reads
through them (a test checks the round trip).
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import datetime
    from uuid import UUID

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


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _sqlite_uuid(value: UUID | None) -> bytes | None:
    return None if value is None else value.bytes


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # "YYYY-MM-DD HH:MM:SS.ffffff+00:00" cut before the offset: one C call, no new datetime.
    return value.isoformat(" ", "microseconds")[:26]


def _same(value: Any) -> Any:
    return value


class RowWriter:
    """Turns the core's objects into driver parameters and writes them ("sqlite" or "postgresql").

    Enum members are passed as they are: they are ``str`` subclasses with the stored values.
    """

    def __init__(self, dialect: str) -> None:
        postgres = dialect == "postgresql"
        mark: Callable[[int], str] = (lambda i: f"${i}") if postgres else (lambda _: "?")
        self.uuid: Callable[[Any], Any] = _same if postgres else _sqlite_uuid
        self.time: Callable[[Any], Any] = _same if postgres else _sqlite_time
        self.insert_instances = _insert("workflow_instances", INSTANCE_COLUMNS, mark)
        assignments = ", ".join(f"{c} = {mark(i + 1)}" for i, c in enumerate(INSTANCE_CHANGING))
        where = f"id = {mark(len(INSTANCE_CHANGING) + 1)} AND version = {mark(len(INSTANCE_CHANGING) + 2)}"
        self.update_instances = f"UPDATE workflow_instances SET {assignments} WHERE {where}"
        self.upsert_runs = _upsert("workflow_step_executions", RUN_COLUMNS, mark)
        self.upsert_tasks = _upsert("workflow_human_tasks", TASK_COLUMNS, mark)

    def instance_insert(
        self, i: WorkflowInstanceData, now: datetime, definition_id: UUID | None
    ) -> tuple[Any, ...]:
        """Parameters of :attr:`insert_instances` (order of ``INSTANCE_COLUMNS``)."""
        u, t, c = self.uuid, self.time, i.context
        return (
            u(i.id), u(definition_id), i.workflow_name, i.workflow_version, i.status, i.current_step,
            _json(c.data), _json(c.metadata), i.error, t(i.started_at), t(i.completed_at), i.tenant_id,
            i.created_by, i.version, _json(i.runtime.to_json()), t(i.started_at), t(now),
        )  # fmt: skip

    def instance_update(self, i: WorkflowInstanceData, now: datetime) -> tuple[Any, ...]:
        """Parameters of :attr:`update_instances`, but for the version the row must still have.

        The caller appends that version: it depends on the other transitions in the batch.
        """
        t = self.time
        return (
            i.status, i.current_step, _json(i.context.data), i.error, t(i.completed_at), i.version,
            _json(i.runtime.to_json()), t(now), self.uuid(i.id),
        )  # fmt: skip

    def run(
        self, r: StepExecution, instance_id: UUID, now: datetime, lease: tuple[str, datetime] | None
    ) -> tuple[Any, ...]:
        """Parameters of :attr:`upsert_runs` (order of ``RUN_COLUMNS``)."""
        u, t = self.uuid, self.time
        owner, expiry = lease if lease else (None, None)
        stamp = t(now)
        return (
            u(r.id), u(instance_id), r.step_name, r.step_type, r.status, _json(r.input_data),
            _json(r.output_data), r.error, t(r.started_at), t(r.completed_at), r.assigned_to, r.completed_by,
            r.attempt, r.iteration, _json(r.result), _json(r.context_changes), t(r.scheduled_for), owner,
            t(expiry), stamp, stamp,
        )  # fmt: skip

    def task(self, k: HumanTask, now: datetime) -> tuple[Any, ...]:
        """Parameters of :attr:`upsert_tasks` (order of ``TASK_COLUMNS``)."""
        u, t = self.uuid, self.time
        return (
            u(k.id), u(k.instance_id), u(k.step_execution_id), k.step_name, k.title, k.description,
            _json(k.form_schema), k.assignee_id, k.assignee_group, t(k.due_at), t(k.reminder_at), k.status,
            t(k.completed_at), k.completed_by, t(k.created_at), t(now),
        )  # fmt: skip

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
        expected version; the caller rolls back. PostgreSQL reports no row count for
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


def _insert(table: str, columns: Sequence[str], mark: Callable[[int], str]) -> str:
    values = ", ".join(mark(i + 1) for i in range(len(columns)))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values})"


def _upsert(table: str, columns: Sequence[str], mark: Callable[[int], str]) -> str:
    keep = {"id", "created_at"}
    changes = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keep)
    return f"{_insert(table, columns, mark)} ON CONFLICT (id) DO UPDATE SET {changes}"


__all__ = ("INSTANCE_COLUMNS", "RUN_COLUMNS", "TASK_COLUMNS", "RowWriter")
