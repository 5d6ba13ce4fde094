"""Home of ``WorkflowGraph`` under the module path users of earlier releases import from."""

from litestar_workflows.core.graph import OutEdge, WorkflowGraph

__all__ = ("OutEdge", "WorkflowGraph")
