"""Drivers that move work: the local asyncio engine and the registry it reads from."""

from litestar_workflows.core.graph import WorkflowGraph
from litestar_workflows.engine.instance import WorkflowInstance, WorkflowInstanceData
from litestar_workflows.engine.local import LocalExecutionEngine
from litestar_workflows.engine.registry import WorkflowRegistry

__all__ = (
    "LocalExecutionEngine",
    "WorkflowGraph",
    "WorkflowInstance",
    "WorkflowInstanceData",
    "WorkflowRegistry",
)
