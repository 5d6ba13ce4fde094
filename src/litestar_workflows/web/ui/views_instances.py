"""The UI's instance pages: the filtered list, one instance with its live stream, and its actions.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from functools import partial
from typing import Annotated, Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, ServerSentEvent
from litestar.status_codes import HTTP_303_SEE_OTHER

from litestar_workflows.core.errors import InvalidTransitionError
from litestar_workflows.store.base import InstanceQuery
from litestar_workflows.web.access import load_instance, require_instance_user
from litestar_workflows.web.controllers.params import Acting, Engine, Registry
from litestar_workflows.web.long_poll import LongPollLimiter, client_of
from litestar_workflows.web.ui.live import instance_events
from litestar_workflows.web.ui.pages import (
    LIST_PAGE,
    instance_list,
    instance_page,
)
from litestar_workflows.web.ui.permissions import ENGINE_METHOD
from litestar_workflows.web.ui.rendering import page
from litestar_workflows.web.ui.requests import form_of, moment_of, status_of, ui_url

__all__ = ("InstancePages",)

Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Rows to skip")]
InstanceId = FromPath[UUID]
"""Paths take it as text, so a malformed one gets the HTML 404 (``web.errors.malformed_path_id``)."""


class InstancePages:
    """Routes of the instance list, the instance page, its event stream and actions (a mixin)."""

    @get("/instances")
    async def instances(
        self,
        *,
        request: Request[Any, Any, Any],
        workflow_engine: Engine,
        workflow_registry: Registry,
        actor: Acting,
        status: Annotated[str | None, QueryParameter(max_length=20)] = None,
        workflow: Annotated[str | None, QueryParameter(max_length=200)] = None,
        creator: Annotated[str | None, QueryParameter(max_length=200)] = None,
        started_after: Annotated[str | None, QueryParameter(max_length=40)] = None,
        started_before: Annotated[str | None, QueryParameter(max_length=40)] = None,
        offset: Offset = 0,
    ) -> Response[str]:
        """Instances of the acting tenant, newest first, filtered by status, workflow, creator and date."""
        query = InstanceQuery(
            status=status_of(status),
            workflow_name=workflow or None,
            created_by=creator or None,
            started_after=moment_of(started_after, "started_after"),
            started_before=moment_of(started_before, "started_before", end_of_day=True),
            tenant_id=actor.tenant_id,
            limit=LIST_PAGE,
            offset=offset,
        )
        context = await instance_list(workflow_engine, actor, query)
        context["workflow_names"] = sorted({d.name for d in workflow_registry.list_definitions()})
        context["filters"] = {
            "status": status or "",
            "workflow": workflow or "",
            "creator": creator or "",
            "started_after": started_after or "",
            "started_before": started_before or "",
        }
        return page(request, actor, "workflows/instances.html", context)

    @get("/instances/{instance_id:str}")
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

    @get("/instances/{instance_id:str}/events")
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
            form = await form_of(request)
            reason = form.get("reason", "")[:2000] or f"canceled by {user} in the web UI"
            await method(instance_id, reason, user_id=user, groups=actor.groups)
        else:
            await method(instance_id, user_id=user, groups=actor.groups)
        return Redirect(ui_url(request, "instances", instance_id), status_code=HTTP_303_SEE_OTHER)

    @post("/instances/{instance_id:str}/cancel")
    async def cancel(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> Redirect:
        """Cancel the instance (its creator and administrators may)."""
        return await self._instance_action(request, workflow_engine, actor, instance_id, "cancel")

    @post("/instances/{instance_id:str}/retry")
    async def retry(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> Redirect:
        """Run a failed instance again from its failed step."""
        return await self._instance_action(request, workflow_engine, actor, instance_id, "retry")

    @post("/instances/{instance_id:str}/pause")
    async def pause(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> Redirect:
        """Hold the instance: running steps finish, nothing new starts."""
        return await self._instance_action(request, workflow_engine, actor, instance_id, "pause")

    @post("/instances/{instance_id:str}/resume")
    async def resume(
        self, request: Request[Any, Any, Any], workflow_engine: Engine, actor: Acting, instance_id: InstanceId
    ) -> Redirect:
        """Continue a paused instance."""
        return await self._instance_action(request, workflow_engine, actor, instance_id, "resume")
