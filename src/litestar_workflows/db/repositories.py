"""advanced-alchemy repositories with the finders the store, the web UI and the task inbox need.

They add query methods on top of :class:`advanced_alchemy.repository.SQLAlchemyAsyncRepository`
(whose CRUD methods -- ``add``, ``get``, ``update``, ``delete``, ``get_many_and_count`` ... -- are all
available). Every finder:

* runs in the repository's session and never commits (the caller owns the transaction);
* raises advanced-alchemy's ``RepositoryError`` family for database errors, like the inherited methods;
* orders its results deterministically, so pagination never skips or repeats a row;
* requires timezone-aware datetimes, because the columns are UTC and a naive value is ambiguous.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from advanced_alchemy.exceptions import wrap_sqlalchemy_exception
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from sqlalchemy import ColumnElement, Select, func, or_, select

from litestar_workflows.core.types import HumanTaskStatus, StepStatus, WorkflowStatus
from litestar_workflows.core.versions import version_key
from litestar_workflows.db.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowBase,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

if TYPE_CHECKING:
    from uuid import UUID

    from sqlalchemy.ext.asyncio import AsyncSession, async_scoped_session
    from sqlalchemy.orm import InstrumentedAttribute

__all__ = (
    "HumanTaskRepository",
    "StatusFilter",
    "StepExecutionRepository",
    "WorkflowDefinitionRepository",
    "WorkflowInstanceRepository",
    "version_sort_key",
)

ModelT = TypeVar("ModelT", bound=WorkflowBase)

StatusFilter = str | Collection[str]
"""One status (an enum member or its value) or several, matched with ``IN``."""


def version_sort_key(version: str) -> tuple[Any, ...]:
    """Sort key that orders workflow versions the way people expect, newest last.

    The registry's own ordering (:func:`litestar_workflows.core.versions.version_key`): numeric
    parts compare as numbers (``"10.0.0" > "9.0.0"``), a pre-release sorts before its release and
    build metadata only breaks ties.
    """
    return version_key(version)


def _aware(value: datetime.datetime, name: str) -> datetime.datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        msg = f"{name} must be a timezone-aware datetime (the columns hold UTC), got naive {value!r}"
        raise ValueError(msg)
    return value


def _status_condition(column: InstrumentedAttribute[str], status: StatusFilter) -> ColumnElement[bool]:
    if isinstance(status, str):
        return column == str(status)
    values = [str(item) for item in status]
    return column.in_(values)


def _check_page(limit: int, offset: int) -> None:
    if limit < 0 or offset < 0:
        msg = f"limit and offset must not be negative (got limit={limit}, offset={offset})"
        raise ValueError(msg)


class _WorkflowRepository(SQLAlchemyAsyncRepository[ModelT]):
    """Shared plumbing: run our own SELECTs with the same error wrapping and expunge rules as the base."""

    def __init__(
        self,
        session: AsyncSession | async_scoped_session[AsyncSession] | None = None,
        /,
        **kwargs: Any,
    ) -> None:
        """Take the session positionally, as the documentation writes it, or as ``session=``.

        ``WorkflowInstanceRepository(session)`` and ``WorkflowInstanceRepository(session=session)``
        are the same; every other argument is advanced-alchemy's, by keyword (``auto_expunge``,
        ``statement``...).

        Raises:
            TypeError: The session is given both ways, or not at all.
        """
        if session is not None:
            if "session" in kwargs:
                msg = f"{type(self).__name__}() got the session both positionally and as session="
                raise TypeError(msg)
            kwargs["session"] = session
        super().__init__(**kwargs)

    def _wrap_errors(self) -> Any:
        return wrap_sqlalchemy_exception(
            error_messages=self.error_messages,
            dialect_name=self._dialect.name,
            wrap_exceptions=self.wrap_exceptions,
        )

    def _expunged(self, rows: Sequence[ModelT]) -> list[ModelT]:
        if self.auto_expunge:
            for row in rows:
                self.session.expunge(row)
        return list(rows)

    async def _scalars(self, statement: Select[Any]) -> list[ModelT]:
        with self._wrap_errors():
            rows: Sequence[ModelT] = (await self.session.execute(statement)).scalars().all()
            return self._expunged(rows)

    async def _page(
        self,
        statement: Select[Any],
        count_statement: Select[Any],
        *,
        limit: int,
        offset: int,
    ) -> tuple[list[ModelT], int]:
        # Two queries rather than a COUNT(*) OVER () window: the window version reports a total of 0
        # whenever the requested page is past the end, which breaks "page 7 of 3" handling in UIs.
        _check_page(limit, offset)
        with self._wrap_errors():
            total = (await self.session.execute(count_statement)).scalar_one()
        rows = await self._scalars(statement.limit(limit).offset(offset))
        return rows, int(total)


class WorkflowDefinitionRepository(_WorkflowRepository[WorkflowDefinitionModel]):
    """Stored workflow definitions, one row per (name, version)."""

    model_type = WorkflowDefinitionModel

    async def get_by_name(
        self, name: str, version: str | None = None, *, active_only: bool = True
    ) -> WorkflowDefinitionModel | None:
        """Find a definition by name and version, or the newest version of a name.

        "Newest" is decided by :func:`version_sort_key` (numeric, so ``10.0.0`` beats ``9.0.0``), not by
        insertion time or string order. It is computed in Python: a name has few versions, and no SQL
        ordering gets semantic versions right.

        Args:
            name: The workflow name.
            version: An exact version, or ``None`` for the newest one.
            active_only: Ignore deactivated versions (the default, as in the reference package).

        Returns:
            The definition, or ``None`` when there is no match.
        """
        statement = select(WorkflowDefinitionModel).where(WorkflowDefinitionModel.name == name)
        if version is not None:
            statement = statement.where(WorkflowDefinitionModel.version == version)
        if active_only:
            statement = statement.where(WorkflowDefinitionModel.is_active.is_(True))
        candidates = await self._scalars(statement)
        if not candidates:
            return None
        return max(candidates, key=lambda model: version_sort_key(model.version))

    async def get_latest_version(self, name: str) -> WorkflowDefinitionModel | None:
        """The newest active version of ``name`` (semantic order), or ``None``."""
        return await self.get_by_name(name, active_only=True)

    async def deactivate_version(self, name: str, version: str) -> bool:
        """Mark one version inactive (kept for the instances that run it); ``False`` when there is none."""
        row = await self.get_by_name(name, version, active_only=False)
        if row is None:
            return False
        row.is_active = False
        await self.update(row)
        return True

    async def list_active(self) -> list[WorkflowDefinitionModel]:
        """All active definitions, by name and then version (oldest first).

        Returns:
            The active definitions.
        """
        statement = select(WorkflowDefinitionModel).where(WorkflowDefinitionModel.is_active.is_(True))
        rows = await self._scalars(statement)
        return sorted(rows, key=lambda model: (model.name, version_sort_key(model.version)))


class WorkflowInstanceRepository(_WorkflowRepository[WorkflowInstanceModel]):
    """Workflow instances (runs)."""

    model_type = WorkflowInstanceModel

    async def find_instances(
        self,
        *,
        status: StatusFilter | None = None,
        workflow_name: str | None = None,
        tenant_id: str | None = None,
        created_by: str | None = None,
        started_after: datetime.datetime | None = None,
        started_before: datetime.datetime | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[WorkflowInstanceModel], int]:
        """One page of instances matching every given filter, newest first, with the total match count.

        Args:
            status: Only instances in this status (or any of these statuses).
            workflow_name: Only instances of this workflow.
            tenant_id: Only this tenant's instances.
            created_by: Only instances started by this user.
            started_after: Only instances started at or after this (timezone-aware) time.
            started_before: Only instances started strictly before this (timezone-aware) time.
            limit: Page size.
            offset: Rows to skip.

        Returns:
            ``(page, total)`` where ``total`` counts all matches, ignoring ``limit``/``offset``.

        Raises:
            ValueError: A naive datetime, or a negative ``limit``/``offset``.
        """
        model = WorkflowInstanceModel
        conditions: list[ColumnElement[bool]] = []
        if status is not None:
            conditions.append(_status_condition(model.status, status))
        if workflow_name is not None:
            conditions.append(model.workflow_name == workflow_name)
        if tenant_id is not None:
            conditions.append(model.tenant_id == tenant_id)
        if created_by is not None:
            conditions.append(model.created_by == created_by)
        if started_after is not None:
            conditions.append(model.started_at >= _aware(started_after, "started_after"))
        if started_before is not None:
            conditions.append(model.started_at < _aware(started_before, "started_before"))
        statement = (
            select(model)
            .where(*conditions)
            .order_by(model.started_at.desc(), model.created_at.desc(), model.id)
        )
        count_statement = select(func.count()).select_from(model).where(*conditions)
        return await self._page(statement, count_statement, limit=limit, offset=offset)

    async def find_by_workflow(
        self, workflow_name: str, status: StatusFilter | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[WorkflowInstanceModel], int]:
        """One page of a workflow's instances (newest first) with the total count."""
        return await self.find_instances(
            workflow_name=workflow_name, status=status, limit=limit, offset=offset
        )

    async def find_by_user(
        self, user_id: str, status: StatusFilter | None = None
    ) -> list[WorkflowInstanceModel]:
        """Every instance ``user_id`` started (newest first)."""
        model = WorkflowInstanceModel
        conditions = [model.created_by == user_id]
        if status is not None:
            conditions.append(_status_condition(model.status, status))
        statement = select(model).where(*conditions).order_by(model.started_at.desc(), model.id)
        return await self._scalars(statement)

    async def find_by_tenant(
        self, tenant_id: str, status: StatusFilter | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[WorkflowInstanceModel], int]:
        """One page of a tenant's instances (newest first) with the total count."""
        return await self.find_instances(tenant_id=tenant_id, status=status, limit=limit, offset=offset)

    async def find_running(self) -> list[WorkflowInstanceModel]:
        """Instances still in progress: running or waiting (oldest first)."""
        model = WorkflowInstanceModel
        statement = (
            select(model)
            .where(_status_condition(model.status, (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)))
            .order_by(model.started_at, model.created_at, model.id)
        )
        return await self._scalars(statement)

    async def update_status(
        self,
        instance_id: UUID,
        status: WorkflowStatus | str,
        *,
        current_step: str | None = None,
        error: str | None = None,
    ) -> WorkflowInstanceModel | None:
        """Set an instance's status (and current step or error, when given); ``None`` when unknown.

        This writes the row directly, as the reference package's repository does: it does not move
        a running instance (use the engine for that), so it is meant for tools and repairs.
        """
        row = await self.get_one_or_none(id=instance_id)
        if row is None:
            return None
        row.status = str(status)
        if current_step is not None:
            row.current_step = current_step
        if error is not None:
            row.error = error
        # A new version: an engine holding a copy of the instance (a timer armed on it, say) then
        # loses its next commit's version check and reloads, instead of writing its old status back.
        row.version += 1
        return await self.update(row)

    async def get_running(self) -> list[WorkflowInstanceModel]:
        """Every instance in status ``running``, oldest first -- what crash recovery must look at.

        Returns:
            The running instances.
        """
        model = WorkflowInstanceModel
        statement = (
            select(model)
            .where(model.status == WorkflowStatus.RUNNING.value)
            .order_by(model.started_at, model.created_at, model.id)
        )
        return await self._scalars(statement)


