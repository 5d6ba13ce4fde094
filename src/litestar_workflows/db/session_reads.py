"""Read instances and tasks through a session the application owns.

An app that mounts the REST controllers may provide its own repositories (``workflow_instance_repo``,
``human_task_repo``) on its own, request-scoped session. The API then reads what that session sees
-- the app's database, including rows the app wrote itself -- instead of asking the engine.
:class:`SessionReader` answers the four read calls the controllers make (``get_instance``,
``find_instances``, ``get_task``, ``find_tasks``) with the same objects and the same filters and
order as the store does. It only issues ``SELECT`` statements: it never flushes, commits or closes
the session, which stays the application's -- and so does its isolation level: an instance's row,
history and tasks are read in three statements, which see one snapshot only if the app's session
does (the store's own reads always do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import SQLAlchemyError

from litestar_workflows.core.errors import StoreError, TaskNotFoundError, WorkflowInstanceNotFoundError
from litestar_workflows.core.types import HumanTaskStatus
from litestar_workflows.db.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel
from litestar_workflows.db.rows import instance_from_rows, task_from_row
from litestar_workflows.store.base import Page

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from sqlalchemy import ColumnElement, Table
    from sqlalchemy.ext.asyncio import AsyncSession

    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.store.base import InstanceQuery, TaskQuery

__all__ = ("SessionReader",)

_instances: Table = WorkflowInstanceModel.__table__  # type: ignore[assignment]
_executions: Table = StepExecutionModel.__table__  # type: ignore[assignment]
_tasks: Table = HumanTaskModel.__table__  # type: ignore[assignment]
_READ_FAILED = "reading the workflow tables through the app's session failed"


class SessionReader:
    """The controllers' read calls, answered from the workflow tables through ``session``.

    Args:
        session: The application's session (e.g. a repository's ``session``).
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _rows(self, statement: Any) -> Sequence[Any]:
        try:
            return (await self.session.execute(statement)).mappings().all()
        except SQLAlchemyError as error:
            raise StoreError(
                f"reading the workflow tables through the app's session failed: {error}"
            ) from error

    async def _count(self, statement: Any) -> int:
        try:
            total: int = (await self.session.execute(statement)).scalar_one()
        except SQLAlchemyError as error:
            raise StoreError(
                f"reading the workflow tables through the app's session failed: {error}"
            ) from error
        return total

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """The instance with its step history and pending tasks.

        Raises:
            WorkflowInstanceNotFoundError: No such instance in the session's database.
        """
        rows = await self._rows(select(_instances).where(_instances.c.id == instance_id))
        if not rows:
            raise WorkflowInstanceNotFoundError(instance_id)
        runs = await self._rows(
            select(_executions)
            .where(_executions.c.instance_id == instance_id)
            .order_by(_executions.c.created_at, _executions.c.id)
        )
        task_rows = await self._rows(select(_tasks).where(_tasks.c.instance_id == instance_id))
        return instance_from_rows(rows[0], runs, task_rows)

    async def find_instances(self, query: InstanceQuery) -> Page[WorkflowInstanceData]:
        """A page of instances (without history), newest first, with the total number of matches."""
        conditions: list[ColumnElement[bool]] = []
        if query.status is not None:
            statuses = [query.status] if isinstance(query.status, str) else list(query.status)
            conditions.append(_instances.c.status.in_([str(s) for s in statuses]))
        for column, value in (
            (_instances.c.workflow_name, query.workflow_name),
            (_instances.c.workflow_version, query.workflow_version),
            (_instances.c.tenant_id, query.tenant_id),
            (_instances.c.created_by, query.created_by),
            (_instances.c.current_step, query.current_step),
        ):
            if value is not None:
                conditions.append(column == value)
        if query.started_after is not None:
            conditions.append(_instances.c.started_at >= query.started_after)
        if query.started_before is not None:
            conditions.append(_instances.c.started_at < query.started_before)
        rows = await self._rows(
            select(_instances)
            .where(*conditions)
            .order_by(_instances.c.started_at.desc(), _instances.c.id.desc())
            .limit(query.limit)
            .offset(query.offset)
        )
        total = await self._count(select(func.count()).select_from(_instances).where(*conditions))
        return Page([instance_from_rows(row) for row in rows], total, query.limit, query.offset)

    async def get_task(self, task_id: UUID) -> HumanTask:
        """The task, with its instance's workflow name and tenant.

        Raises:
            TaskNotFoundError: No such task in the session's database.
        """
        page = await self._tasks([_tasks.c.id == task_id], 1, 0)
        if not page.items:
            raise TaskNotFoundError(f"task {task_id} does not exist")
        return page.items[0]

    async def find_tasks(self, query: TaskQuery) -> Page[HumanTask]:
        """A page of tasks, oldest first, with the total number of matches."""
        conditions: list[ColumnElement[bool]] = []
        if query.status is not None:
            conditions.append(_tasks.c.status == HumanTaskStatus(query.status).value)
        if query.assignee_id is not None:
            conditions.append(_tasks.c.assignee_id == query.assignee_id)
        if query.assignee_group is not None:
            groups = [query.assignee_group] if isinstance(query.assignee_group, str) else query.assignee_group
            conditions.append(_tasks.c.assignee_group.in_(list(groups)))
        if query.instance_id is not None:
            conditions.append(_tasks.c.instance_id == query.instance_id)
        if query.workflow_name is not None:
            conditions.append(_instances.c.workflow_name == query.workflow_name)
        if query.tenant_id is not None:
            conditions.append(_instances.c.tenant_id == query.tenant_id)
        if query.due_before is not None:
            conditions.append(_tasks.c.due_at < query.due_before)
        if query.workable_by is not None or query.workable_groups:
            conditions.append(_workable(query.workable_by, query.workable_groups))
        return await self._tasks(conditions, query.limit, query.offset)

    async def _tasks(self, conditions: list[ColumnElement[bool]], limit: int, offset: int) -> Page[HumanTask]:
        joined = _tasks.join(_instances, _instances.c.id == _tasks.c.instance_id).outerjoin(
            _executions, _executions.c.id == _tasks.c.step_execution_id
        )
        rows = await self._rows(
            select(_tasks, _instances.c.workflow_name, _instances.c.tenant_id, _executions.c.output_data)
            .select_from(joined)
            .where(*conditions)
            .order_by(_tasks.c.created_at, _tasks.c.id)
            .limit(limit)
            .offset(offset)
        )
        total = await self._count(select(func.count()).select_from(joined).where(*conditions))
        completed = HumanTaskStatus.COMPLETED.value
        items = [
            task_from_row(row, row["output_data"] if row["status"] == completed else None) for row in rows
        ]
        return Page(items, total, limit, offset)


def _workable(user_id: str | None, groups: Sequence[str]) -> ColumnElement[bool]:
    """A person's queue: tasks assigned to them, or unassigned and open to one of their groups."""
    queue: list[ColumnElement[bool]] = []
    if user_id is not None:
        queue.append(_tasks.c.assignee_id == user_id)
    if groups:
        queue.append(and_(_tasks.c.assignee_id.is_(None), _tasks.c.assignee_group.in_(list(groups))))
    return or_(*queue)
