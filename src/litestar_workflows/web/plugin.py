"""``WorkflowPlugin``: wires a workflow engine into a Litestar app, its lifespan and its CLI.

The plugin only registers things (dependencies, the engine's lifespan, the API router, the CLI
group); the engine, the API and the CLI each live in their own module.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

from litestar.di import Provide
from litestar.plugins import CLIPluginProtocol, InitPluginProtocol

from litestar_workflows.core.definition import WorkflowDefinition
from litestar_workflows.core.workflow import definition_of
from litestar_workflows.engine.local import LocalExecutionEngine
from litestar_workflows.engine.registry import WorkflowRegistry
from litestar_workflows.web.config import WorkflowPluginConfig
from litestar_workflows.web.engine import EngineRunner, WorkflowEngine, build_engine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable

    from click import Group
    from litestar import Litestar
    from litestar.config.app import AppConfig

    from litestar_workflows.web.controllers.deps import ApiSettings

__all__ = ("WorkflowPlugin",)

logger = logging.getLogger("litestar_workflows.web")

IN_MEMORY_WARNING: Final = (
    "WorkflowPlugin runs an in-memory engine (no engine and no database_url configured): "
    "workflow instances and tasks are lost when the process stops; set database_url "
    "(e.g. 'sqlite+aiosqlite:///workflows.db') or pass a PersistentExecutionEngine to keep them"
)


class WorkflowPlugin(InitPluginProtocol, CLIPluginProtocol):
    """Serve workflows from a Litestar app: DI, engine lifespan, REST API and ``litestar workflows``.

    Args:
        config: What to register and serve; by default an in-memory engine (with a warning in
            the log, when the plugin joins an app that provides no ``workflow_engine`` of its
            own, that its state is lost on restart).

    ``registry``, ``engine`` and ``runner`` are available once the plugin is part of an app
    (``Litestar(plugins=[plugin])``); before that they raise ``RuntimeError``. Configuration
    errors are raised at once, by the constructor.

    Raises:
        ValueError: ``config.registry`` is not the registry of ``config.engine``.

    Examples:
        >>> from litestar import Litestar, get
        >>> from litestar.di import NamedDependency
        >>> from litestar_workflows import LocalExecutionEngine, WorkflowRegistry
        >>> registry = WorkflowRegistry()
        >>> plugin = WorkflowPlugin(WorkflowPluginConfig(engine=LocalExecutionEngine(registry)))
        >>> @get("/count")  # doctest: +SKIP
        ... async def count(workflow_registry: NamedDependency[WorkflowRegistry]) -> int:
        ...     return len(workflow_registry)
        >>> app = Litestar([count], plugins=[plugin])  # doctest: +SKIP
    """

    __slots__ = ("_config", "_engine", "_initialized", "_registry", "_runner")

    def __init__(self, config: WorkflowPluginConfig | None = None) -> None:
        self._config = config = config or WorkflowPluginConfig()
        self._registry = _registry_for(config)
        register_workflows(self._registry, config.auto_register_workflows)
        self._engine: WorkflowEngine = config.engine or build_engine(
            self._registry, config.database_url, config.engine_keywords()
        )
        auto_migrate = config.auto_migrate if config.auto_migrate is not None else config.engine is None
        self._runner = EngineRunner(self._engine, auto_migrate=auto_migrate)
        self._initialized = False

    @property
    def config(self) -> WorkflowPluginConfig:
        """The configuration the plugin was created with."""
        return self._config

    def _ready(self) -> None:
        if not self._initialized:
            msg = (
                "WorkflowPlugin has not been initialized: add it to an app (Litestar(plugins=[plugin])) first"
            )
            raise RuntimeError(msg)

    @property
    def registry(self) -> WorkflowRegistry:
        """The registry served (the engine's own).

        Raises:
            RuntimeError: The plugin is not part of an app yet.
        """
        self._ready()
        return self._registry

    @property
    def engine(self) -> WorkflowEngine:
        """The engine served, given or built from ``database_url``.

        Raises:
            RuntimeError: The plugin is not part of an app yet.
        """
        self._ready()
        return self._engine

    @property
    def runner(self) -> EngineRunner:
        """Starts and stops the engine (and migrates first when configured); the CLI uses it too.

        Raises:
            RuntimeError: The plugin is not part of an app yet.
        """
        self._ready()
        return self._runner

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        """Register the dependencies, the engine's lifespan, the REST API and the web UI.

        The app's own ``workflow_engine`` / ``workflow_registry`` dependencies (under the
        configured keys), when it provides them, are kept: they are what handlers and the REST
        API receive (e.g. a ``PersistentExecutionEngine`` built per request).
        """
        self._initialized = True
        config = self._config
        engine, registry = self._engine, self._registry
        if (
            config.engine is None
            and config.database_url is None
            and not _app_serves_its_engine(config, app_config)
        ):
            # Only now is it known whether the app serves its own engine (e.g. a persistent one
            # per request); then the plugin's in-memory default holds nothing worth warning about.
            logger.warning(IN_MEMORY_WARNING)
        app_config.dependencies.setdefault(
            config.dependency_key_registry, Provide(lambda: registry, sync_to_thread=False, use_cache=True)
        )
        app_config.dependencies.setdefault(
            config.dependency_key_engine, Provide(lambda: engine, sync_to_thread=False, use_cache=True)
        )
        # Handlers may annotate these under ``if TYPE_CHECKING``; Litestar still needs to resolve them.
        app_config.signature_namespace.update(
            {
                "WorkflowRegistry": WorkflowRegistry,
                "WorkflowEngine": WorkflowEngine,
                "LocalExecutionEngine": LocalExecutionEngine,
            }
        )
        if config.manage_engine_lifecycle:
            app_config.lifespan.append(self.lifespan)
        from litestar_workflows.web.controllers.deps import ApiSettings
        from litestar_workflows.web.long_poll import LongPollLimiter

        # One limiter: the UI's event streams and the API's long polls count against one limit.
        settings = ApiSettings(config, LongPollLimiter(config.max_waits_per_client))
        if config.enable_api:
            from litestar_workflows.web.api import build_router
            from litestar_workflows.web.strict_bodies import add_schema_plugin

            app_config.route_handlers.append(build_router(config, engine, registry, settings))
            add_schema_plugin(app_config.plugins)
        self._mount_ui(app_config, settings)
        return app_config

    def _mount_ui(self, app_config: AppConfig, settings: ApiSettings) -> None:
        """The UI's static files (always: the OpenAPI pages load their scripts there) and its pages."""
        from litestar_workflows.web.ui.router import build_static_router, build_ui_router

        app_config.route_handlers.append(build_static_router(self._config))
        if self._config.offline_openapi_pages:
            from litestar_workflows.web.openapi_pages import offline_openapi_config

            static_root = self._config.ui_root.rstrip("/") + "/static"
            app_config.openapi_config = offline_openapi_config(app_config.openapi_config, static_root)
        if self._config.enable_ui:
            app_config.route_handlers.append(
                build_ui_router(self._config, self._engine, self._registry, settings)
            )

    @asynccontextmanager
    async def lifespan(self, app: Litestar) -> AsyncIterator[None]:
        """Run the engine while the app runs: migrate (when configured), start, and stop at shutdown."""
        try:
            async with self._runner.running():
                yield
        finally:
            await _stop_background_runners()

    def on_cli_init(self, cli: Group) -> None:
        """Add the ``litestar workflows`` command group."""
        from litestar_workflows.web.cli import workflows_group

        cli.add_command(workflows_group)


