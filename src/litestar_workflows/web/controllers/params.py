"""Parameter declarations the controllers share: injected objects and pagination.

No ``from __future__ import annotations``: Litestar reads these annotations at runtime.
"""

from typing import Annotated, Final

from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import QueryParameter

from litestar_workflows.engine.registry import WorkflowRegistry
from litestar_workflows.web.engine import WorkflowEngine
from litestar_workflows.web.identity import Actor

__all__ = ("TOTAL_HEADER", "Acting", "Engine", "Limit", "Offset", "Registry", "total_header")

Engine = NamedDependency[WorkflowEngine]
"""The engine (dependency ``workflow_engine``: the app's, or the plugin's)."""
Registry = NamedDependency[WorkflowRegistry]
"""The registry (dependency ``workflow_registry``)."""
Acting = NamedDependency[Actor]
"""Who acts: user, groups and tenant from the request (dependency ``actor``)."""
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size")]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Items to skip")]

TOTAL_HEADER: Final = "X-Total-Count"
"""Lists answer a plain JSON array, as documented; how many match in all is in this header."""


def total_header() -> list[ResponseHeader]:
    """OpenAPI description of :data:`TOTAL_HEADER` on a list route."""
    return [
        ResponseHeader(
            name=TOTAL_HEADER,
            description="How many items match the filters in all (the body holds one page of them)",
            documentation_only=True,
        )
    ]
