"""``WorkflowPlugin``: dependencies, engine lifespan, engine from a URL, registry, API options, OpenAPI."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import pytest
from litestar import Litestar, get
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.testing import TestClient
from web_helpers import Record, Submit, approval, build_registry

from litestar_workflows import BaseWorkflow, Edge, LocalExecutionEngine, WorkflowRegistry
from litestar_workflows.core.errors import StoreError
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

API_ROUTES = [
    ("GET", "/definitions"),
    ("GET", "/definitions/approval"),
    ("GET", "/definitions/approval/graph"),
    ("POST", "/instances"),
    ("GET", "/instances"),
    ("GET", "/instances/{id}"),
    ("GET", "/instances/{id}/graph"),
    ("POST", "/instances/{id}/cancel"),
    ("POST", "/instances/{id}/retry"),
    ("POST", "/instances/{id}/pause"),
    ("POST", "/instances/{id}/resume"),
    ("GET", "/tasks"),
    ("GET", "/tasks/{id}"),
    ("POST", "/tasks/{id}/claim"),
    ("POST", "/tasks/{id}/complete"),
    ("POST", "/tasks/{id}/reassign"),
]
WEBHOOK_ROUTE = ("POST", "/webhooks/{id}/{step_name}")
"""Signed by the sender instead: the app's API guards do not apply (test_web_webhooks.py)."""
SOME_ID = "00000000-0000-0000-0000-000000000001"


class Expense(BaseWorkflow):
    """A class-based workflow, registered through ``auto_register_workflows``."""

    __workflow_name__ = "expense"
    __workflow_version__ = "3.0.0"
    steps: ClassVar[list[Any]] = [Submit(), Record("done")]
    edges: ClassVar[list[Edge]] = [Edge("submit", "done")]
    initial_step = "submit"


class SpyEngine(LocalExecutionEngine):
    """Counts lifecycle calls."""

    def __init__(self, registry: WorkflowRegistry) -> None:
        super().__init__(registry)
        self.calls: list[str] = []

    async def start(self) -> None:
        self.calls.append("start")
        await super().start()

    async def stop(self) -> None:
        self.calls.append("stop")
        await super().stop()


def memory_plugin(**config: Any) -> WorkflowPlugin:
    return WorkflowPlugin(WorkflowPluginConfig(engine=LocalExecutionEngine(build_registry()), **config))


def test_public_names() -> None:
    import litestar_workflows.web as web

    assert web.WorkflowPlugin is WorkflowPlugin
    assert web.WorkflowPluginConfig is WorkflowPluginConfig
    with pytest.raises(AttributeError):
        _ = web.Nothing  # type: ignore[attr-defined]


def test_registry_and_engine_are_injected_under_the_documented_keys() -> None:
    plugin = memory_plugin()

    @get("/check", sync_to_thread=False)
    def check(
        workflow_registry: NamedDependency[WorkflowRegistry], workflow_engine: NamedDependency[Any]
    ) -> dict[str, bool]:
        return {"registry": workflow_registry is plugin.registry, "engine": workflow_engine is plugin.engine}

    with TestClient(Litestar([check], plugins=[plugin])) as client:
        assert client.get("/check").json() == {"registry": True, "engine": True}


def test_dependency_keys_are_configurable() -> None:
    plugin = memory_plugin(dependency_key_registry="flows", dependency_key_engine="runner")

    @get("/check", sync_to_thread=False)
    def check(flows: NamedDependency[WorkflowRegistry], runner: NamedDependency[Any]) -> bool:
        return flows is plugin.registry and runner is plugin.engine

    with TestClient(Litestar([check], plugins=[plugin])) as client:
        assert client.get("/check").json() is True
        assert client.get("/workflows/definitions").status_code == 200  # the API does not depend on the keys


