"""Configuration of :class:`~litestar_workflows.web.plugin.WorkflowPlugin`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from litestar_workflows.web.bodies import DEFAULT_MAX_BODY_SIZE
from litestar_workflows.web.identity import (
    GroupsResolver,
    TenantResolver,
    UserResolver,
    default_groups_resolver,
    default_tenant_resolver,
    default_user_resolver,
)
from litestar_workflows.web.long_poll import DEFAULT_MAX_WAITS_PER_CLIENT

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar.types import Guard

    from litestar_workflows.engine.registry import WorkflowRegistry
    from litestar_workflows.runtime.instance_access import InstanceAuthorizer
    from litestar_workflows.web.engine import WorkflowEngine

__all__ = ("DEFAULT_DATABASE_URL", "WorkflowPluginConfig", "WorkflowWebConfig")

DEFAULT_DATABASE_URL: Final = "sqlite+aiosqlite:///workflows.db"
"""A SQLite file in the working directory: a ready ``database_url`` for a durable single-process app."""


@dataclass
class WorkflowPluginConfig:
    """What the plugin registers and serves, and which engine it runs.

    Engine choice, in order: ``engine`` when given; else a
    :class:`~litestar_workflows.db.PersistentExecutionEngine` on ``database_url`` when one is set;
    else (the default, as documented) an in-memory :class:`~litestar_workflows.LocalExecutionEngine`,
    whose state is lost when the process stops -- the plugin logs a warning saying so.

    Examples:
        >>> from litestar import Litestar
        >>> from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig
        >>> config = WorkflowPluginConfig(auto_register_workflows=[expense_approval])  # doctest: +SKIP
        >>> app = Litestar(plugins=[WorkflowPlugin(config)])  # doctest: +SKIP
    """

    registry: WorkflowRegistry | None = None
    """The registry to serve; by default the engine's registry, or a new one."""
    engine: WorkflowEngine | None = None
    """A ready engine (local, persistent, distributed); the plugin starts and stops it with the app."""
    database_url: str | None = None
    """Database of the engine built when ``engine`` is not given (e.g. :data:`DEFAULT_DATABASE_URL`);
    ``None`` (the default) keeps state in memory, lost on restart."""
    synchronous_commit: bool = True
    """How the engine built on ``database_url`` commits. ``True`` (the default): a call that
    returned has its commit on disk, surviving a crash of the process, the OS or the machine.
    ``False`` (relaxed commits): the commit survives a crash of the process and is visible to every
    connection at once, but a power loss or OS crash may lose the last moments of commits (see
    ``PersistentExecutionEngine``); commits get much cheaper. Applies only to the engine the plugin
    builds from ``database_url``: setting it otherwise is refused."""
    engine_options: dict[str, Any] = field(default_factory=dict)
    """Keyword arguments for the engine the plugin builds (``authorizer``, ``event_bus``...)."""
    auto_migrate: bool | None = None
    """Upgrade the database schema at startup. ``None``: only when the plugin builds the engine from
    ``database_url``; an engine you pass is yours to migrate (``litestar workflows migrate``)."""
    manage_engine_lifecycle: bool = True
    """Start the engine (recovery, timers) when the app starts and stop it when the app stops."""
    auto_register_workflows: Sequence[Any] = ()
    """Workflow classes and definitions to register in the registry when the plugin is created."""
    dependency_key_registry: str = "workflow_registry"
    """Name under which route handlers receive the :class:`~litestar_workflows.WorkflowRegistry`."""
    dependency_key_engine: str = "workflow_engine"
    """Name under which route handlers receive the engine."""
    enable_api: bool = True
    """Mount the REST API (definitions, instances, tasks, graphs) under ``api_path_prefix``."""
    api_path_prefix: str = "/workflows"
    """Path the REST API is mounted at."""
    api_guards: Sequence[Guard] = ()
    """Litestar guards applied to every route of the REST API, and to every page of the web UI
    (which shows and changes the same data); signed webhook deliveries are exempt."""
    api_tags: Sequence[str] = ("Workflows",)
    """OpenAPI tags of the REST API's operations."""
    include_api_in_schema: bool = True
    """Show the REST API in the application's OpenAPI schema."""
    max_body_size: int | None = DEFAULT_MAX_BODY_SIZE
    """Largest request body the REST API reads, in bytes (default 1 MiB); a larger one answers 413.
    ``None`` leaves the application's own limit (``Litestar(request_max_body_size=...)``) in force."""
    max_waits_per_client: int = DEFAULT_MAX_WAITS_PER_CLIENT
    """Long polls (``GET /instances/{id}?wait=``) one client -- the acting user, or the address of an
    anonymous one -- may hold open at once (default 10); one more answers 429 at once."""
    enable_ui: bool = True
    """Serve the web UI (task inbox, task forms, instances with their live graph) at ``ui_path``."""
    ui_path: str = "/ui"
    """Where the web UI is mounted, below ``api_path_prefix`` (default ``/workflows/ui``)."""
    ui_guards: Sequence[Guard] = ()
    """Litestar guards applied to every page of the web UI, after ``api_guards``."""
    ui_csrf_secret: str | None = None
    """Secret signing the UI forms' CSRF tokens when the app has no ``csrf_config`` of its own
    (then the UI's routes get CSRF protection of their own). ``None``: a random secret per
    process, so with several server processes set one shared secret."""
    ui_user_picker: Sequence[str] = ()
    """User ids offered by a "Act as" picker on every UI page, which reloads the page with
    ``?as=<id>``; for demos whose fake login reads ``?as=`` (never for a real login)."""
    offline_openapi_pages: bool = True
    """Serve the app's OpenAPI pages (Swagger UI, ReDoc, RapiDoc, Stoplight Elements) with the
    scripts vendored in this package instead of Litestar's CDN defaults, so they work offline.
    Asset URLs the app configured itself are kept; ``False`` leaves every page as configured."""
    user_resolver: UserResolver = default_user_resolver
    """The acting user's id from the request; default: ``request.user`` (a string, or its ``id``,
    ``username`` or ``email``). Never taken from a request body."""
    groups_resolver: GroupsResolver = default_groups_resolver
    """The acting user's groups (their group tasks join their queue); default: ``request.user.groups``."""
    tenant_resolver: TenantResolver = default_tenant_resolver
    """The tenant the request acts for; a tenant sees only its own instances and tasks. Default: no
    tenancy, every request sees everything. Any other resolver turns tenancy on, and then fails
    closed: a request it finds no tenant for is refused (403) on every instance and task route."""
    instance_authorizer: InstanceAuthorizer | None = None
    """Who may cancel and retry an instance through the API, for the engine the plugin builds
    (default: its creator, plus members of ``admin_groups``). An engine you pass brings its own
    (``LocalExecutionEngine(..., instance_authorizer=...)``)."""
    admin_groups: Sequence[str] = ()
    """Members of these groups (as ``groups_resolver`` reports them) may cancel and retry every
    instance of their tenant; a shorthand for ``instance_authorizer=CreatorOrAdminAuthorizer(groups)``."""

    def __post_init__(self) -> None:
        prefix = "/" + self.api_path_prefix.strip("/")
        self.api_path_prefix = prefix
        self.ui_path = "/" + self.ui_path.strip("/")
        if self.ui_path == "/":
            msg = "ui_path must name a path below api_path_prefix, such as '/ui': '/' is the REST API's"
            raise ValueError(msg)
        if not self.dependency_key_engine.isidentifier() or not self.dependency_key_registry.isidentifier():
            msg = "dependency keys must be valid Python identifiers (they name handler parameters)"
            raise ValueError(msg)
        if self.dependency_key_engine == self.dependency_key_registry:
            msg = "dependency_key_engine and dependency_key_registry must differ"
            raise ValueError(msg)
        self._check_kinds()
        self._check_instance_authorization()
        self._check_synchronous_commit()

    def _check_kinds(self) -> None:
        """Refuse values of the wrong kind here, naming the setting, rather than at the first request.

        A string where names belong was read letter by letter (``api_tags="Workflows"`` made eight
        tags), ``auto_migrate="no"`` counted as true, and a body size of ``"1MB"`` answered 500.
        """
        for name in (
            "manage_engine_lifecycle",
            "enable_api",
            "include_api_in_schema",
            "enable_ui",
            "offline_openapi_pages",
        ):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, not {getattr(self, name)!r}")
        if self.auto_migrate is not None and not isinstance(self.auto_migrate, bool):
            raise TypeError(f"auto_migrate must be True, False or None, not {self.auto_migrate!r}")
        size = self.max_body_size
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise ValueError(f"max_body_size must be a positive number of bytes or None, not {size!r}")
        for name in ("api_tags", "ui_user_picker"):
            names = getattr(self, name)
            if isinstance(names, str) or not all(isinstance(item, str) for item in names):
                raise TypeError(f"{name} must be a list of strings, not {names!r}")
        for name in ("api_guards", "ui_guards"):
            guards = getattr(self, name)
            if isinstance(guards, str) or not all(callable(guard) for guard in guards):
                raise TypeError(f"{name} must be a list of guard functions, not {guards!r}")
        for name in ("user_resolver", "groups_resolver", "tenant_resolver"):
            if not callable(getattr(self, name)):
                raise TypeError(f"{name} must be a function of the request, not {getattr(self, name)!r}")
        engine = self.engine
        if engine is not None and not callable(getattr(engine, "start_workflow", None)):
            raise TypeError(
                f"engine must be a workflow engine (LocalExecutionEngine, PersistentExecutionEngine...), "
                f"not {engine!r}"
            )

    @property
    def ui_root(self) -> str:
        """The full path of the web UI: ``api_path_prefix`` joined with ``ui_path``."""
        return (self.api_path_prefix.rstrip("/") + self.ui_path).rstrip("/") or "/"

    @property
    def tenancy(self) -> bool:
        """Tell whether requests act for tenants (a ``tenant_resolver`` of the app's is configured)."""
        return self.tenant_resolver is not default_tenant_resolver

    def engine_keywords(self) -> dict[str, Any]:
        """Keyword arguments for the engine the plugin builds: ``engine_options`` plus the authorizers."""
        options = dict(self.engine_options)
        if not self.synchronous_commit:
            options["synchronous_commit"] = False
        if self.instance_authorizer is not None:
            options["instance_authorizer"] = self.instance_authorizer
        elif self.admin_groups:
            from litestar_workflows.runtime.instance_access import CreatorOrAdminAuthorizer

            options["instance_authorizer"] = CreatorOrAdminAuthorizer(self.admin_groups)
        return options

    def _check_synchronous_commit(self) -> None:
        """Refuse a relaxed ``synchronous_commit`` the plugin would not apply (no engine of its own)."""
        value: object = self.synchronous_commit  # a dataclass field: any value may arrive
        if not isinstance(value, bool):
            msg = f"synchronous_commit must be True or False, not {value!r}"
            raise TypeError(msg)
        if self.synchronous_commit:
            return
        if self.engine is not None or self.database_url is None:
            fix = (
                "pass synchronous_commit=False to the engine you built instead"
                if self.engine is not None
                else "set database_url (an in-memory engine keeps nothing on disk)"
            )
            msg = f"synchronous_commit=False applies to the engine the plugin builds from database_url; {fix}"
            raise ValueError(msg)
        if "synchronous_commit" in self.engine_options:
            msg = "give only one of synchronous_commit and engine_options['synchronous_commit']"
            raise ValueError(msg)

    def _check_instance_authorization(self) -> None:
        """Refuse settings that would be silently ignored, since each would leave instances less guarded."""
        if isinstance(self.admin_groups, str):
            msg = f"admin_groups must be a list of group names, not the string {self.admin_groups!r}"
            raise TypeError(msg)
        given = [
            name
            for name, value in (
                ("instance_authorizer", self.instance_authorizer),
                ("admin_groups", self.admin_groups),
                ("engine_options['instance_authorizer']", self.engine_options.get("instance_authorizer")),
            )
            if value
        ]
        if len(given) > 1:
            msg = f"give only one of {' and '.join(given)}: each decides who may act on instances"
            raise ValueError(msg)
        if self.engine is not None and (self.instance_authorizer is not None or self.admin_groups):
            knob = "instance_authorizer" if self.instance_authorizer is not None else "admin_groups"
            msg = (
                f"{knob} applies to the engine the plugin builds; pass "
                "instance_authorizer=... to the engine you built instead"
            )
            raise ValueError(msg)


