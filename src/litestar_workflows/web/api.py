"""The REST API as one Litestar ``Router``: controllers, settings, guards, tags, error mapping.

The controllers take the engine and the registry as the dependencies ``workflow_engine`` and
``workflow_registry``, the names the plugin registers app-wide. The router provides them itself
only when the plugin was configured with other keys; otherwise the app-level ones apply, so an
application that provides its own ``workflow_engine`` (e.g. a ``PersistentExecutionEngine`` per
request, as the documented setup does) is what the API uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from litestar import Router
from litestar.di import Provide
from litestar.types import Empty

from litestar_workflows.web.bodies import check_json_body, refuse_form_posts
from litestar_workflows.web.controllers import (
    HumanTaskController,
    WorkflowDefinitionController,
    WorkflowInstanceController,
)
from litestar_workflows.web.controllers.deps import OPT_KEY, ApiSettings
from litestar_workflows.web.controllers.webhooks import WebhookController
from litestar_workflows.web.errors import exception_handlers
from litestar_workflows.web.long_poll import LongPollLimiter

if TYPE_CHECKING:
    from litestar_workflows.engine.registry import WorkflowRegistry
    from litestar_workflows.web.config import WorkflowPluginConfig
    from litestar_workflows.web.engine import WorkflowEngine

__all__ = ("ENGINE_KEY", "REGISTRY_KEY", "build_router")

ENGINE_KEY: Final = "workflow_engine"
"""Dependency name under which the API's handlers receive the engine."""
REGISTRY_KEY: Final = "workflow_registry"
"""Dependency name under which the API's handlers receive the registry."""


def build_router(
    config: WorkflowPluginConfig,
    engine: WorkflowEngine,
    registry: WorkflowRegistry,
    settings: ApiSettings | None = None,
) -> Router:
    """The API router for ``engine`` and ``registry``, configured by ``config``.

    ``settings``: shared with the UI's router, so that its event streams and the API's long
    polls count against one limit per client (a new one when not given).
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
    users = Router(
        path="/",
        route_handlers=[WorkflowDefinitionController, WorkflowInstanceController, HumanTaskController],
        guards=[*config.api_guards, refuse_form_posts, check_json_body],  # the caller's guards decide first
    )
    # Signed webhook deliveries come from other systems, not users: the caller's guards do not
    # apply, and the body is read as JSON only once its signature holds (see WebhookController).
    webhooks = Router(path="/", route_handlers=[WebhookController])
    return Router(
        path=config.api_path_prefix,
        route_handlers=[users, webhooks],
        dependencies=dependencies,
        opt={OPT_KEY: settings},
        request_max_body_size=Empty if config.max_body_size is None else config.max_body_size,
        tags=list(config.api_tags),
        include_in_schema=config.include_api_in_schema,
        exception_handlers=exception_handlers(),
    )
