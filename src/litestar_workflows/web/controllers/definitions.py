"""``/definitions``: the registered workflows, their steps and their graphs.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from typing import Annotated, Literal

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, QueryParameter

from litestar_workflows.web.controllers.deps import CONTROLLER_DEPENDENCIES
from litestar_workflows.web.controllers.params import Registry
from litestar_workflows.web.errors import error_responses, exception_handlers
from litestar_workflows.web.presenters import definition_detail, definition_graph, definition_summary
from litestar_workflows.web.schemas import DefinitionDetail, DefinitionSummary, GraphOut

__all__ = ("WorkflowDefinitionController",)

GRAPH_FORMATS: tuple[Literal["mermaid"], Literal["json"]] = ("mermaid", "json")

Version = Annotated[
    str | None, QueryParameter(description="A registered version; the newest when omitted", max_length=255)
]


GraphFormat = Annotated[
    str,
    QueryParameter(
        description="`mermaid` (default): Mermaid text plus nodes and edges; `json`: nodes and edges only",
        max_length=32,
    ),
]


class WorkflowDefinitionController(Controller):
    """Read the registry: which workflows exist, what they look like."""

    path = "/definitions"
    dependencies = CONTROLLER_DEPENDENCIES
    exception_handlers = exception_handlers()  # also when mounted on the app's own router

    @get("/", operation_id="listWorkflowDefinitions", summary="List workflow definitions")
    async def list_definitions(self, workflow_registry: Registry) -> list[DefinitionSummary]:
        """Every registered workflow in its newest version: steps, edges, initial/terminal steps, versions."""
        return [
            definition_summary(definition, workflow_registry.get_versions(definition.name))
            for definition in workflow_registry.list_definitions()
        ]

    @get(
        "/{name:str}",
        operation_id="getWorkflowDefinition",
        summary="Get a workflow definition",
        responses=error_responses(404),
    )
    async def get_definition(
        self, workflow_registry: Registry, name: FromPath[str], version: Version = None
    ) -> DefinitionDetail:
        """A definition as listed, plus ``step_details`` (types, descriptions, human steps' forms)."""
        definition = workflow_registry.get_definition(name, version)
        return definition_detail(definition, workflow_registry.get_versions(name))

    @get(
        "/{name:str}/graph",
        operation_id="getWorkflowDefinitionGraph",
        summary="Get a workflow definition's graph",
        responses=error_responses(404),
    )
    async def get_definition_graph(
        self,
        workflow_registry: Registry,
        name: FromPath[str],
        version: Version = None,
        graph_format: GraphFormat = "mermaid",
    ) -> GraphOut:
        """The workflow as a Mermaid flowchart, plus its nodes and edges for UIs that draw it themselves.

        An unknown ``graph_format`` answers 404: there is no such representation of the graph.
        """
        if graph_format not in GRAPH_FORMATS:
            raise NotFoundException(f"Unknown format: {graph_format} (known: {', '.join(GRAPH_FORMATS)})")
        definition = workflow_registry.get_definition(name, version)
        return definition_graph(definition, with_mermaid=graph_format == "mermaid")
