"""Home of ``WorkflowInstanceData`` under the module path the reference package uses.

The class itself lives in :mod:`litestar_workflows.core.models`; this module only lets code
written for ``litestar_workflows.engine.instance`` import it unchanged.
"""

from __future__ import annotations

from litestar_workflows.core.models import WorkflowInstanceData

WorkflowInstance = WorkflowInstanceData
"""The reference package's short name for the instance data class."""

__all__ = ("WorkflowInstance", "WorkflowInstanceData")
