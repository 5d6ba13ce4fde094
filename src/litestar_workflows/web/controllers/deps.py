"""The dependencies every controller brings along, so they also work mounted by the application.

The documented setup mounts :class:`WorkflowDefinitionController` and friends on the app's own
``Router`` next to its own ``workflow_engine`` / ``workflow_registry`` providers. Those two are the
app's (or the plugin's, app-wide). What the controllers need besides them -- the acting user, and
the long-poll limiter -- is provided here, at controller level, and reads the plugin's settings from
the route's ``opt`` when the plugin mounted the API (:data:`OPT_KEY`), or uses the defaults
(identity from ``request.user``, no tenancy) when the application mounted the controllers itself.

No ``from __future__ import annotations``: Litestar reads the providers' annotations at runtime.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any, Final

from litestar import Request
from litestar.di import Provide

from litestar_workflows.web.access import require_tenant
from litestar_workflows.web.config import WorkflowPluginConfig
from litestar_workflows.web.identity import Actor, resolve
from litestar_workflows.web.long_poll import LongPollLimiter

__all__ = ("CONTROLLER_DEPENDENCIES", "OPT_KEY", "ApiSettings")

OPT_KEY: Final = "litestar_workflows"
"""Key of the route ``opt`` entry holding the :class:`ApiSettings` of the plugin's API router."""


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """What the API's routes need from the plugin: its configuration and its long-poll limiter."""

    config: WorkflowPluginConfig
    wait_limiter: LongPollLimiter

    def __copy__(self) -> "ApiSettings":
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> "ApiSettings":
        # Litestar deep-copies route ``opt``; every route must share these (one limiter per API).
        return self


@cache
def _default_settings() -> ApiSettings:
    """Settings for controllers the application mounted itself: the defaults, one limiter per process."""
    config = WorkflowPluginConfig(database_url=None)
    return ApiSettings(config, LongPollLimiter(config.max_waits_per_client))


def settings_of(request: Request[Any, Any, Any]) -> ApiSettings:
    """The plugin's settings for this route, or the defaults outside the plugin's router."""
    settings = request.route_handler.opt.get(OPT_KEY)
    return settings if isinstance(settings, ApiSettings) else _default_settings()


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """Who acts, through the configured resolvers; with tenancy, a request without a tenant is refused."""
    config = settings_of(request).config
    actor = await resolve(request, config.user_resolver, config.tenant_resolver, config.groups_resolver)
    return require_tenant(actor) if config.tenancy else actor


def provide_wait_limiter(request: Request[Any, Any, Any]) -> LongPollLimiter:
    """The limiter of long polls shared by the API's routes."""
    return settings_of(request).wait_limiter


CONTROLLER_DEPENDENCIES: Final = {
    "actor": Provide(provide_actor),
    "wait_limiter": Provide(provide_wait_limiter, sync_to_thread=False),
}
"""Set on each controller (``dependencies = CONTROLLER_DEPENDENCIES``)."""