@pytest.mark.parametrize(
    ("setting", "value", "error", "names"),
    [
        ("max_body_size", -1, ValueError, "max_body_size must be a positive number of bytes"),
        ("max_body_size", 0, ValueError, "max_body_size must be a positive number of bytes"),
        ("max_body_size", "1MB", ValueError, "max_body_size must be a positive number of bytes"),
        ("api_tags", "Workflows", TypeError, "api_tags must be a list of strings"),
        ("ui_user_picker", "maria", TypeError, "ui_user_picker must be a list of strings"),
        ("auto_migrate", "no", TypeError, "auto_migrate must be True, False or None"),
        ("enable_ui", "yes", TypeError, "enable_ui must be True or False"),
        ("api_guards", [1], TypeError, "api_guards must be a list of guard functions"),
        ("user_resolver", None, TypeError, "user_resolver must be a function of the request"),
        ("engine", object(), TypeError, "engine must be a workflow engine"),
    ],
)
def test_settings_of_the_wrong_kind_are_refused_naming_them(
    setting: str, value: Any, error: type[Exception], names: str
) -> None:
    """Found at start-up, not at the first request (a 500), nor read letter by letter."""
    with pytest.raises(error, match=f"^{names}"):
        WorkflowPluginConfig(**{setting: value})


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="identifiers"):
        WorkflowPluginConfig(dependency_key_engine="not valid")
    with pytest.raises(ValueError, match="differ"):
        WorkflowPluginConfig(dependency_key_engine="x", dependency_key_registry="x")
    assert WorkflowPluginConfig(api_path_prefix="api/flows/").api_path_prefix == "/api/flows"
    with pytest.raises(ValueError, match="registry"):
        WorkflowPlugin(
            WorkflowPluginConfig(registry=WorkflowRegistry(), engine=LocalExecutionEngine(build_registry()))
        )


def test_the_engine_runs_with_the_app() -> None:
    engine = SpyEngine(build_registry())
    with TestClient(Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(engine=engine))])):
        assert engine.calls == ["start"]
    assert engine.calls == ["start", "stop"]

    unmanaged = SpyEngine(build_registry())
    config = WorkflowPluginConfig(engine=unmanaged, manage_engine_lifecycle=False)
    with TestClient(Litestar(plugins=[WorkflowPlugin(config)])):
        pass
    assert unmanaged.calls == []


def test_workflows_are_registered_from_classes_and_definitions() -> None:
    definition = approval("1.0.0")
    registry = WorkflowRegistry()
    registry.register_definition(definition)
    config = WorkflowPluginConfig(
        engine=LocalExecutionEngine(registry), auto_register_workflows=[definition, Expense, Expense]
    )
    plugin = WorkflowPlugin(config)
    Litestar(plugins=[plugin])
    assert plugin.registry is registry
    assert registry.get_versions("approval") == ["1.0.0"]
    assert registry.get_workflow_class("expense") is Expense
    WorkflowPlugin(config)  # registering the same workflows again is harmless


def test_engine_from_a_database_url_is_migrated_at_startup(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    plugin = WorkflowPlugin(WorkflowPluginConfig(database_url=url, auto_register_workflows=[Expense]))
    app = Litestar(plugins=[plugin])
    assert isinstance(plugin.engine, PersistentExecutionEngine)
    assert plugin.registry.has_definition("expense")
    with TestClient(app) as client:
        started = client.post("/workflows/instances", json={"definition_name": "expense"})
        assert started.status_code == 201
        done = client.get(f"/workflows/instances/{started.json()['id']}", params={"wait": 10}).json()
        assert done["status"] == "completed"

    again = WorkflowPlugin(WorkflowPluginConfig(database_url=url, auto_register_workflows=[Expense]))
    with TestClient(Litestar(plugins=[again])) as client:  # already migrated: starts as it is
        assert client.get("/workflows/instances").headers["x-total-count"] == "1"


def test_without_auto_migration_a_new_database_fails_fast(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'new.db'}"
    plugin = WorkflowPlugin(WorkflowPluginConfig(database_url=url, auto_migrate=False))
    with pytest.raises(BaseExceptionGroup) as caught, TestClient(Litestar(plugins=[plugin])):
        pass
    # The test client reports lifespan failures inside exception groups.
    errors = list(leaves(caught.value))
    assert any(isinstance(e, StoreError) and "litestar workflows migrate" in str(e) for e in errors), errors


def leaves(error: BaseException) -> Iterator[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from leaves(inner)
    else:
        yield error


def test_a_given_engine_is_migrated_only_when_asked(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'given.db'}"
    engine = PersistentExecutionEngine(build_registry(), url=url)
    with TestClient(
        Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(engine=engine, auto_migrate=True))])
    ) as c:
        assert c.get("/workflows/instances").status_code == 200


def warnings_of_an_app(
    caplog: pytest.LogCaptureFixture, config: WorkflowPluginConfig | None = None, **app: Any
) -> tuple[str, WorkflowPlugin]:
    """What the workflow loggers warn while a plugin of ``config`` and ``Litestar(**app)`` are built.

    Built without Litestar's logging configuration: applying it replaces the root logger's
    handlers, caplog's among them, and nothing logged after that would be seen.
    """
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="litestar_workflows.web"):
        plugin = WorkflowPlugin(config)
        Litestar(plugins=[plugin], logging_config=None, **app)
    return caplog.text, plugin


