"""The documented names of the web UI: ``WorkflowUIController`` and ``get_template_config``.

The documented full setup mounts ``WorkflowUIController`` on the app's own router (it serves the
UI at ``/ui``, static files included) and passes ``template_config=get_template_config()`` to the
app. The UI itself lives in :mod:`litestar_workflows.web.ui`; the plugin mounts it at
``/workflows/ui`` by default, so most apps need neither name.
"""

from __future__ import annotations

from litestar_workflows.web.ui.controller import WorkflowUIController
from litestar_workflows.web.ui.rendering import get_template_config

__all__ = ("WorkflowUIController", "get_template_config")
