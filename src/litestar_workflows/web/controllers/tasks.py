"""``/tasks``: the human tasks people work on: list, inspect, claim, complete, reassign.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from typing import Annotated
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK

from litestar_workflows.core.errors import UnauthorizedTaskError
from litestar_workflows.core.types import HumanTaskStatus
from litestar_workflows.store.base import TaskQuery
from litestar_workflows.web.access import load_task, require_user
from litestar_workflows.web.controllers.deps import CONTROLLER_DEPENDENCIES
from litestar_workflows.web.controllers.params import (
    TOTAL_HEADER,
    Acting,
    Engine,
    Limit,
    Offset,
    total_header,
)
from litestar_workflows.web.controllers.reads import TaskRepo, task_reads
from litestar_workflows.web.errors import error_responses, exception_handlers
from litestar_workflows.web.presenters import task_out
from litestar_workflows.web.schemas import CompleteTaskRequest, ReassignTaskRequest, TaskOut

__all__ = ("HumanTaskController",)

COMMENT_KEY = "comment"
"""Where a completion's ``comment`` lands in the task data (and so in the workflow context)."""

# The paths declare ids as ``str`` and the handlers take UUIDs: an id that is not a UUID then fails
# Litestar's validation, which ``web.errors`` answers 404 naming the id (the router's ``:uuid`` would
# answer a bare "Not Found" before any of the API's handlers could say why).
TaskId = FromPath[UUID]
Assignee = Annotated[str | None, QueryParameter(description="Only tasks assigned to this user")]
AssigneeId = Annotated[str | None, QueryParameter(description="The documented name of `assignee`")]
Group = Annotated[str | None, QueryParameter(description="Only tasks open to this group")]
AssigneeGroup = Annotated[str | None, QueryParameter(description="The documented name of `group`")]
Status = Annotated[HumanTaskStatus | None, QueryParameter(description="Only tasks in this status")]
InstanceId = Annotated[UUID | None, QueryParameter(description="Only tasks of this instance")]
WorkflowName = Annotated[str | None, QueryParameter(description="Only tasks of this workflow")]


class _NoMatchError(Exception):
    """Two names of one filter ask for different values: no task can match both."""


def _one_of(value: str | None, alias_value: str | None) -> str | None:
    """A filter given under either of its names (both must hold, like every filter)."""
    if value is not None and alias_value is not None and value != alias_value:
        raise _NoMatchError
    return value if value is not None else alias_value


class HumanTaskController(Controller):
    """Human tasks of the acting tenant."""

    path = "/tasks"
    dependencies = CONTROLLER_DEPENDENCIES
    exception_handlers = exception_handlers()  # also when mounted on the app's own router

    @get(
        "/",
        operation_id="listTasks",
        summary="List human tasks",
        responses=error_responses(403, 503),
        response_headers=total_header(),
    )
    async def list_tasks(
        self,
        *,
        workflow_engine: Engine,
        actor: Acting,
        human_task_repo: TaskRepo = None,
        assignee: Assignee = None,
        assignee_id: AssigneeId = None,
        group: Group = None,
        assignee_group: AssigneeGroup = None,
        status: Status = None,
        instance_id: InstanceId = None,
        workflow_name: WorkflowName = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> Response[list[TaskOut]]:
        """Tasks matching the filters, oldest first (a JSON array; ``X-Total-Count`` has the total).

        Without any filter: the acting user's queue, i.e. the pending tasks assigned to them or
        open to one of their groups (every pending task for an anonymous request). Read from the
        app's ``human_task_repo`` when it provides one, else from the engine.
        """
        try:
            assignee = _one_of(assignee, assignee_id)
            group = _one_of(group, assignee_group)
        except _NoMatchError:
            return Response([], headers={TOTAL_HEADER: "0"})
        queue = all(value is None for value in (assignee, group, status, instance_id, workflow_name))
        query = TaskQuery(
            status=HumanTaskStatus.PENDING if queue else status,
            assignee_id=assignee,
            assignee_group=group,
            instance_id=instance_id,
            workflow_name=workflow_name,
            tenant_id=actor.tenant_id,
            workable_by=actor.user_id if queue else None,
            workable_groups=tuple(actor.groups) if queue else (),
            limit=limit,
            offset=offset,
        )
        page = await task_reads(workflow_engine, human_task_repo).find_tasks(query)
        return Response([task_out(t) for t in page.items], headers={TOTAL_HEADER: str(page.total)})

    @get(
        "/{task_id:str}",
        operation_id="getTask",
        summary="Get a human task",
        responses=error_responses(403, 404, 503),
    )
    async def get_task(
        self, workflow_engine: Engine, actor: Acting, task_id: TaskId, human_task_repo: TaskRepo = None
    ) -> TaskOut:
        """The task with its form schema, assignment and, once completed, its data."""
        return task_out(await load_task(task_reads(workflow_engine, human_task_repo), actor, task_id))

    @post(
        "/{task_id:str}/complete",
        operation_id="completeTask",
        summary="Complete a human task",
        status_code=HTTP_200_OK,
        responses=error_responses(403, 404, 409, 422, 503),
    )
    async def complete_task(
        self, workflow_engine: Engine, actor: Acting, task_id: TaskId, data: JSONBody[CompleteTaskRequest]
    ) -> TaskOut:
        """Complete the task as the acting user; the workflow continues with ``output_data``.

        The data must satisfy the task's form schema (422 names each failing field). A
        ``completed_by`` in the body is accepted only when it is the acting user (else 403); a
        ``comment`` is added to the data as ``comment`` unless the data has one.
        """
        await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "complete")
        if data.completed_by is not None and data.completed_by != user:
            raise UnauthorizedTaskError(
                f"completed_by {data.completed_by!r} is not the authenticated user {user!r}"
            )
        output = dict(data.output_data)
        if data.comment is not None:
            output.setdefault(COMMENT_KEY, data.comment)
        await workflow_engine.complete_task(task_id, user, output, groups=tuple(actor.groups))
        return task_out(await workflow_engine.get_task(task_id))

    @post(
        "/{task_id:str}/reassign",
        operation_id="reassignTask",
        summary="Reassign a human task",
        status_code=HTTP_200_OK,
        responses=error_responses(403, 404, 409, 503),
    )
    async def reassign_task(
        self, workflow_engine: Engine, actor: Acting, task_id: TaskId, data: JSONBody[ReassignTaskRequest]
    ) -> TaskOut:
        """Give a pending task to ``new_assignee``; the acting user must be allowed to act on it."""
        await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "reassign")
        await workflow_engine.reassign_task(
            task_id, data.new_assignee, user_id=user, reason=data.reason, groups=tuple(actor.groups)
        )
        return task_out(await workflow_engine.get_task(task_id))

    @post(
        "/{task_id:str}/claim",
        operation_id="claimTask",
        summary="Claim a group task",
        status_code=HTTP_200_OK,
        responses=error_responses(403, 404, 409, 503),
    )
    async def claim_task(self, workflow_engine: Engine, actor: Acting, task_id: TaskId) -> TaskOut:
        """Take an unassigned task open to one of the acting user's groups; it becomes theirs.

        Claiming a pending task already assigned to the acting user changes nothing; one assigned
        to someone else, or not pending any more (whoever holds it), answers 409, one the user may
        not work on 403.
        """
        await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "claim")
        return task_out(await workflow_engine.claim_task(task_id, user, groups=tuple(actor.groups)))
