"""The Litestar plugin, under the import path users know: ``from litestar_workflows.plugin import ...``."""

from litestar_workflows.web.config import WorkflowPluginConfig
from litestar_workflows.web.plugin import WorkflowPlugin

__all__ = ("WorkflowPlugin", "WorkflowPluginConfig")
