"""The routers the plugin mounts for the UI: its pages, and its static files.

Both live under the UI's root (``{api_path_prefix}{ui_path}``, ``/workflows/ui`` by default). The
pages get the API's settings (resolvers, tenancy) through the same route ``opt`` entry the API's
router carries, so the acting user, their groups and their tenant are found exactly as the API
finds them. The static files (the UI's CSS and scripts, and the vendored Mermaid and OpenAPI page
assets) are served by Litestar's static-files router, also when the UI itself is turned off:
the OpenAPI pages load their scripts from there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from litestar import MediaType, Request, Response, Router
from litestar.datastructures import CacheControlHeader, ResponseHeader
from litestar.di import Provide
from litestar.static_files import create_static_files_router
from litestar.status_codes import HTTP_404_NOT_FOUND
from litestar.types import Empty

from litestar_workflows.web.api import ENGINE_KEY, REGISTRY_KEY
from litestar_workflows.web.controllers.deps import OPT_KEY, ApiSettings
from litestar_workflows.web.long_poll import LongPollLimiter
from litestar_workflows.web.ui.controller import UIPagesController
from litestar_workflows.web.ui.rendering import STATIC_DIR, UI_OPT_KEY, UiOptions

if TYPE_CHECKING:
    from litestar_workflows.engine.registry import WorkflowRegistry
    from litestar_workflows.web.config import WorkflowPluginConfig
    from litestar_workflows.web.engine import WorkflowEngine

__all__ = ("STATIC_ROUTER_NAME", "build_static_router", "build_ui_router")

STATIC_ROUTER_NAME: Final = "workflows-ui-static"
"""Name of the static-files router (``url_for_static_asset('workflows-ui-static', 'ui.css')``)."""


PAGE_HEADERS: Final = (
    # No page of the UI may be framed by another page: a transparent frame over its buttons would
    # make a signed-in user cancel or approve without seeing it (clickjacking).
    ResponseHeader(name="Content-Security-Policy", value="frame-ancestors 'none'"),
    ResponseHeader(name="X-Frame-Options", value="DENY"),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
)
"""Sent with every UI page (a stylesheet or a script is never framed)."""


def build_ui_router(
    config: WorkflowPluginConfig,
    engine: WorkflowEngine,
    registry: WorkflowRegistry,
    settings: ApiSettings | None = None,
) -> Router:
    """The UI's pages at ``config.ui_root``: guards apply, forms up to ``max_body_size``.

    The API's guards come first: the UI shows and changes the same instances and tasks, so an app
    that guards the API must not find them open on the UI's pages. ``ui_guards`` are added after.
    """
    dependencies: dict[str, Provide] = {}
    if config.dependency_key_engine != ENGINE_KEY:

        def provide_engine() -> WorkflowEngine:
            return engine

        dependencies[ENGINE_KEY] = Provide(provide_engine, sync_to_thread=False, use_cache=True)
    if config.dependency_key_registry != REGISTRY_KEY:

        def provide_registry() -> WorkflowRegistry:
            return registry

        dependencies[REGISTRY_KEY] = Provide(provide_registry, sync_to_thread=False, use_cache=True)
    settings = settings or ApiSettings(config, LongPollLimiter(config.max_waits_per_client))
    options = UiOptions(user_picker=tuple(config.ui_user_picker), csrf_secret=config.ui_csrf_secret)
    return Router(
        path=config.ui_root,
        route_handlers=[UIPagesController],
        dependencies=dependencies,
        opt={OPT_KEY: settings, UI_OPT_KEY: options},
        guards=[*config.api_guards, *config.ui_guards],
        response_headers=list(PAGE_HEADERS),
        request_max_body_size=Empty if config.max_body_size is None else config.max_body_size,
        include_in_schema=False,
    )


def build_static_router(config: WorkflowPluginConfig) -> Router:
    """Litestar's static-files router for the UI's folder, at ``{ui_root}/static``."""
    return create_static_files_router(
        path=config.ui_root.rstrip("/") + "/static",
        directories=[STATIC_DIR],
        name=STATIC_ROUTER_NAME,
        cache_control=CacheControlHeader(max_age=3600, public=True),
        # A name no file can have (an embedded NUL) makes the file lookup raise ValueError.
        exception_handlers={ValueError: _no_such_file},
        include_in_schema=False,
    )


def _no_such_file(_: Request[Any, Any, Any], __: ValueError) -> Response[str]:
    return Response("Not Found", status_code=HTTP_404_NOT_FOUND, media_type=MediaType.TEXT)
