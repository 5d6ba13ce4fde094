"""The web UI's routes: workflows, the start form, instances, the task inbox and task forms.

A thin layer over the engine calls the REST API makes, with the same dependencies
(``workflow_engine``, ``workflow_registry``, and ``actor`` from the configured resolvers): no
workflow logic lives here. Identity never comes from a form; every action is checked by the engine
(the buttons a page offers are only those the authorizers allow), and a refused one answers the 403
page. Forms post and redirect (303) to the page to look at next. The routes live in three mixins
(``views_workflows``, ``views_instances``, ``views_tasks``); this module puts them together.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from litestar import Controller, get
from litestar.exceptions import NotFoundException
from litestar.middleware.base import DefineMiddleware
from litestar.params import FromPath
from litestar.response import File

from litestar_workflows.web.controllers.deps import CONTROLLER_DEPENDENCIES
from litestar_workflows.web.ui.csrf import UiCSRFMiddleware
from litestar_workflows.web.ui.errors import ui_exception_handlers
from litestar_workflows.web.ui.rendering import STATIC_DIR
from litestar_workflows.web.ui.views_instances import InstancePages
from litestar_workflows.web.ui.views_tasks import TaskPages
from litestar_workflows.web.ui.views_workflows import WorkflowPages

__all__ = ("UIPagesController", "WorkflowUIController")


class UIPagesController(WorkflowPages, InstancePages, TaskPages, Controller):
    """The web UI's pages and forms; the plugin mounts them at ``{api_path_prefix}{ui_path}``.

    The plugin serves the static files beside them with Litestar's static-files router; an
    application mounting the UI itself uses :class:`WorkflowUIController`, which serves them too.
    """

    path = "/"
    include_in_schema = False
    dependencies = CONTROLLER_DEPENDENCIES
    middleware = [DefineMiddleware(UiCSRFMiddleware)]
    exception_handlers = ui_exception_handlers()

    # ------------------------------------------------------------------ workflows


class WorkflowUIController(UIPagesController):
    """The whole UI (pages and static files) as one controller at ``/ui``, for apps that mount it.

    The documented full setup mounts it on a router beside its own ``workflow_engine`` /
    ``workflow_registry`` dependencies; links follow wherever it is mounted. The plugin does not
    use it (it mounts the pages and Litestar's static-files router under ``/workflows/ui``).
    """

    path = "/ui"

    @get("/static/{file_path:path}", cache=False)
    async def static(self, file_path: FromPath[str]) -> File:
        """The UI's own CSS and scripts and the vendored libraries: nothing is loaded from elsewhere."""
        root = STATIC_DIR.resolve()
        try:
            target = (root / file_path.lstrip("/")).resolve()
            found = target.is_relative_to(root) and target.is_file()
        except (OSError, ValueError):  # a name no file can have: a NUL byte (``%00``), too long
            found = False
        if not found:
            raise NotFoundException(f"no static file {file_path!r}")
        return File(  # the file's name gives its media type: a browser applies no CSS sent as octet-stream
            target,
            filename=target.name,
            headers={"Cache-Control": "public, max-age=3600"},
            content_disposition_type="inline",
        )
