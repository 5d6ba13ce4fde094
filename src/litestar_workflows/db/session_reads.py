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

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from litestar_workflows.core.errors import StoreError, TaskNotFoundError, WorkflowInstanceNotFoundError
from litestar_workflows.db.queries import (
    executions,
    instances,
    instances_page,
    task_conditions,
    tasks,
    tasks_from_rows,
    tasks_page,
)
from litestar_workflows.db.rows import instance_from_rows
from litestar_workflows.store.base import Page

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from sqlalchemy import ColumnElement
    from sqlalchemy.ext.asyncio import AsyncSession

    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.store.base import InstanceQuery, TaskQuery

__all__ = ("SessionReader",)

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
        rows = await self._rows(select(instances).where(instances.c.id == instance_id))
        if not rows:
            raise WorkflowInstanceNotFoundError(instance_id)
        runs = await self._rows(
            select(executions)
            .where(executions.c.instance_id == instance_id)
            .order_by(executions.c.created_at, executions.c.id)
        )
        task_rows = await self._rows(select(tasks).where(tasks.c.instance_id == instance_id))
        return instance_from_rows(rows[0], runs, task_rows)

    async def find_instances(self, query: InstanceQuery) -> Page[WorkflowInstanceData]:
        """A page of instances (without history), newest first, with the total number of matches."""
        page, count = instances_page(query)
        rows = await self._rows(page)
        total = await self._count(count)
        return Page([instance_from_rows(row) for row in rows], total, query.limit, query.offset)

    async def get_task(self, task_id: UUID) -> HumanTask:
        """The task, with its instance's workflow name and tenant.

        Raises:
            TaskNotFoundError: No such task in the session's database.
        """
        page = await self._tasks([tasks.c.id == task_id], 1, 0)
        if not page.items:
            raise TaskNotFoundError(f"task {task_id} does not exist")
        return page.items[0]

    async def find_tasks(self, query: TaskQuery) -> Page[HumanTask]:
        """A page of tasks, oldest first, with the total number of matches."""
        return await self._tasks(task_conditions(query), query.limit, query.offset)

    async def _tasks(self, conditions: list[ColumnElement[bool]], limit: int, offset: int) -> Page[HumanTask]:
        page, count = tasks_page(conditions, limit, offset)
        rows = await self._rows(page)
        total = await self._count(count)
        return Page(tasks_from_rows(rows), total, limit, offset)
