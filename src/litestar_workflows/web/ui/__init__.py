"""The web UI: task inbox and forms, workflows, instances with their live graph; offline.

The plugin mounts it at ``{api_path_prefix}{ui_path}`` (``/workflows/ui``); see
:mod:`litestar_workflows.web.ui.controller` for the routes and ``ASSETS.md`` for the static files.
"""

from __future__ import annotations

from litestar_workflows.web.ui.controller import UIPagesController, WorkflowUIController
from litestar_workflows.web.ui.rendering import get_template_config

__all__ = ("UIPagesController", "WorkflowUIController", "get_template_config")
