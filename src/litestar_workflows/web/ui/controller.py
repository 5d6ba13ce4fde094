"""The web UI's routes: workflows, the start form, instances, the task inbox and task forms.

A thin layer over the engine calls the REST API makes, with the same dependencies
(``workflow_engine``, ``workflow_registry``, and ``actor`` from the configured resolvers): no
workflow logic lives here. Identity never comes from a form; every action is checked by the engine
(the buttons a page offers are only those the authorizers allow), and a refused one answers the 403
page. Forms post to the routes below and redirect (303) to the page to look at next.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, Final
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.middleware.base import DefineMiddleware
from litestar.params import FromPath, QueryParameter
from litestar.response import File, Redirect, ServerSentEvent
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from litestar_workflows.core.errors import InvalidTransitionError, WorkflowValidationError
from litestar_workflows.core.types import WorkflowStatus
from litestar_workflows.store.base import InstanceQuery
from litestar_workflows.web.access import load_instance, load_task, require_instance_user, require_user
from litestar_workflows.web.controllers.deps import CONTROLLER_DEPENDENCIES
from litestar_workflows.web.controllers.params import Acting, Engine, Registry
from litestar_workflows.web.long_poll import LongPollLimiter, client_of
from litestar_workflows.web.ui.csrf import UiCSRFMiddleware
from litestar_workflows.web.ui.errors import ui_exception_handlers
from litestar_workflows.web.ui.live import instance_events
from litestar_workflows.web.ui.pages import (
    LIST_PAGE,
    inbox,
    instance_list,
    instance_page,
    is_overdue,
    task_page,
    workflow_card,
)
from litestar_workflows.web.ui.permissions import ENGINE_METHOD
from litestar_workflows.web.ui.rendering import STATIC_DIR, page, ui_root_of
from litestar_workflows.web.ui.schema_form import FormProblem, form_fields, parse_form, parse_json_object

__all__ = ("UIPagesController", "WorkflowUIController")

Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Rows to skip")]
InstanceId = FromPath[UUID]
TaskId = FromPath[UUID]
NEW_ASSIGNEE_MAX: Final = 200
"""Longest user id a reassignment accepts."""


def _field_errors(error: WorkflowValidationError) -> list[tuple[str, str]]:
    """``(field, message)`` pairs of a validation error; the field is the top-level property."""
    pairs = []
    for entry in error.errors or [error.detail]:
        where, sep, message = entry.partition(": ")
        if not sep:
            pairs.append(("", entry))
            continue
        top = where.split("/", 1)[0]
        pairs.append(("" if top in {"(root)", "$"} else top, message))
    return pairs


def _problems(problems: list[FormProblem]) -> list[tuple[str, str]]:
    return [(problem.field, problem.message) for problem in problems]


def _url(request: Request[Any, Any, Any], *parts: object) -> str:
    return ui_root_of(request).rstrip("/") + "/" + "/".join(str(part) for part in parts)


def _moment(value: str | None, name: str, *, end_of_day: bool = False) -> datetime | None:
    """A date (``2024-05-01``, the filter form's) or date-time from the query; UTC without a zone."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationException(f"{name} must be a date such as 2024-05-01") from None
    if end_of_day and len(value) == 10:  # a date: up to the end of that day
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999_999)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _form(request: Request[Any, Any, Any]) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