def test_without_a_database_url_state_stays_in_memory_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    warned, plugin = warnings_of_an_app(caplog)  # no engine, no database_url: the default
    assert "lost when the process stops" in warned
    assert type(plugin.engine) is LocalExecutionEngine
    assert plugin.registry is plugin.engine.registry

    own = WorkflowPluginConfig(engine=LocalExecutionEngine(WorkflowRegistry()))
    assert warnings_of_an_app(caplog, own)[0] == ""  # an engine of the app's own: no warning


@pytest.mark.parametrize(
    ("key", "served"),
    [("workflow_engine", {}), ("my_engine", {"enable_api": False, "enable_ui": False})],
)
def test_no_in_memory_warning_when_the_app_provides_its_own_engine(
    caplog: pytest.LogCaptureFixture, key: str, served: dict[str, bool]
) -> None:
    """The guides' setup: the app provides ``workflow_engine`` (per request); the plugin's is unused."""
    engine = LocalExecutionEngine(WorkflowRegistry())

    def provide_engine() -> LocalExecutionEngine:
        return engine

    config = WorkflowPluginConfig(dependency_key_engine=key, **served)
    provided = {key: Provide(provide_engine, sync_to_thread=False)}
    assert warnings_of_an_app(caplog, config, dependencies=provided)[0] == ""
    # Provided under another name than the plugin's key: the plugin's in-memory engine is served.
    unrelated = {"unrelated": Provide(provide_engine, sync_to_thread=False)}
    warned, _ = warnings_of_an_app(caplog, config, dependencies=unrelated)
    assert "lost when the process stops" in warned


