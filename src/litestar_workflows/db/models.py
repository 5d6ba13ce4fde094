"""SQLAlchemy models for the durable store.

The models live on advanced-alchemy's shared metadata (``UUIDAuditBase.metadata``), as the
documented setup expects: importing them and calling ``UUIDAuditBase.metadata.create_all`` (or
``SQLAlchemyAsyncConfig(create_all=True)``) creates our four tables next to the application's.
Our migrations remain the way to evolve the schema: they look only at :data:`workflow_metadata`,
a copy of exactly our tables, so an application's tables never enter our history; a schema made by
``create_all`` is accepted by the store when it matches the models, and adopted (stamped at our
head revision) by the first ``migrate``. An application that runs its own Alembic autogenerate on
the shared metadata should leave our tables out (see ``litestar_workflows.db.migrate.WORKFLOW_TABLE_NAMES``).

Conventions shared by every table:

* ``id`` is a UUID v4 primary key; ``created_at``/``updated_at`` are timezone-aware UTC timestamps.
  All three come from :class:`advanced_alchemy.base.UUIDAuditBase` and have *Python-side* defaults,
  which SQLAlchemy Core ``insert()``/``update()`` also apply.
* Statuses and step types are stored as the lower-case values of the enums in
  :mod:`litestar_workflows.core.types` in plain ``VARCHAR(16)`` columns, not database enums, so
  adding a status never needs an ``ALTER TYPE``.
* JSON columns use :data:`litestar_workflows.db.types.JsonB`: ``JSONB`` on PostgreSQL, ``JSON``
  elsewhere; Python ``None`` is stored as SQL ``NULL``.
* Every timestamp column is :class:`~advanced_alchemy.types.DateTimeUTC`, which rejects naive
  datetimes on write and returns aware UTC datetimes on read on every backend.
"""

from __future__ import annotations

import datetime
from typing import Any, Final
from uuid import UUID  # noqa: TC003 - SQLAlchemy resolves Mapped[] annotations at runtime

from advanced_alchemy.base import UUIDAuditBase, convention
from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from litestar_workflows.db.types import JsonB

__all__ = (
    "HumanTaskModel",
    "StepExecutionModel",
    "WorkflowBase",
    "WorkflowDefinitionModel",
    "WorkflowInstanceModel",
    "workflow_metadata",
)

workflow_metadata: Final = MetaData(naming_convention=convention)
"""A copy of (only) the litestar-workflows tables, filled below: the migrations' autogenerate target
and what schema checks compare a database with. The models themselves are on the shared metadata."""

_STATUS_LENGTH: Final = 16
_NAME_LENGTH: Final = 255
_EMPTY_JSON_OBJECT: Final = text("'{}'")
"""Server default for JSON "object" columns; a plain string literal casts implicitly to JSON/JSONB."""


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class WorkflowBase(UUIDAuditBase):
    """Abstract base of the litestar-workflows models: UUID id, audit columns, the shared metadata."""

    __abstract__ = True


class WorkflowDefinitionModel(WorkflowBase):
    """One version of a workflow definition, serialised to JSON.

    Definitions are normally code, but storing them lets the web UI and other processes (which may run
    a different deployment) show and resume instances of versions they do not have loaded.
    """

    __tablename__ = "workflow_definitions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_workflow_definitions_name_version"),)

    name: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    version: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    definition_json: Mapped[dict[str, Any]] = mapped_column(JsonB)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    # The reference package's navigation properties. View-only (the store writes rows with Core
    # statements) and lazy="raise": async code must load them explicitly (session.refresh(row,
    # ["instances"]) or selectinload), never by an implicit query on attribute access.
    instances: Mapped[list[WorkflowInstanceModel]] = relationship(viewonly=True, lazy="raise")

    def __repr__(self) -> str:
        return f"<WorkflowDefinitionModel {self.name!r} v{self.version} id={self.id}>"


class WorkflowInstanceModel(WorkflowBase):
    """One run of a workflow.

    ``version`` is an optimistic-concurrency counter maintained explicitly by the store
    (``UPDATE ... SET version = version + 1 WHERE id = :id AND version = :expected``); it is deliberately
    *not* SQLAlchemy's ``version_id_col``, so that Core statements on the hot path control it fully.
    ``runtime_state`` holds the interpreter's bookkeeping (join arrivals, loop counters, the status to
    return to after a pause) that is not part of the user-visible context.
    """

    __tablename__ = "workflow_instances"
    __table_args__ = (
        Index("ix_workflow_instances_status", "status"),
        Index("ix_workflow_instances_name_version", "workflow_name", "workflow_version"),
        Index("ix_workflow_instances_tenant_status", "tenant_id", "status"),
        Index("ix_workflow_instances_created_by", "created_by"),
        Index("ix_workflow_instances_started_at", "started_at"),
        # At most one instance per key of a workflow, ever; instances without a key (NULL) are
        # free, as NULLs never collide. A unique index rather than a constraint: SQLite adds an
        # index in place, where a constraint would mean rebuilding the table.
        Index("uq_workflow_instances_workflow_name_key", "workflow_name", "key", unique=True),
    )

    definition_id: Mapped[UUID | None] = mapped_column(
        ForeignKey(
            "workflow_definitions.id",
            ondelete="SET NULL",
            name="fk_workflow_instances_definition_id",
        ),
        nullable=True,
    )
    workflow_name: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    workflow_version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(_STATUS_LENGTH))
    current_step: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    context_data: Mapped[dict[str, Any]] = mapped_column(
        JsonB, default=dict, server_default=_EMPTY_JSON_OBJECT
    )
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JsonB, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime.datetime] = mapped_column(DateTimeUTC(timezone=True), default=_utcnow)
    completed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    tenant_id: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    runtime_state: Mapped[dict[str, Any]] = mapped_column(
        JsonB, default=dict, server_default=_EMPTY_JSON_OBJECT
    )
    key: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    """The caller's idempotency key (``start_workflow(..., key=...)``; REST: ``correlation_id``)."""

    # Loaded eagerly with one extra SELECT ... IN per query, so reading them never does implicit IO in
    # async code. The database cascades deletes (passive_deletes), the ORM does not load to delete.
    step_executions: Mapped[list[StepExecutionModel]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by=lambda: [StepExecutionModel.created_at, StepExecutionModel.attempt],
    )
    human_tasks: Mapped[list[HumanTaskModel]] = relationship(
        lazy="selectin",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="HumanTaskModel.created_at",
    )

    definition: Mapped[WorkflowDefinitionModel | None] = relationship(viewonly=True, lazy="raise")
    """The stored definition this instance runs (view-only; load it explicitly, see ``instances``)."""

    def __repr__(self) -> str:
        return (
            f"<WorkflowInstanceModel {self.workflow_name!r} v{self.workflow_version} "
            f"id={self.id} status={self.status}>"
        )


