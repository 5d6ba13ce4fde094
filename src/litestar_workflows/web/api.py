"""The REST API as one Litestar ``Router``: controllers, dependencies, guards, tags, error mapping.

No ``from __future__ import annotations``: Litestar reads the actor provider's annotations at runtime.
"""

from typing import Any

from litestar import Request, Router
from litestar.di import Provide
from litestar.types import Empty

from litestar_workflows.engine.registry import WorkflowRegistry
from litestar_workflows.web.access import require_tenant
from litestar_workflows.web.bodies import check_json_body
from litestar_workflows.web.config import WorkflowPluginConfig
from litestar_workflows.web.controllers import DefinitionController, InstanceController, TaskController
from litestar_workflows.web.engine import WorkflowEngine
from litestar_workflows.web.errors import exception_handlers
from litestar_workflows.web.identity import Actor, resolve
from litestar_workflows.web.long_poll import LongPollLimiter

__all__ = ("ENGINE_KEY", "REGISTRY_KEY", "build_router")

ENGINE_KEY = "wf_engine"
"""Dependency name of the engine inside the API (independent of the app-wide configurable key)."""
REGISTRY_KEY = "wf_registry"
"""Dependency name of the registry inside the API."""
ACTOR_KEY = "actor"
"""Dependency name of the acting :class:`~litestar_workflows.web.identity.Actor`."""
WAIT_LIMITER_KEY = "wait_limiter"
"""Dependency name of the :class:`~litestar_workflows.web.long_poll.LongPollLimiter` of long polls."""


def build_router(config: WorkflowPluginConfig, engine: WorkflowEngine, registry: WorkflowRegistry) -> Router:
    """The API router for ``engine`` and ``registry``, configured by ``config``."""
    tenancy = config.tenancy

    async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
        actor = await resolve(request, config.user_resolver, config.tenant_resolver, config.groups_resolver)
        return require_tenant(actor) if tenancy else actor

    def provide_engine() -> WorkflowEngine:
        return engine

    def provide_registry() -> WorkflowRegistry:
        return registry

    wait_limiter = LongPollLimiter(config.max_waits_per_client)

    def provide_wait_limiter() -> LongPollLimiter:
        return wait_limiter

    return Router(
        path=config.api_path_prefix,
        route_handlers=[DefinitionController, InstanceController, TaskController],
        dependencies={
            ENGINE_KEY: Provide(provide_engine, sync_to_thread=False, use_cache=True),
            REGISTRY_KEY: Provide(provide_registry, sync_to_thread=False, use_cache=True),
            ACTOR_KEY: Provide(provide_actor),
            WAIT_LIMITER_KEY: Provide(provide_wait_limiter, sync_to_thread=False, use_cache=True),
        },
        guards=[*config.api_guards, check_json_body],  # the caller's guards decide first
        request_max_body_size=Empty if config.max_body_size is None else config.max_body_size,
        tags=list(config.api_tags),
        include_in_schema=config.include_api_in_schema,
        exception_handlers=exception_handlers(),
    )
