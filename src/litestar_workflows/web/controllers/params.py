"""Parameter declarations the controllers share: injected objects and pagination.

No ``from __future__ import annotations``: Litestar reads these annotations at runtime.
"""

from typing import Annotated

from litestar.di import NamedDependency
from litestar.params import QueryParameter

from litestar_workflows.engine.registry import WorkflowRegistry
from litestar_workflows.web.engine import WorkflowEngine
from litestar_workflows.web.identity import Actor

__all__ = ("Acting", "Engine", "Limit", "Offset", "Registry")

Engine = NamedDependency[WorkflowEngine]
"""The served engine (dependency ``wf_engine`` of the API router)."""
Registry = NamedDependency[WorkflowRegistry]
"""The served registry (dependency ``wf_registry``)."""
Acting = NamedDependency[Actor]
"""Who acts: user, groups and tenant from the request (dependency ``actor``)."""
Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size")]
Offset = Annotated[int, QueryParameter(ge=0, le=1_000_000_000, description="Items to skip")]