def test_an_engine_under_another_key_still_leaves_the_api_on_the_plugins_engine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The REST API reads ``workflow_engine``: an app engine under another key does not reach it."""
    config = WorkflowPluginConfig(dependency_key_engine="my_engine")
    app_engine = {"my_engine": Provide(lambda: None, sync_to_thread=False)}
    warned, _ = warnings_of_an_app(caplog, config, dependencies=app_engine)
    assert "lost when the process stops" in warned


def test_registry_and_engine_are_available_once_the_plugin_is_part_of_an_app() -> None:
    plugin = WorkflowPlugin()
    for name in ("registry", "engine", "runner"):
        with pytest.raises(RuntimeError, match="not been initialized"):
            getattr(plugin, name)
    Litestar(plugins=[plugin])
    assert isinstance(plugin.registry, WorkflowRegistry)


def test_an_empty_registry_given_is_the_one_served() -> None:
    registry = WorkflowRegistry()  # empty, hence falsy: still the one to serve
    plugin = WorkflowPlugin(WorkflowPluginConfig(registry=registry))
    Litestar(plugins=[plugin])
    assert plugin.registry is registry


def test_api_can_be_moved_or_left_out() -> None:
    moved = Litestar(plugins=[memory_plugin(api_path_prefix="/api/flows/")])
    paths = {route.path for route in moved.routes}
    assert "/api/flows/definitions" in paths
    assert not any(path.startswith("/workflows") for path in paths)

    without = Litestar(plugins=[memory_plugin(enable_api=False)])
    assert not any("definitions" in route.path for route in without.routes)


def test_guards_apply_to_every_api_route() -> None:
    def needs_key(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if connection.headers.get("x-key") != "secret":
            raise NotAuthorizedException("key required")

    @get("/open", sync_to_thread=False)
    def open_route() -> str:
        return "ok"

    app = Litestar([open_route], plugins=[memory_plugin(api_guards=[needs_key])])
    api_paths = {
        route.path
        for route in app.routes
        if route.path.startswith("/workflows") and not route.path.startswith("/workflows/ui")
    }  # the web UI under /workflows/ui: tests/web/ui/test_ui_access.py
    assert len(api_paths) == 16  # every one but the webhook route is tried below (16 operations)
    with TestClient(app) as client:
        for method, path in API_ROUTES:
            url = "/workflows" + path.format(id=SOME_ID)
            assert client.request(method, url, json={}).status_code == 401, (method, path)
        assert client.get("/workflows/definitions", headers={"x-key": "secret"}).status_code == 200
        assert client.get("/open").status_code == 200
        # The webhook route authenticates by signature, not by the app's guards: unknown instance.
        assert client.post(f"/workflows/webhooks/{SOME_ID}/paid", json={}).status_code == 404


def test_openapi_schema_is_complete() -> None:
    app = Litestar(plugins=[memory_plugin(api_tags=["Flows"])])
    schema = app.openapi_schema.to_schema()
    json.dumps(schema)  # renders
    operations = {
        (method.upper(), path.removeprefix("/workflows")): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    }
    expected = {(method, path.replace("approval", "{name}")) for method, path in [*API_ROUTES, WEBHOOK_ROUTE]}
    assert {
        (m, p.replace("{instance_id}", "{id}").replace("{task_id}", "{id}")) for m, p in operations
    } == expected
    for operation in operations.values():
        assert operation["tags"] == ["Flows"]
        assert operation["operationId"]
        assert operation["summary"]
    complete = operations[("POST", "/tasks/{task_id}/complete")]
    assert {"200", "403", "404", "409", "422"} <= set(complete["responses"])
    error_ref = complete["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref.endswith("/ErrorBody")
    with TestClient(app) as client:
        assert client.get("/schema/openapi.json").status_code == 200


def test_api_can_be_hidden_from_the_schema() -> None:
    app = Litestar(plugins=[memory_plugin(include_api_in_schema=False)])
    assert not app.openapi_schema.to_schema().get("paths")


# ---------------------------------------------------------------------- identity from request.user


@dataclass
class Account:
    username: str
    groups: tuple[str, ...] = ()
    id: int | None = None


USERS: dict[str, Any] = {
    "plain": "maria",
    "object": Account("maria", ("managers",)),
    "object-id": Account("someone", id=7),
    "mapping": {"email": "maria@example.com", "groups": ["finance"]},
}


class HeaderAuth(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        return AuthenticationResult(user=USERS.get(connection.headers.get("x-kind", "")), auth=None)


def identity_app(**config: Any) -> Litestar:
    engine = LocalExecutionEngine(build_registry())
    return Litestar(
        plugins=[WorkflowPlugin(WorkflowPluginConfig(engine=engine, **config))],
        middleware=[DefineMiddleware(HeaderAuth)],
    )


@pytest.mark.parametrize(
    ("kind", "created_by"),
    [
        ("plain", "maria"),
        ("object", "maria"),
        ("object-id", "7"),
        ("mapping", "maria@example.com"),
        ("none", None),
    ],
)
def test_the_default_user_is_request_user(kind: str, created_by: str | None) -> None:
    with TestClient(identity_app()) as client:
        response = client.post(
            "/workflows/instances", json={"definition_name": "flaky"}, headers={"x-kind": kind}
        )
        assert response.json()["created_by"] == created_by


def test_resolvers_may_be_async() -> None:
    async def tenant(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        return connection.headers.get("x-tenant")

    with TestClient(identity_app(tenant_resolver=tenant)) as client:
        client.post("/workflows/instances", json={"definition_name": "flaky"}, headers={"x-tenant": "acme"})
        assert (
            client.get("/workflows/instances", headers={"x-tenant": "acme"}).headers["x-total-count"] == "1"
        )
        assert (
            client.get("/workflows/instances", headers={"x-tenant": "other"}).headers["x-total-count"] == "0"
        )
        assert client.get("/workflows/instances").status_code == 403  # no tenant: fails closed


@dataclass
class FakeConnection:
    scope: dict[str, Any]


@pytest.mark.parametrize(
    ("user", "groups"),
    [
        (None, ()),
        ("maria", ()),
        (Account("maria", ("managers", "staff")), ("managers", "staff")),
        ({"id": "x", "groups": ["finance"]}, ("finance",)),
        (Account("maria", "solo"), ("solo",)),  # type: ignore[arg-type]
        ({"id": "x", "groups": 5}, ()),
    ],
)
def test_default_identity_resolvers(user: Any, groups: tuple[str, ...]) -> None:
    from litestar_workflows.web.identity import default_groups_resolver, default_tenant_resolver

    connection: Any = FakeConnection({"user": user} if user is not None else {})
    assert tuple(default_groups_resolver(connection)) == groups
    assert default_tenant_resolver(connection) is None


def test_without_authentication_requests_are_anonymous() -> None:
    app = Litestar(plugins=[memory_plugin()])
    with TestClient(app) as client:
        response = client.post("/workflows/instances", json={"definition_name": "flaky"})
        assert response.status_code == 201
        assert response.json()["created_by"] is None