@dataclass
class WorkflowWebConfig:
    """The REST API's settings grouped as the documented ``web.config`` module has them.

    Each field is the ``WorkflowPluginConfig`` field with the ``api_`` prefix (``path_prefix`` is
    ``api_path_prefix``...); :meth:`plugin_options` turns them into those keywords, e.g.
    ``WorkflowPluginConfig(**web.plugin_options(), database_url=...)``.
    """

    path_prefix: str = "/workflows"
    """Path the REST API is mounted at."""
    include_in_schema: bool = True
    """Show the REST API in the application's OpenAPI schema."""
    guards: list[Guard] = field(default_factory=list)
    """Litestar guards applied to every route of the REST API."""
    enable_graph_endpoints: bool = True
    """Serve the Mermaid graph routes. They read nothing the other routes do not show, so turning
    them off is refused rather than silently ignored (:meth:`plugin_options` raises)."""
    tags: list[str] = field(default_factory=lambda: ["Workflows"])
    """OpenAPI tags of the REST API's operations."""

    def plugin_options(self) -> dict[str, Any]:
        """The equivalent :class:`WorkflowPluginConfig` keywords.

        Raises:
            ValueError: ``enable_graph_endpoints`` is off: the plugin always serves the graphs.
        """
        if not self.enable_graph_endpoints:
            msg = "enable_graph_endpoints=False is not supported: the plugin's API always serves the graphs"
            raise ValueError(msg)
        return {
            "enable_api": True,
            "api_path_prefix": self.path_prefix,
            "include_api_in_schema": self.include_in_schema,
            "api_guards": list(self.guards),
            "api_tags": list(self.tags),
        }