def _app_serves_its_engine(config: WorkflowPluginConfig, app_config: AppConfig) -> bool:
    """Whether everything that would use the plugin's engine gets the app's own instead.

    The REST API and the UI read the app's engine under ``workflow_engine`` only; under another
    ``dependency_key_engine`` they are given the plugin's engine, so it serves them.
    """
    if config.dependency_key_engine not in app_config.dependencies:
        return False
    from litestar_workflows.web.api import ENGINE_KEY

    return config.dependency_key_engine == ENGINE_KEY or not (config.enable_api or config.enable_ui)


def _registry_for(config: WorkflowPluginConfig) -> WorkflowRegistry:
    engine_registry = getattr(config.engine, "registry", None) if config.engine is not None else None
    if config.registry is not None and engine_registry is not None and config.registry is not engine_registry:
        msg = "config.registry must be the registry of config.engine (or be left out)"
        raise ValueError(msg)
    registry = config.registry if config.registry is not None else engine_registry
    return registry if isinstance(registry, WorkflowRegistry) else WorkflowRegistry()


def register_workflows(registry: WorkflowRegistry, workflows: Iterable[Any]) -> None:
    """Register workflow classes and definitions, skipping those already registered.

    Raises:
        WorkflowValidationError: An item is neither, or another definition has its name and version.
    """
    for workflow in workflows:
        definition = definition_of(workflow)
        known = registry.has_definition(definition.name, definition.version)
        if known and registry.get_definition(definition.name, definition.version) is definition:
            continue
        if isinstance(workflow, WorkflowDefinition):
            registry.register_definition(workflow)
        else:
            registry.register_workflow_class(workflow)


async def _stop_background_runners() -> None:
    """Stop the runners per-request ``PersistentExecutionEngine`` objects started on this loop, if any."""
    try:
        from litestar_workflows.db.engine import stop_background_runners
    except ImportError:  # pragma: no cover - without the db extra there are none
        return
    await stop_background_runners()
