"""Initial litestar-workflows schema: definitions, instances, step executions, human tasks.

Revision ID: 0001
Revises:
Create Date: 2026-11-21

Column types are spelled in plain SQLAlchemy terms, frozen here, rather than by importing the models'
types, so this migration keeps meaning the same DDL whatever later happens to those types. They match
the models exactly on PostgreSQL and SQLite:

* ids: ``UUID`` on PostgreSQL, ``BINARY(16)`` elsewhere (advanced-alchemy's ``GUID``);
* timestamps: ``TIMESTAMP WITH TIME ZONE`` on PostgreSQL, ``DATETIME`` on SQLite (``DateTimeUTC``);
* JSON: ``JSONB`` on PostgreSQL, ``JSON`` elsewhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _uuid() -> sa.types.TypeEngine[Any]:
    return sa.BINARY(16).with_variant(postgresql.UUID(as_uuid=True), "postgresql")


def _timestamp() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _common_columns() -> list[sa.Column[Any]]:
    """The columns every table gets from ``UUIDAuditBase`` (besides the ``id`` primary key)."""
    return [
        # advanced-alchemy's insert sentinel: lets the ORM batch INSERT .. RETURNING; always NULL.
        sa.Column("sa_orm_sentinel", sa.Integer(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("updated_at", _timestamp(), nullable=False),
    ]


def upgrade() -> None:
    """Create the four tables and their indexes."""
    op.create_table(
        "workflow_definitions",
        sa.Column("id", _uuid(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("definition_json", _json(), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        *_common_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_definitions")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_workflow_definitions_name_version")),
    )

    op.create_table(
        "workflow_instances",
        sa.Column("id", _uuid(), nullable=False),
        sa.Column("definition_id", _uuid(), nullable=True),
        sa.Column("workflow_name", sa.String(length=255), nullable=False),
        sa.Column("workflow_version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("current_step", sa.String(length=255), nullable=True),
        sa.Column("context_data", _json(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("metadata", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", _timestamp(), nullable=False),
        sa.Column("completed_at", _timestamp(), nullable=True),
        sa.Column("tenant_id", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=True),
        sa.Column("version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("runtime_state", _json(), server_default=sa.text("'{}'"), nullable=False),
        *_common_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_instances")),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["workflow_definitions.id"],
            name=op.f("fk_workflow_instances_definition_id"),
            ondelete="SET NULL",
        ),
    )
    op.create_index("ix_workflow_instances_status", "workflow_instances", ["status"])
    op.create_index(
        "ix_workflow_instances_name_version", "workflow_instances", ["workflow_name", "workflow_version"]
    )
    op.create_index("ix_workflow_instances_tenant_status", "workflow_instances", ["tenant_id", "status"])
    op.create_index("ix_workflow_instances_created_by", "workflow_instances", ["created_by"])
    op.create_index("ix_workflow_instances_started_at", "workflow_instances", ["started_at"])

    op.create_table(
        "workflow_step_executions",
        sa.Column("id", _uuid(), nullable=False),
        sa.Column("instance_id", _uuid(), nullable=False),
        sa.Column("step_name", sa.String(length=255), nullable=False),
        sa.Column("step_type", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("input_data", _json(), nullable=True),
        sa.Column("output_data", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", _timestamp(), nullable=True),
        sa.Column("completed_at", _timestamp(), nullable=True),
        sa.Column("assigned_to", sa.String(length=255), nullable=True),
        sa.Column("completed_by", sa.String(length=255), nullable=True),
        sa.Column("attempt", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("iteration", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("result", _json(), nullable=True),
        sa.Column("context_changes", _json(), nullable=True),
        sa.Column("scheduled_for", _timestamp(), nullable=True),
        sa.Column("lease_owner", sa.String(length=255), nullable=True),
        sa.Column("lease_expires_at", _timestamp(), nullable=True),
        *_common_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_step_executions")),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["workflow_instances.id"],
            name=op.f("fk_workflow_step_executions_instance_id"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_workflow_step_executions_instance_step", "workflow_step_executions", ["instance_id", "step_name"]
    )
    op.create_index(
        "ix_workflow_step_executions_status_scheduled",
        "workflow_step_executions",
        ["status", "scheduled_for"],
    )

    op.create_table(
        "workflow_human_tasks",
        sa.Column("id", _uuid(), nullable=False),
        sa.Column("instance_id", _uuid(), nullable=False),
        sa.Column("step_execution_id", _uuid(), nullable=False),
        sa.Column("step_name", sa.String(length=255), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("form_schema", _json(), nullable=True),
        sa.Column("assignee_id", sa.String(length=255), nullable=True),
        sa.Column("assignee_group", sa.String(length=255), nullable=True),
        sa.Column("due_at", _timestamp(), nullable=True),
        sa.Column("reminder_at", _timestamp(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("completed_at", _timestamp(), nullable=True),
        sa.Column("completed_by", sa.String(length=255), nullable=True),
        *_common_columns(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_human_tasks")),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["workflow_instances.id"],
            name=op.f("fk_workflow_human_tasks_instance_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["step_execution_id"],
            ["workflow_step_executions.id"],
            name=op.f("fk_workflow_human_tasks_step_execution_id"),
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_workflow_human_tasks_assignee_status", "workflow_human_tasks", ["assignee_id", "status"]
    )
    op.create_index(
        "ix_workflow_human_tasks_group_status", "workflow_human_tasks", ["assignee_group", "status"]
    )
    op.create_index("ix_workflow_human_tasks_status_due", "workflow_human_tasks", ["status", "due_at"])
    op.create_index("ix_workflow_human_tasks_instance_id", "workflow_human_tasks", ["instance_id"])
    op.create_index(
        "ix_workflow_human_tasks_step_execution_id", "workflow_human_tasks", ["step_execution_id"]
    )


def downgrade() -> None:
    """Drop the four tables (and with them, on every backend, their indexes)."""
    op.drop_table("workflow_human_tasks")
    op.drop_table("workflow_step_executions")
    op.drop_table("workflow_instances")
    op.drop_table("workflow_definitions")
