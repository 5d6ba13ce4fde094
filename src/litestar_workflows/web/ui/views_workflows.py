"""The UI's workflow pages: overview, the workflow cards, one workflow, and its start form.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from typing import Annotated, Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect
from litestar.status_codes import HTTP_303_SEE_OTHER, HTTP_422_UNPROCESSABLE_ENTITY

from litestar_workflows.core.errors import WorkflowValidationError
from litestar_workflows.core.types import WorkflowStatus
from litestar_workflows.store.base import InstanceQuery
from litestar_workflows.web.controllers.params import Acting, Engine, Registry
from litestar_workflows.web.ui.pages import (
    inbox,
    workflow_card,
)
from litestar_workflows.web.ui.rendering import page
from litestar_workflows.web.ui.requests import field_errors, form_of, problems_of, ui_url, zone_of
from litestar_workflows.web.ui.schema_form import form_fields, form_schema_of, parse_form, parse_json_object

__all__ = ("WorkflowPages",)


VERSION_FIELD = "_workflow_version"
"""The start form's hidden field naming the version to start."""


class WorkflowPages:
    """Routes of the overview, the workflows and the start form (mixed into the UI controller)."""

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
        queue = await inbox(workflow_engine, actor, 0, zone_of(request))
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
    async def startform_of(
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
            "has_schema": bool(schema),
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
        form = await form_of(request)
        # Named apart from the input schema's fields, one of which may well be "version".
        version = form.get(VERSION_FIELD) or None
        definition = workflow_registry.get_definition(name, version)
        schema = getattr(definition, "input_schema", None)
        raw = form.get("input_data", "")
        # A schema with no properties to make inputs of gets the JSON editor, and its text is read.
        fields_schema = form_schema_of(schema)
        data, problems = parse_form(fields_schema, form) if fields_schema else parse_json_object(raw)
        if problems:
            return self._start_page(
                request=request,
                registry=workflow_registry,
                actor=actor,
                name=name,
                values=form,
                errors=problems_of(problems, schema if fields_schema else None, data),
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
                errors=field_errors(error),
                raw_json=raw,
                version=version,
            )
        return Redirect(ui_url(request, "instances", instance.id), status_code=HTTP_303_SEE_OTHER)
