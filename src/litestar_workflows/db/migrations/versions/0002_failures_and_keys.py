"""Diagnosable failures and idempotent starts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

* ``workflow_step_executions.error_type`` and ``.stack_trace``: the class and the bounded traceback
  of the exception a failed step raised, kept beside ``error`` (``"Type: message"``).
* ``workflow_instances.key`` with a unique index on ``(workflow_name, key)``: at most one instance
  per key of a workflow (``start_workflow(..., key=...)``); NULL keys never collide.

Every change is in place on SQLite too (nullable columns, an index): no table is rebuilt, so the
upgrade is quick on a large database. Types are frozen in plain SQLAlchemy terms, as in 0001.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa
from alembic import op

if TYPE_CHECKING:
    from collections.abc import Sequence

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the failure columns and the instance key with its unique index."""
    op.add_column("workflow_step_executions", sa.Column("error_type", sa.String(length=255), nullable=True))
    op.add_column("workflow_step_executions", sa.Column("stack_trace", sa.Text(), nullable=True))
    op.add_column("workflow_instances", sa.Column("key", sa.String(length=255), nullable=True))
    op.create_index(
        "uq_workflow_instances_workflow_name_key", "workflow_instances", ["workflow_name", "key"], unique=True
    )


def downgrade() -> None:
    """Drop them again (SQLite 3.35+ drops columns in place). Keys and tracebacks are lost."""
    op.drop_index("uq_workflow_instances_workflow_name_key", table_name="workflow_instances")
    op.drop_column("workflow_instances", "key")
    op.drop_column("workflow_step_executions", "stack_trace")
    op.drop_column("workflow_step_executions", "error_type")
