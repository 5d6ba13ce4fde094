"""The Litestar integration: plugin, REST API, CLI, and Mermaid graphs.

``litestar_workflows.web.graph`` needs no Litestar; everything else here does (the ``web``
extra), so the plugin names are imported lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar_workflows.web.config import WorkflowPluginConfig
    from litestar_workflows.web.plugin import WorkflowPlugin

__all__ = ("WorkflowPlugin", "WorkflowPluginConfig")


def __getattr__(name: str) -> Any:
    if name == "WorkflowPlugin":
        from litestar_workflows.web.plugin import WorkflowPlugin

        return WorkflowPlugin
    if name == "WorkflowPluginConfig":
        from litestar_workflows.web.config import WorkflowPluginConfig

        return WorkflowPluginConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
