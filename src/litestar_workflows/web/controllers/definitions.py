"""``/definitions``: the registered workflows, their steps and their graphs.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from typing import Annotated

from litestar import Controller, get
from litestar.params import FromPath, QueryParameter

from litestar_workflows.web.controllers.params import Registry
from litestar_workflows.web.errors import error_responses
from litestar_workflows.web.presenters import definition_detail, definition_graph, definition_summary
from litestar_workflows.web.schemas import DefinitionDetail, DefinitionSummary, GraphOut

__all__ = ("DefinitionController",)

Version = Annotated[
    str | None, QueryParameter(description="A registered version; the newest when omitted", max_length=255)
]


class DefinitionController(Controller):
    """Read the registry: which workflows exist, what they look like."""

    path = "/definitions"

    @get("/", operation_id="listWorkflowDefinitions", summary="List workflow definitions")
    async def list_definitions(self, wf_registry: Registry) -> list[DefinitionSummary]:
        """Every registered workflow in its newest active version, with all its versions."""
        return [
            definition_summary(definition, wf_registry.get_versions(definition.name))
            for definition in wf_registry.list_definitions()
        ]

    @get(
        "/{name:str}",
        operation_id="getWorkflowDefinition",
        summary="Get a workflow definition",
        responses=error_responses(404),
    )
    async def get_definition(
        self, wf_registry: Registry, name: FromPath[str], version: Version = None
    ) -> DefinitionDetail:
        """A definition's steps (human steps with their form schema) and edges (with conditions)."""
        definition = wf_registry.get_definition(name, version)
        return definition_detail(definition, wf_registry.get_versions(name))

    @get(
        "/{name:str}/graph",
        operation_id="getWorkflowDefinitionGraph",
        summary="Get a workflow definition's graph",
        responses=error_responses(404),
    )
    async def get_definition_graph(
        self, wf_registry: Registry, name: FromPath[str], version: Version = None
    ) -> GraphOut:
        """The workflow as a Mermaid flowchart, plus its nodes and edges for UIs that draw it themselves."""
        return definition_graph(wf_registry.get_definition(name, version))
