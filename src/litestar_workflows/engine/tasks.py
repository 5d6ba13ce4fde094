"""Human-task operations of the local driver: complete, claim, reassign, and the task queries.

Kept apart from the driving loop; :class:`~litestar_workflows.engine.local.LocalExecutionEngine`
mixes it in. Every check (still pending, who may act, valid data) runs again on each attempt of
a transition, so that a retry on a reloaded copy of the instance is judged on that copy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.errors import (
    HumanTaskError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    UnauthorizedTaskError,
)
from litestar_workflows.core.types import HumanTaskStatus
from litestar_workflows.engine.live import as_uuid
from litestar_workflows.runtime.human import FormCheck, check_submission, task_action_allowed
from litestar_workflows.runtime.jsondata import check_text, check_user_id, normalize_mapping
from litestar_workflows.store.base import Page, TaskQuery

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Iterable
    from uuid import UUID

    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.engine.live import Live
    from litestar_workflows.runtime.human import TaskAction, TaskAuthorizer
    from litestar_workflows.runtime.interpreter import Interpreter
    from litestar_workflows.runtime.transition import Transition
    from litestar_workflows.store.base import WorkflowStore

    Operation = Callable[[Interpreter, WorkflowInstanceData], Transition]


_WHOLE_QUEUE = 10_000
"""How many tasks :meth:`HumanTaskOperations.get_pending_tasks` returns at most."""


class HumanTaskOperations:
    """Operations on human tasks, for an engine that provides the members declared below."""

    if TYPE_CHECKING:
        store: WorkflowStore
        authorizer: TaskAuthorizer

        async def _live_instance(self, instance_id: UUID) -> Live: ...

        async def _apply(
            self, live: Live, op: Operation, check: Callable[[], Awaitable[object]] | None = None
        ) -> WorkflowInstanceData: ...

        async def _until_task_is_up(self, live: Live, step_name: str) -> None: ...

    async def complete_human_task(
        self,
        instance_id: UUID,
        step_name: str,
        user_id: str,
        data: dict[str, Any] | None = None,
        *,
        groups: Collection[str] | None = None,
    ) -> WorkflowInstanceData:
        """Complete the pending task of ``step_name``: check the user and the data, then continue.

        ``groups`` are those of ``user_id`` when the caller knows them (the web plugin passes the
        request's): the task authorizer may judge a group task by them. ``None``: not known.

        When this process is still bringing the instance to ``step_name``'s task (on a database,
        the commits of the steps before it are in flight, however many steps there are; or the
        step's hooks await I/O), the call waits for the task instead of refusing.

        Raises:
            WorkflowInstanceNotFoundError: No such instance.
            TaskNotFoundError: The workflow has no such step.
            TaskAlreadyCompletedError: The task was completed already (maybe concurrently).
            InvalidTransitionError: The instance does not wait at that step (or is paused).
            UnauthorizedTaskError: ``user_id`` may not complete the task.
            TaskValidationError: ``data`` fails the task's form schema (errors name the fields).
        """
        live = await self._live_instance(instance_id)
        await self._until_task_is_up(live, step_name)
        return await self._complete(live, step_name, user_id, data, groups=groups)

    async def complete_task(
        self,
        task_id: UUID,
        user_id: str,
        data: dict[str, Any] | None = None,
        *,
        groups: Collection[str] | None = None,
    ) -> WorkflowInstanceData:
        """Complete a human task by its id (see :meth:`complete_human_task`)."""
        task = await self.get_task(task_id)
        live = await self._live_instance(task.instance_id)
        return await self._complete(live, task.step_name, user_id, data, task_id=task.id, groups=groups)

    async def _complete(
        self,
        live: Live,
        step_name: str,
        user_id: str,
        data: dict[str, Any] | None,
        *,
        task_id: UUID | None = None,
        groups: Collection[str] | None = None,
    ) -> WorkflowInstanceData:
        if not user_id:
            raise UnauthorizedTaskError("a user id is required to complete a task")
        check_text(user_id, "user_id")
        clean = normalize_mapping(data, f"data for task {step_name!r}")
        chosen: list[HumanTask] = []
        valid_form = FormCheck(clean, f"task {step_name!r}")  # checked again on a reload: validated once

        async def pending_allowed_valid() -> None:
            task = live.interpreter.find_pending_task(live.instance, step_name)
            if task_id is not None and task.id != task_id:  # a later iteration's task of that step
                raise TaskAlreadyCompletedError(f"task {task_id} is not pending any more")
            await self._authorize(task, user_id, "complete", groups)
            valid_form(task.form_schema)
            step = live.interpreter.definition.steps.get(step_name)
            await check_submission(step, live.instance.context, step_name, clean)
            chosen[:] = [task]

        return await self._apply(
            live,
            lambda it, inst: it.task_completed(inst, chosen[0].id, user_id, clean),
            pending_allowed_valid,
        )

    async def _authorize(
        self, task: HumanTask, user_id: str, action: TaskAction, groups: Collection[str] | None = None
    ) -> None:
        if not await task_action_allowed(self.authorizer, task, user_id, action, groups):
            holder = task.assignee_id or f"group {task.assignee_group}"
            why = (
                "assigned to them, but the task authorizer refuses it"
                if holder == user_id
                else f"assigned to {holder!r}"
            )
            raise UnauthorizedTaskError(
                f"user {user_id!r} may not {action} task {task.id} ({task.step_name!r}), {why}"
            )

    def _current_task(self, live: Live, task: HumanTask) -> HumanTask:
        current = live.instance.runtime.pending_tasks.get(task.id.int)
        if current is None:
            raise TaskAlreadyCompletedError(f"task {task.id} is not pending any more (completed or canceled)")
        return current

    async def reassign_task(
        self,
        task_id: UUID,
        new_assignee: str | None,
        *,
        user_id: str | None = None,
        reason: str | None = None,
        groups: Collection[str] | None = None,
    ) -> HumanTask:
        """Give a pending task to ``new_assignee``; when ``user_id`` is given it must be allowed to.

        ``groups``: those of ``user_id``, when the caller knows them (see :meth:`complete_task`).

        The new assignee must be someone the authorizer lets complete the task: a task handed to
        a person who may not complete it (the requester of the case it decides, say, under a rule
        that forbids that) would stay pending with nobody able to act on it.

        Raises:
            UnauthorizedTaskError: ``user_id`` may not reassign the task, or ``new_assignee``
                could not complete it.
        """
        check_text(new_assignee, "new_assignee")
        check_user_id(new_assignee, "new_assignee")
        check_text(reason, "reason")
        task = await self.get_task(task_id)
        live = await self._live_instance(task.instance_id)

        async def allowed() -> None:
            current = self._current_task(live, task)
            if user_id is not None:
                await self._authorize(current, user_id, "reassign", groups)
            if new_assignee is not None:
                handed = replace(current, assignee_id=new_assignee)
                if not await self.authorizer.can_act(handed, new_assignee, "complete"):
                    raise UnauthorizedTaskError(
                        f"task {task.id} ({task.step_name!r}) cannot be reassigned to {new_assignee!r}: "
                        "they may not complete it"
                    )

        await self._apply(
            live, lambda it, inst: it.task_reassigned(inst, task.id, new_assignee, reason), allowed
        )
        return live.instance.runtime.pending_tasks.get(task.id.int, task)

    async def claim_task(
        self, task_id: UUID, user_id: str, *, groups: Collection[str] | None = None
    ) -> HumanTask:
        """Take an unassigned (group) task for ``user_id`` (``groups``: see :meth:`complete_task`).

        Claiming a pending task the user already holds changes nothing. A task that is not
        pending any more is refused for everyone alike (``TaskAlreadyCompletedError``), its
        assignee included: the short cut must not answer a finished task as if it were claimable.
        """
        check_text(user_id, "user_id")
        task = await self.get_task(task_id)
        if task.assignee_id == user_id and task.status is HumanTaskStatus.PENDING:
            return task
        live = await self._live_instance(task.instance_id)

        def not_taken() -> HumanTask:
            current = self._current_task(live, task)
            if current.assignee_id is not None and current.assignee_id != user_id:
                raise HumanTaskError(f"task {task.id} is already assigned to {current.assignee_id!r}")
            return current

        async def claimable() -> None:
            current = not_taken()
            # The authorizer may await (a permission lookup), and another claim may land meanwhile:
            # the task is then taken, which is the answer (not a refusal of the user, nor a takeover).
            try:
                await self._authorize(current, user_id, "claim", groups)
            except UnauthorizedTaskError:
                not_taken()
                raise
            not_taken()

        await self._apply(
            live, lambda it, inst: it.task_reassigned(inst, task.id, user_id, "claimed"), claimable
        )
        return live.instance.runtime.pending_tasks.get(task.id.int, task)

    async def get_task(self, task_id: UUID) -> HumanTask:
        """The task with this id.

        Raises:
            TaskNotFoundError: No such task.
        """
        task = await self.store.get_task(as_uuid(task_id))
        if task is None:
            raise TaskNotFoundError(f"task {task_id} does not exist")
        return task

    async def find_tasks(self, query: TaskQuery | None = None, **filters: Any) -> Page[HumanTask]:
        """Tasks by status, assignee, group(s), instance, workflow, tenant or due date."""
        query = query or TaskQuery(**filters)
        items, total = await self.store.find_tasks(query)
        return Page(items, total, query.limit, query.offset)

    async def get_pending_tasks(
        self, user_id: str | None = None, groups: Iterable[str] = (), tenant_id: str | None = None
    ) -> list[HumanTask]:
        """Pending tasks assigned to ``user_id``, unassigned and open to one of ``groups``, or open to anyone.

        Oldest first; every pending task when neither is given. For a page of a queue use
        :meth:`find_tasks` with ``workable_by`` / ``workable_groups``.
        """
        query = TaskQuery(
            status=HumanTaskStatus.PENDING,
            workable_by=user_id,
            workable_groups=tuple(groups),
            tenant_id=tenant_id,
            limit=_WHOLE_QUEUE,
        )
        return (await self.find_tasks(query)).items


__all__ = ("HumanTaskOperations",)