class UIPagesController(Controller):
    """The web UI's pages and forms; the plugin mounts them at ``{api_path_prefix}{ui_path}``.

    The plugin serves the static files beside them with Litestar's static-files router; an
    application mounting the UI itself uses :class:`WorkflowUIController`, which serves them too.
    """

    path = "/"
    include_in_schema = False
    dependencies = CONTROLLER_DEPENDENCIES
    middleware = [DefineMiddleware(UiCSRFMiddleware)]
    exception_handlers = ui_exception_handlers()

    # ------------------------------------------------------------------ workflows

    @get("/")
    async def overview(
        self,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        workflow_registry: Registry,
        actor: Acting,
    ) -> Response[str]:
        """The workflows as cards, and the acting user's queue and running instances at a glance."""
        cards = [workflow_card(workflow_registry, d) for d in workflow_registry.list_definitions()]
        queue = await inbox(workflow_engine, actor, 0)
        running = await workflow_engine.find_instances(
            InstanceQuery(
                status=[WorkflowStatus.RUNNING, WorkflowStatus.WAITING, WorkflowStatus.PAUSED],
                tenant_id=actor.tenant_id,
                limit=5,
            )
        )
        context = {"cards": cards, "queue": queue, "running": running.items, "running_total": running.total}
        return page(request, actor, "workflows/overview.html", context)

    @get("/workflows")
    async def workflows(
        self, request: Request[Any, Any, Any], workflow_registry: Registry, actor: Acting
    ) -> Response[str]:
        """Every registered workflow (newest version) as a card with its graph and a Start button."""
        cards = [workflow_card(workflow_registry, d) for d in workflow_registry.list_definitions()]
        return page(request, actor, "workflows/workflows.html", {"cards": cards})

    @get("/workflows/{name:str}")
    async def workflow(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        workflow_registry: Registry,
        actor: Acting,
        name: FromPath[str],
        version: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> Response[str]:
        """One workflow: its graph, steps, versions and latest instances."""
        definition = workflow_registry.get_definition(name, version)
        recent = await workflow_engine.find_instances(
            InstanceQuery(workflow_name=name, tenant_id=actor.tenant_id, limit=10)
        )
        context = {
            **workflow_card(workflow_registry, definition),
            "recent": recent.items,
            "total": recent.total,
        }
        return page(request, actor, "workflows/workflow.html", context)

    @get("/workflows/{name:str}/start")
    async def start_form(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_registry: Registry,
        actor: Acting,
        name: FromPath[str],
        version: Annotated[str | None, QueryParameter(max_length=100)] = None,
    ) -> Response[str]:
        """The start form (newest version unless ``version``): fields from its input schema, or JSON."""
        definition = workflow_registry.get_definition(name, version)
        return self._start_page(
            request=request,
            registry=workflow_registry,
            actor=actor,
            name=definition.name,
            values={},
            errors=[],
            version=definition.version,
        )

    def _start_page(
        self,
        *,
        request: Request[Any, Any, Any],
        registry: Any,
        actor: Any,
        name: str,
        values: dict[str, Any],
        errors: list[tuple[str, str]],
        raw_json: str = "",
        version: str | None = None,
    ) -> Response[str]:
        definition = registry.get_definition(name, version)
        schema = getattr(definition, "input_schema", None)
        context = {
            **workflow_card(registry, definition),
            "fields": form_fields(schema, values) if schema else [],
            "errors": errors,
            "raw_json": raw_json,
        }
        status = HTTP_422_UNPROCESSABLE_ENTITY if errors else 200
        return page(request, actor, "workflows/start.html", context, status_code=status)

    @post("/workflows/{name:str}/start")
    async def start(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        workflow_registry: Registry,
        actor: Acting,
        name: FromPath[str],
    ) -> Response[Any]:
        """Start the workflow as the acting user; 303 to the new instance, or the form with its errors."""
        form = await _form(request)
        version = form.get("version") or None
        definition = workflow_registry.get_definition(name, version)
        schema = getattr(definition, "input_schema", None)
        raw = form.get("input_data", "")
        data, problems = parse_form(schema, form) if schema else parse_json_object(raw)
        if problems:
            return self._start_page(
                request=request,
                registry=workflow_registry,
                actor=actor,
                name=name,
                values=form,
                errors=_problems(problems),
                raw_json=raw,
                version=version,
            )
        try:
            instance = await workflow_engine.start_workflow(
                definition.name,
                data,
                version=definition.version,
                tenant_id=actor.tenant_id,
                created_by=actor.user_id,
            )
        except WorkflowValidationError as error:
            return self._start_page(
                request=request,
                registry=workflow_registry,
                actor=actor,
                name=name,
                values=form,
                errors=_field_errors(error),
                raw_json=raw,
                version=version,
            )
        return Redirect(_url(request, "instances", instance.id), status_code=HTTP_303_SEE_OTHER)

    # ------------------------------------------------------------------ instances

    @get("/instances")
    async def instances(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        workflow_registry: Registry,
        actor: Acting,
        status: Annotated[WorkflowStatus | None, QueryParameter()] = None,
        workflow: Annotated[str | None, QueryParameter(max_length=200)] = None,
        creator: Annotated[str | None, QueryParameter(max_length=200)] = None,
        started_after: Annotated[str | None, QueryParameter(max_length=40)] = None,
        started_before: Annotated[str | None, QueryParameter(max_length=40)] = None,
        offset: Offset = 0,
    ) -> Response[str]:
        """Instances of the acting tenant, newest first, filtered by status, workflow, creator and date."""
        query = InstanceQuery(
            status=status,
            workflow_name=workflow or None,
            created_by=creator or None,
            started_after=_moment(started_after, "started_after"),
            started_before=_moment(started_before, "started_before", end_of_day=True),
            tenant_id=actor.tenant_id,
            limit=LIST_PAGE,
            offset=offset,
        )
        context = await instance_list(workflow_engine, actor, query)
        context["workflow_names"] = sorted({d.name for d in workflow_registry.list_definitions()})
        context["filters"] = {
            "status": str(status) if status else "",
            "workflow": workflow or "",
            "creator": creator or "",
            "started_after": started_after or "",
            "started_before": started_before or "",
        }
        return page(request, actor, "workflows/instances.html", context)

    @get("/instances/{instance_id:uuid}")
    async def instance(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        workflow_registry: Registry,
        actor: Acting,
        instance_id: InstanceId,
        history: Offset = 0,
    ) -> Response[str]:
        """The instance: status, graph coloured by step state, timeline, data and allowed actions."""
        found = await load_instance(workflow_engine, actor, instance_id)
        context = await instance_page(workflow_engine, workflow_registry, actor, found, history)
        return page(request, actor, "workflows/instance.html", context)

    @get("/instances/{instance_id:uuid}/events")
    async def instance_stream(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        actor: Acting,
        instance_id: InstanceId,
        wait_limiter: NamedDependency[LongPollLimiter],
    ) -> ServerSentEvent:
        """Server-sent events while the instance changes (the page reloads its live part on each).

        An open stream counts as one of the client's long polls (``max_waits_per_client``): one
        more answers 429 at once, and the page falls back to reloading now and then.
        """
        found = await load_instance(workflow_engine, actor, instance_id)
        client = client_of(request, actor)
        with wait_limiter.slot(client):  # 429 now when the client holds as many as it may
            pass
        return instance_events(workflow_engine, found, hold=partial(wait_limiter.slot, client))

    async def _instance_action(
        self,
        request: Request[Any, Any, Any],
        engine: Any,
        actor: Any,
        instance_id: UUID,
        action: Any,
    ) -> Redirect:
        await load_instance(engine, actor, instance_id)
        user = require_instance_user(actor, action)
        method = getattr(engine, ENGINE_METHOD[action], None)
        if method is None:
            raise InvalidTransitionError(f"this engine cannot {action} instances")
        if action == "cancel":
            form = await _form(request)
            reason = form.get("reason", "")[:2000] or f"canceled by {user} in the web UI"
            await method(instance_id, reason, user_id=user, groups=actor.groups)
        else:
            await method(instance_id, user_id=user, groups=actor.groups)
        return Redirect(_url(request, "instances", instance_id), status_code=HTTP_303_SEE_OTHER)

    @post("/instances/{instance_id:uuid}/cancel")
    async def cancel(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> Redirect:
        """Cancel the instance (its creator and administrators may)."""
        return await self._instance_action(request, workflow_engine, actor, instance_id, "cancel")

    @post("/instances/{instance_id:uuid}/retry")
    async def retry(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> Redirect:
        """Run a failed instance again from its failed step."""
        return await self._instance_action(request, workflow_engine, actor, instance_id, "retry")

    @post("/instances/{instance_id:uuid}/pause")
    async def pause(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> Redirect:
        """Hold the instance: running steps finish, nothing new starts."""
        return await self._instance_action(request, workflow_engine, actor, instance_id, "pause")

    @post("/instances/{instance_id:uuid}/resume")
    async def resume(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> Redirect:
        """Continue a paused instance."""
        return await self._instance_action(request, workflow_engine, actor, instance_id, "resume")

    # ------------------------------------------------------------------ tasks

    @get("/tasks")
    async def tasks(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, offset: Offset = 0
    ) -> Response[str]:
        """The acting user's queue: tasks assigned to them or open to their groups, oldest first."""
        context = await inbox(workflow_engine, actor, offset)
        now = datetime.now(UTC)
        context["overdue_ids"] = {task.id for task in context["tasks"] if is_overdue(task, now)}
        return page(request, actor, "workflows/tasks.html", context)

    @get("/tasks/{task_id:uuid}")
    async def task(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, task_id: TaskId
    ) -> Response[str]:
        """The task and, for a user who may complete it, its form."""
        found = await load_task(workflow_engine, actor, task_id)
        context = await task_page(workflow_engine, actor, found)
        return page(request, actor, "workflows/task.html", context)

    @post("/tasks/{task_id:uuid}/complete")
    async def complete(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, task_id: TaskId
    ) -> Response[Any]:
        """Complete the task as the acting user with the form's data; 303 to the instance page.

        Data the form cannot read, or the task's schema refuses, re-renders the form with what was
        entered and an alert naming each failing field (422).
        """
        found = await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "complete")
        form = await _form(request)
        data, problems = parse_form(found.form_schema, form)
        errors = _problems(problems)
        if not errors:
            try:
                await workflow_engine.complete_task(task_id, user, data)
            except WorkflowValidationError as error:
                errors = _field_errors(error)
        if errors:
            context = await task_page(workflow_engine, actor, found, dict(form), errors)
            return page(
                request, actor, "workflows/task.html", context, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        return Redirect(_url(request, "instances", found.instance_id), status_code=HTTP_303_SEE_OTHER)

    @post("/tasks/{task_id:uuid}/claim")
    async def claim(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, task_id: TaskId
    ) -> Redirect:
        """Take an open group task; 303 back to the task."""
        await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "claim")
        claim_task = getattr(workflow_engine, "claim_task", None)
        if claim_task is None:
            raise InvalidTransitionError("this engine cannot claim tasks")
        await claim_task(task_id, user)
        return Redirect(_url(request, "tasks", task_id), status_code=HTTP_303_SEE_OTHER)

    @post("/tasks/{task_id:uuid}/reassign")
    async def reassign(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, task_id: TaskId
    ) -> Response[Any]:
        """Give the task to another user; 303 to the inbox (the task left the acting user's queue)."""
        found = await load_task(workflow_engine, actor, task_id)
        user = require_user(actor, "reassign")
        form = await _form(request)
        new_assignee = form.get("new_assignee", "").strip()
        if not new_assignee or len(new_assignee) > NEW_ASSIGNEE_MAX:
            message = f"give the user id of the new assignee (1 to {NEW_ASSIGNEE_MAX} characters)"
            errors = [("new_assignee", message)]
            context = await task_page(workflow_engine, actor, found, None, errors)
            return page(
                request, actor, "workflows/task.html", context, status_code=HTTP_422_UNPROCESSABLE_ENTITY
            )
        reason = form.get("reason", "")[:2000] or None
        await workflow_engine.reassign_task(task_id, new_assignee, user_id=user, reason=reason)
        return Redirect(_url(request, "tasks", task_id), status_code=HTTP_303_SEE_OTHER)


class WorkflowUIController(UIPagesController):
    """The whole UI (pages and static files) as one controller at ``/ui``, for apps that mount it.

    The documented full setup mounts it on a router beside its own ``workflow_engine`` /
    ``workflow_registry`` dependencies; links follow wherever it is mounted. The plugin does not
    use it (it mounts the pages and Litestar's static-files router under ``/workflows/ui``).
    """

    path = "/ui"

    @get("/static/{file_path:path}", cache=False)
    async def static(self, file_path: FromPath[str]) -> File:
        """The UI's own CSS and scripts and the vendored libraries: nothing is loaded from elsewhere."""
        root = STATIC_DIR.resolve()
        target = (root / file_path.lstrip("/")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            raise NotFoundException(f"no static file {file_path!r}")
        return File(
            target, headers={"Cache-Control": "public, max-age=3600"}, content_disposition_type="inline"
        )
