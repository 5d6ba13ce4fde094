"""The UI's task pages: the acting user's inbox, one task with its form, and complete, claim, reassign.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from datetime import UTC, datetime
from typing import Annotated, Any, Final
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from litestar_workflows.core.errors import InvalidTransitionError, WorkflowValidationError
from litestar_workflows.web.access import load_task, require_user
from litestar_workflows.web.controllers.params import Acting, Engine
from litestar_workflows.web.ui.pages import (
    inbox,
    is_overdue,
    task_page,
)
from litestar_workflows.web.ui.rendering import page
from litestar_workflows.web.ui.requests import field_errors, form_of, problems_of, ui_url, zone_of
from litestar_workflows.web.ui.schema_form import (
    TASK_JSON_FIELD,
    form_schema_of,
    parse_form,
    parse_json_object,
)

__all__ = ("TaskPages",)

Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Rows to skip")]
TaskId = FromPath[UUID]
"""Paths take it as text, so a malformed one gets the HTML 404 (``web.errors.malformed_path_id``)."""
NEW_ASSIGNEE_MAX: Final = 200
"""Longest user id a reassignment accepts."""


REASSIGN_FIELD = "reassign-new_assignee"
"""The key of the reassign form's problem: apart from a task form's own field named ``new_assignee``."""


class TaskPages:
    """Routes of the inbox and the task page and its forms (a mixin)."""

    @get("/tasks")
    async def tasks(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, offset: Offset = 0
    ) -> Response[str]:
        """The acting user's queue: tasks assigned to them or open to their groups, oldest first."""
        context = await inbox(workflow_engine, actor, offset, zone_of(request))
        now = datetime.now(UTC)
        context["overdue_ids"] = {task.id for task in context["tasks"] if is_overdue(task, now)}
        return page(request, actor, "workflows/tasks.html", context)

    @get("/tasks/{task_id:str}")
    async def task(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, task_id: TaskId
    ) -> Response[str]:
        """The task and, for a user who may complete it, its form."""
        found = await load_task(workflow_engine, actor, task_id)
        context = await task_page(workflow_engine, actor, found)
        return page(request, actor, "workflows/task.html", context)

    @post("/tasks/{task_id:str}/complete")
    async def complete(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, task_id: TaskId
    ) -> Response[Any]:
        """Complete the task as the acting user with the form's data; 303 to the instance page.

        Data the form cannot read, or the task's schema refuses, re-renders the form with what was
        entered and an alert naming each failing field (422).
        """
        found = await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "complete")
        form = await form_of(request)
        fields_schema = form_schema_of(found.form_schema)
        if found.form_schema and fields_schema is None:  # the JSON editor of a schema without fields
            data, problems = parse_json_object(form.get(TASK_JSON_FIELD, ""), TASK_JSON_FIELD)
        else:
            data, problems = parse_form(fields_schema, form)
        # The schema's other complaints come along only for a form of fields: a JSON editor's
        # text that does not parse has no data to judge yet.
        errors = problems_of(problems, found.form_schema if fields_schema is not None else None, data)
        if not errors:
            try:
                await workflow_engine.complete_task(task_id, user, data, groups=tuple(actor.groups))
            except WorkflowValidationError as error:
                errors = field_errors(error)
        if errors:
            context = await task_page(workflow_engine, actor, found, dict(form), errors)
            return page(
                request, actor, "workflows/task.html", context, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        return Redirect(ui_url(request, "instances", found.instance_id), status_code=HTTP_303_SEE_OTHER)

    @post("/tasks/{task_id:str}/claim")
    async def claim(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, task_id: TaskId
    ) -> Redirect:
        """Take an open group task; 303 back to the task."""
        await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "claim")
        claim_task = getattr(workflow_engine, "claim_task", None)
        if claim_task is None:
            raise InvalidTransitionError("this engine cannot claim tasks")
        await claim_task(task_id, user, groups=tuple(actor.groups))
        return Redirect(ui_url(request, "tasks", task_id), status_code=HTTP_303_SEE_OTHER)

    @post("/tasks/{task_id:str}/reassign")
    async def reassign(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, task_id: TaskId
    ) -> Response[Any]:
        """Give the task to another user; 303 to the inbox (the task left the acting user's queue)."""
        found = await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "reassign")
        form = await form_of(request)
        new_assignee = form.get("new_assignee", "").strip()
        if not new_assignee or len(new_assignee) > NEW_ASSIGNEE_MAX:
            message = f"give the user id of the new assignee (1 to {NEW_ASSIGNEE_MAX} characters)"
            errors = [(REASSIGN_FIELD, message)]
            context = await task_page(workflow_engine, actor, found, None, errors)
            # What was typed comes back in the form, as on every refused form of the UI.
            context["reassign_entries"] = {"new_assignee": new_assignee, "reason": form.get("reason", "")}
            return page(
                request, actor, "workflows/task.html", context, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        reason = form.get("reason", "")[:2000] or None
        await workflow_engine.reassign_task(
            task_id, new_assignee, user_id=user, reason=reason, groups=tuple(actor.groups)
        )
        return Redirect(ui_url(request, "tasks", task_id), status_code=HTTP_303_SEE_OTHER)