class StepExecutionRepository(_WorkflowRepository[StepExecutionModel]):
    """Step executions: one row per attempt/iteration of a step."""

    model_type = StepExecutionModel

    async def get_history(self, instance_id: UUID) -> list[StepExecutionModel]:
        """An instance's step executions in the order they happened.

        Ordered by start time, falling back to creation time for executions that never started (pending,
        scheduled, skipped), then by attempt, so retries follow their earlier attempts.

        Args:
            instance_id: The instance.

        Returns:
            The step executions, earliest first.
        """
        model = StepExecutionModel
        statement = (
            select(model)
            .where(model.instance_id == instance_id)
            .order_by(
                func.coalesce(model.started_at, model.created_at), model.created_at, model.attempt, model.id
            )
        )
        return await self._scalars(statement)

    async def find_by_instance(self, instance_id: UUID) -> list[StepExecutionModel]:
        """An instance's step executions in the order they happened (see :meth:`get_history`)."""
        return await self.get_history(instance_id)

    async def find_by_step_name(self, instance_id: UUID, step_name: str) -> StepExecutionModel | None:
        """The latest execution of ``step_name`` in an instance, or ``None``."""
        runs = [run for run in await self.get_history(instance_id) if run.step_name == step_name]
        return runs[-1] if runs else None

    async def find_failed(self, instance_id: UUID | None = None) -> list[StepExecutionModel]:
        """Failed step executions, of one instance or of all."""
        model = StepExecutionModel
        conditions = [model.status == StepStatus.FAILED.value]
        if instance_id is not None:
            conditions.append(model.instance_id == instance_id)
        statement = select(model).where(*conditions).order_by(model.created_at, model.id)
        return await self._scalars(statement)


