"""The list queries of the workflow tables, built once for every reader of them.

The store runs them on its own engine; :mod:`.session_reads` runs them on an app's session. Both
must filter, order and page exactly alike (a list read through the app's repositories answers as
the engine's would), so the statements are made here and only executed there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select

from litestar_workflows.core.types import HumanTaskStatus
from litestar_workflows.db.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel
from litestar_workflows.db.rows import task_from_row

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from sqlalchemy import ColumnElement, Select, Table

    from litestar_workflows.core.models import HumanTask
    from litestar_workflows.store.base import InstanceQuery, TaskQuery

__all__ = (
    "executions",
    "instances",
    "instances_page",
    "task_conditions",
    "tasks",
    "tasks_from_rows",
    "tasks_page",
)

instances: Table = WorkflowInstanceModel.__table__  # type: ignore[assignment]
executions: Table = StepExecutionModel.__table__  # type: ignore[assignment]
tasks: Table = HumanTaskModel.__table__  # type: ignore[assignment]


def instances_page(query: InstanceQuery) -> tuple[Select[Any], Select[Any]]:
    """One page of instance rows (newest first) for ``query``, and the count of all its matches."""
    conditions: list[ColumnElement[bool]] = []
    if query.status is not None:
        statuses = [query.status] if isinstance(query.status, str) else list(query.status)
        conditions.append(instances.c.status.in_([str(s) for s in statuses]))
    for column, value in (
        (instances.c.workflow_name, query.workflow_name),
        (instances.c.workflow_version, query.workflow_version),
        (instances.c.tenant_id, query.tenant_id),
        (instances.c.created_by, query.created_by),
        (instances.c.current_step, query.current_step),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.started_after is not None:
        conditions.append(instances.c.started_at >= query.started_after)
    if query.started_before is not None:
        conditions.append(instances.c.started_at < query.started_before)
    page = (
        select(instances)
        .where(*conditions)
        .order_by(instances.c.started_at.desc(), instances.c.id.desc())
        .limit(query.limit)
        .offset(query.offset)
    )
    return page, select(func.count()).select_from(instances).where(*conditions)


def task_conditions(query: TaskQuery) -> list[ColumnElement[bool]]:
    """The conditions of ``query`` on tasks joined with their instances."""
    conditions: list[ColumnElement[bool]] = []
    if query.status is not None:
        conditions.append(tasks.c.status == HumanTaskStatus(query.status).value)
    for column, value in (
        (tasks.c.assignee_id, query.assignee_id),
        (tasks.c.instance_id, query.instance_id),
        (instances.c.workflow_name, query.workflow_name),
        (instances.c.tenant_id, query.tenant_id),
        (tasks.c.completed_by, query.completed_by),
    ):
        if value is not None:
            conditions.append(column == value)
    if query.assignee_group is not None:
        group = query.assignee_group
        conditions.append(tasks.c.assignee_group.in_([group] if isinstance(group, str) else list(group)))
    if query.due_before is not None:
        conditions.append(tasks.c.due_at < query.due_before)
    if query.completed_after is not None:
        conditions.append(tasks.c.completed_at >= query.completed_after)
    if query.workable_by is not None or query.workable_groups:
        # A person's queue: tasks assigned to them, unassigned and open to one of their groups, or
        # open to anyone (neither an assignee nor a group: the default authorizer lets anyone act).
        open_to_anyone = and_(tasks.c.assignee_id.is_(None), tasks.c.assignee_group.is_(None))
        queue: list[ColumnElement[bool]] = [open_to_anyone]
        if query.workable_by is not None:
            queue.append(tasks.c.assignee_id == query.workable_by)
        if query.workable_groups:
            queue.append(
                and_(tasks.c.assignee_id.is_(None), tasks.c.assignee_group.in_(list(query.workable_groups)))
            )
        conditions.append(or_(*queue))
    return conditions


def tasks_page(
    conditions: Sequence[ColumnElement[bool]], limit: int, offset: int
) -> tuple[Select[Any], Select[Any]]:
    """One page of task rows (oldest first) with their instance's workflow and tenant, and the count."""
    joined = tasks.join(instances, instances.c.id == tasks.c.instance_id).outerjoin(
        executions, executions.c.id == tasks.c.step_execution_id
    )
    page = (
        select(tasks, instances.c.workflow_name, instances.c.tenant_id, executions.c.output_data)
        .select_from(joined)
        .where(*conditions)
        .order_by(tasks.c.created_at, tasks.c.id)
        .limit(limit)
        .offset(offset)
    )
    return page, select(func.count()).select_from(joined).where(*conditions)


def tasks_from_rows(rows: Sequence[Mapping[str, Any]]) -> list[HumanTask]:
    """Tasks of :func:`tasks_page` rows; a completed task carries what its step recorded."""
    completed = HumanTaskStatus.COMPLETED.value
    return [task_from_row(row, row["output_data"] if row["status"] == completed else None) for row in rows]