class StepExecutionModel(WorkflowBase):
    """One attempt at (or iteration of) one step of one instance.

    ``scheduled_for`` makes timers and retry back-offs durable: the due-work sweep looks for
    ``status = 'scheduled' AND scheduled_for <= now``. ``lease_owner``/``lease_expires_at`` let one
    worker claim a step; an expired lease means the worker died and the step may be reclaimed.
    """

    __tablename__ = "workflow_step_executions"
    __table_args__ = (
        Index("ix_workflow_step_executions_instance_step", "instance_id", "step_name"),
        Index("ix_workflow_step_executions_status_scheduled", "status", "scheduled_for"),
    )

    instance_id: Mapped[UUID] = mapped_column(
        ForeignKey(
            "workflow_instances.id",
            ondelete="CASCADE",
            name="fk_workflow_step_executions_instance_id",
        )
    )
    step_name: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    step_type: Mapped[str] = mapped_column(String(_STATUS_LENGTH))
    status: Mapped[str] = mapped_column(String(_STATUS_LENGTH))
    input_data: Mapped[dict[str, Any] | None] = mapped_column(JsonB, nullable=True)
    output_data: Mapped[dict[str, Any] | None] = mapped_column(JsonB, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_type: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    stack_trace: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    completed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    assigned_to: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    iteration: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    result: Mapped[Any] = mapped_column(JsonB, nullable=True)
    context_changes: Mapped[dict[str, Any] | None] = mapped_column(JsonB, nullable=True)
    scheduled_for: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    lease_expires_at: Mapped[datetime.datetime | None] = mapped_column(
        DateTimeUTC(timezone=True), nullable=True
    )

    instance: Mapped[WorkflowInstanceModel] = relationship(viewonly=True, lazy="raise")
    """The instance this execution belongs to (view-only; load it explicitly)."""

    def __repr__(self) -> str:
        return (
            f"<StepExecutionModel {self.step_name!r} attempt={self.attempt} "
            f"id={self.id} status={self.status}>"
        )


class HumanTaskModel(WorkflowBase):
    """A task waiting for (or done by) a person, created when an instance reaches a human step."""

    __tablename__ = "workflow_human_tasks"
    __table_args__ = (
        Index("ix_workflow_human_tasks_assignee_status", "assignee_id", "status"),
        Index("ix_workflow_human_tasks_group_status", "assignee_group", "status"),
        Index("ix_workflow_human_tasks_status_due", "status", "due_at"),
        Index("ix_workflow_human_tasks_instance_id", "instance_id"),
        # Not in the query patterns, but PostgreSQL does not index foreign keys by itself and the
        # ON DELETE CASCADE from a step execution would otherwise scan the whole table.
        Index("ix_workflow_human_tasks_step_execution_id", "step_execution_id"),
    )

    instance_id: Mapped[UUID] = mapped_column(
        ForeignKey(
            "workflow_instances.id",
            ondelete="CASCADE",
            name="fk_workflow_human_tasks_instance_id",
        )
    )
    step_execution_id: Mapped[UUID] = mapped_column(
        ForeignKey(
            "workflow_step_executions.id",
            ondelete="CASCADE",
            name="fk_workflow_human_tasks_step_execution_id",
        )
    )
    step_name: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    title: Mapped[str] = mapped_column(String(_NAME_LENGTH))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    form_schema: Mapped[dict[str, Any] | None] = mapped_column(JsonB, nullable=True)
    assignee_id: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    assignee_group: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)
    due_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    reminder_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    status: Mapped[str] = mapped_column(String(_STATUS_LENGTH))
    completed_at: Mapped[datetime.datetime | None] = mapped_column(DateTimeUTC(timezone=True), nullable=True)
    completed_by: Mapped[str | None] = mapped_column(String(_NAME_LENGTH), nullable=True)

    instance: Mapped[WorkflowInstanceModel] = relationship(viewonly=True, lazy="raise")
    """The instance this task belongs to (view-only; load it explicitly)."""

    def __repr__(self) -> str:
        return f"<HumanTaskModel {self.title!r} step={self.step_name!r} id={self.id} status={self.status}>"


for _table in list(WorkflowBase.metadata.sorted_tables):
    if _table.name in {
        "workflow_definitions",
        "workflow_instances",
        "workflow_step_executions",
        "workflow_human_tasks",
    }:
        _table.to_metadata(workflow_metadata)
del _table