class HumanTaskRepository(_WorkflowRepository[HumanTaskModel]):
    """Human tasks: the inbox."""

    model_type = HumanTaskModel

    async def find_tasks(
        self,
        *,
        assignee_id: str | None = None,
        assignee_group: str | None = None,
        status: StatusFilter | None = None,
        due_before: datetime.datetime | None = None,
        tenant_id: str | None = None,
        instance_id: UUID | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> tuple[list[HumanTaskModel], int]:
        """One page of tasks matching every given filter, most urgent first, with the total match count.

        Ordered by due time (tasks without one last), then creation time.

        Args:
            assignee_id: Only tasks assigned to this user.
            assignee_group: Only tasks assigned to this group.
            status: Only tasks in this status (or any of these statuses).
            due_before: Only tasks due strictly before this (timezone-aware) time.
            tenant_id: Only tasks of this tenant's instances (tasks have no tenant of their own).
            instance_id: Only this instance's tasks.
            limit: Page size.
            offset: Rows to skip.

        Returns:
            ``(page, total)`` where ``total`` counts all matches, ignoring ``limit``/``offset``.

        Raises:
            ValueError: A naive datetime, or a negative ``limit``/``offset``.
        """
        model = HumanTaskModel
        conditions: list[ColumnElement[bool]] = []
        if assignee_id is not None:
            conditions.append(model.assignee_id == assignee_id)
        if assignee_group is not None:
            conditions.append(model.assignee_group == assignee_group)
        if status is not None:
            conditions.append(_status_condition(model.status, status))
        if due_before is not None:
            conditions.append(model.due_at < _aware(due_before, "due_before"))
        if instance_id is not None:
            conditions.append(model.instance_id == instance_id)
        statement = select(model)
        count_statement = select(func.count()).select_from(model)
        if tenant_id is not None:
            conditions.append(WorkflowInstanceModel.tenant_id == tenant_id)
            statement = statement.join(WorkflowInstanceModel, model.instance_id == WorkflowInstanceModel.id)
            count_statement = count_statement.join(
                WorkflowInstanceModel, model.instance_id == WorkflowInstanceModel.id
            )
        statement = statement.where(*conditions).order_by(*self._urgency_order())
        count_statement = count_statement.where(*conditions)
        return await self._page(statement, count_statement, limit=limit, offset=offset)

    async def get_pending_for_user(self, user_id: str, groups: Collection[str] = ()) -> list[HumanTaskModel]:
        """Pending tasks a user may act on: assigned to them, or to any of their groups.

        Args:
            user_id: The user.
            groups: The groups the user belongs to.

        Returns:
            The tasks, most urgent first.
        """
        model = HumanTaskModel
        audience: list[ColumnElement[bool]] = [model.assignee_id == user_id]
        if groups:
            audience.append(model.assignee_group.in_(list(groups)))
        statement = (
            select(model)
            .where(model.status == HumanTaskStatus.PENDING.value, or_(*audience))
            .order_by(*self._urgency_order())
        )
        return await self._scalars(statement)

    async def find_pending(
        self, assignee_id: str | None = None, assignee_group: str | None = None
    ) -> list[HumanTaskModel]:
        """Pending tasks, optionally only those of one assignee or one group (most urgent first)."""
        model = HumanTaskModel
        conditions = [model.status == HumanTaskStatus.PENDING.value]
        if assignee_id is not None:
            conditions.append(model.assignee_id == assignee_id)
        if assignee_group is not None:
            conditions.append(model.assignee_group == assignee_group)
        return await self._scalars(select(model).where(*conditions).order_by(*self._urgency_order()))

    async def find_by_instance(self, instance_id: UUID) -> list[HumanTaskModel]:
        """Every task of an instance, whatever its status (most urgent first)."""
        model = HumanTaskModel
        statement = select(model).where(model.instance_id == instance_id).order_by(*self._urgency_order())
        return await self._scalars(statement)

    async def find_overdue(self) -> list[HumanTaskModel]:
        """Pending tasks whose due time has passed."""
        model = HumanTaskModel
        now = datetime.datetime.now(datetime.UTC)
        statement = (
            select(model)
            .where(model.status == HumanTaskStatus.PENDING.value, model.due_at < now)
            .order_by(*self._urgency_order())
        )
        return await self._scalars(statement)

    async def complete_task(self, task_id: UUID, completed_by: str) -> HumanTaskModel | None:
        """Mark a task completed by ``completed_by`` now; ``None`` when unknown.

        A direct row update, as in the reference package: it does not resume the workflow (the
        engine's ``complete_human_task`` does), so it is meant for tools and repairs.
        """
        row = await self.get_one_or_none(id=task_id)
        if row is None:
            return None
        row.status = HumanTaskStatus.COMPLETED.value
        row.completed_by = completed_by
        row.completed_at = datetime.datetime.now(datetime.UTC)
        await self._edited_instance(row.instance_id)
        return await self.update(row)

    async def cancel_task(self, task_id: UUID) -> HumanTaskModel | None:
        """Mark a task canceled; ``None`` when unknown (a direct row update, like :meth:`complete_task`)."""
        row = await self.get_one_or_none(id=task_id)
        if row is None:
            return None
        row.status = HumanTaskStatus.CANCELED.value
        await self._edited_instance(row.instance_id)
        return await self.update(row)

    async def _edited_instance(self, instance_id: UUID) -> None:
        """Give the task's instance a new version, as ``update_status`` does (engines reload it)."""
        instance = await self.session.get(WorkflowInstanceModel, instance_id)
        if instance is not None:
            instance.version += 1

    @staticmethod
    def _urgency_order() -> Iterator[ColumnElement[Any] | InstrumentedAttribute[Any]]:
        model = HumanTaskModel
        # "due_at IS NULL" sorts false (0) before true (1) on every backend: a portable NULLS LAST.
        yield model.due_at.is_(None)
        yield model.due_at
        yield model.created_at
        yield model.id
