"""The Persistence and Web Plugin guides' examples (guides/persistence.rst, guides/web-plugin.rst).

The guides' PostgreSQL URLs are replaced by a SQLite file in a temporary directory, or (in the
blocks that wire an engine per request into an app) by a scratch database, a SQLite file and a
private PostgreSQL schema in turn. The steps and ``ApprovalWorkflow`` are the web-plugin guide's
"Backend Setup" ones, which its other blocks use without showing them; ``MyWorkflow`` (the
persistence guide's, never shown) has the same shape. Everything else is as the guides show it.
"""

# ruff: noqa: E402, F401, F811, I001, PLC0415
# (the documented code is kept as the guides show it)

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowStatus,
)

TABLES_AND_REGISTRATION = (
    "UUIDAuditBase.metadata.create_all creates our tables (issue 11 item 4) and registering a class "
    "after its definition is a no-op (item 3)"
)


class SubmitRequest(BaseMachineStep):
    name = "submit"
    description = "Submit the request"

    async def execute(self, context: WorkflowContext) -> dict:
        context.set("submitted", True)
        return {"status": "submitted"}


class ManagerReview(BaseHumanStep):
    name = "manager_review"
    title = "Review Request"
    form_schema = {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean", "title": "Approved"},
            "comments": {"type": "string", "title": "Comments"},
        },
        "required": ["approved"],
    }


class MyWorkflow:
    __workflow_name__ = "my_workflow"
    __workflow_version__ = "1.0.0"

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return WorkflowDefinition(
            name=cls.__workflow_name__,
            version=cls.__workflow_version__,
            description="",
            steps={"submit": SubmitRequest(), "manager_review": ManagerReview()},
            edges=[Edge("submit", "manager_review")],
            initial_step="submit",
            terminal_steps={"manager_review"},
        )


# ----------------------------------------------------------------------------- persistence.rst


async def test_direct_table_creation_then_basic_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the guide's relative "workflows.db"

    # Option 2: Direct Table Creation (asyncio.run() replaced by an await: we already run in a loop)
    from sqlalchemy.ext.asyncio import create_async_engine
    from advanced_alchemy.base import UUIDAuditBase

    # Import models to register them
    from litestar_workflows.db import (
        WorkflowDefinitionModel,
        WorkflowInstanceModel,
        StepExecutionModel,
        HumanTaskModel,
    )

    async def create_tables():
        engine = create_async_engine("sqlite+aiosqlite:///workflows.db")
        async with engine.begin() as conn:
            await conn.run_sync(UUIDAuditBase.metadata.create_all)
        await engine.dispose()  # (added: the guide leaves the engine open)

    await create_tables()

    # Basic Setup
    from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker
    from litestar_workflows import WorkflowRegistry
    from litestar_workflows.db import PersistentExecutionEngine

    engine = create_async_engine("sqlite+aiosqlite:///workflows.db")
    session_factory = async_sessionmaker(engine, expire_on_commit=False)

    registry = WorkflowRegistry()
    registry.register_definition(MyWorkflow.get_definition())
    registry.register_workflow_class(MyWorkflow)

    async with session_factory() as session:
        engine = PersistentExecutionEngine(
            registry=registry,
            session=session,
        )

        # Start a workflow - state is automatically persisted
        instance = await engine.start_workflow(
            MyWorkflow,
            initial_data={"customer_id": "cust-123"},
            tenant_id="acme-corp",  # Optional: multi-tenancy support
            created_by="user@example.com",  # Optional: audit trail
        )
        instance = await engine.wait(instance.id, until=WorkflowStatus.WAITING, timeout=30)
        assert instance.current_step == "manager_review"
        assert instance.tenant_id == "acme-corp"


# ----------------------------------------------------------------------------- web-plugin.rst


def test_web_plugin_quick_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the plugin's default engine may keep a file in the working directory
    from litestar import Litestar
    from litestar_workflows import WorkflowPlugin, WorkflowPluginConfig

    app = Litestar(
        route_handlers=[],  # the guide's "[...]"
        plugins=[
            WorkflowPlugin(
                config=WorkflowPluginConfig(
                    enable_api=True,  # Default - API auto-enabled
                    api_path_prefix="/workflows",
                )
            ),
        ],
    )
    with TestClient(app) as client:
        assert client.get("/workflows/definitions").status_code == 200


def test_web_plugin_disabling_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from litestar import Litestar
    from litestar_workflows import WorkflowPlugin, WorkflowPluginConfig

    app = Litestar(
        plugins=[
            WorkflowPlugin(config=WorkflowPluginConfig(enable_api=False)),
        ],
    )
    with TestClient(app) as client:
        assert client.get("/workflows/definitions").status_code == 404


# ----------------------------------------------------------------------------- on SQLite and PostgreSQL
#
# The guides' blocks that wire a PersistentExecutionEngine per request into a Litestar app, run on a
# SQLite file and on a private PostgreSQL schema (the ``scratch_database`` fixture). Only the URL
# line differs from the guides (``database.url`` and what confines connections to the schema), and
# the tables are made as the persistence guide's "Direct Table Creation" makes them.

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from sqlalchemy.ext.asyncio import AsyncSession

from litestar_workflows import WorkflowRegistry
from litestar_workflows.db import PersistentExecutionEngine

# (The names above are imported here too: this module's annotations are strings, which Litestar
# resolves in the module's namespace, not in the test function where each block imports them.)


class ApprovalWorkflow:
    __workflow_name__ = "approval"
    __workflow_version__ = "1.0.0"
    __workflow_description__ = "Simple approval workflow"

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return WorkflowDefinition(
            name=cls.__workflow_name__,
            version=cls.__workflow_version__,
            description=cls.__workflow_description__,
            steps={
                "submit": SubmitRequest(),
                "manager_review": ManagerReview(),
            },
            edges=[Edge("submit", "manager_review")],
            initial_step="submit",
            terminal_steps={"manager_review"},
        )


async def create_tables(database: Any) -> None:
    """The persistence guide's "Direct Table Creation", on the scratch database."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from advanced_alchemy.base import UUIDAuditBase

    from litestar_workflows.db import (
        WorkflowDefinitionModel,
        WorkflowInstanceModel,
        StepExecutionModel,
        HumanTaskModel,
    )

    engine = create_async_engine(database.url, **database.engine_options)
    async with engine.begin() as conn:
        await conn.run_sync(UUIDAuditBase.metadata.create_all)
    await engine.dispose()


async def wait_until(registry: Any, session_factory: Any, instance_id: str, status: WorkflowStatus) -> Any:
    """A later engine on its own session (as a later request would build one) waits for ``status``."""
    from uuid import UUID

    from litestar_workflows.db import PersistentExecutionEngine

    async with session_factory() as session:
        engine = PersistentExecutionEngine(registry=registry, session=session)
        return await engine.wait(UUID(instance_id), until=status, timeout=30)


def test_persistence_litestar_integration(scratch_database: Any) -> None:
    database = scratch_database

    # The persistence guide's "Litestar Integration", as shown
    from litestar import Litestar, get, post
    from litestar.di import Provide
    from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker, AsyncSession
    from litestar_workflows import WorkflowRegistry
    from litestar_workflows.db import PersistentExecutionEngine

    # Database setup
    engine = create_async_engine(database.url, **database.engine_options)  # (changed: the URL)
    session_factory = async_sessionmaker(engine, expire_on_commit=False)

    # Workflow registry
    registry = WorkflowRegistry()
    registry.register_definition(ApprovalWorkflow.get_definition())
    registry.register_workflow_class(ApprovalWorkflow)

    async def provide_session() -> AsyncSession:
        """Provide database session for dependency injection."""
        async with session_factory() as session:
            yield session

    async def provide_engine(session: AsyncSession) -> PersistentExecutionEngine:
        """Provide persistent workflow engine."""
        return PersistentExecutionEngine(
            registry=registry,
            session=session,
        )

    # (changed: "{name}" -> "{name:str}"; Litestar refuses a path parameter without a type, on
    # either package)
    @post("/workflows/{name:str}/start")
    async def start_workflow(
        name: str,
        data: dict,
        engine: PersistentExecutionEngine,
    ) -> dict:
        """Start a new workflow instance with persistence."""
        workflow_class = registry.get_workflow_class(name)
        instance = await engine.start_workflow(workflow_class, initial_data=data)
        return {"instance_id": str(instance.id), "status": instance.status.value}

    app = Litestar(
        route_handlers=[start_workflow],
        dependencies={
            "session": Provide(provide_session),
            "engine": Provide(provide_engine),
        },
    )
    # (end of the guide's block)

    with TestClient(app) as client:
        client.blocking_portal.call(create_tables, database)
        try:
            response = client.post("/workflows/approval/start", json={"amount": 250})
            assert response.status_code == 201, response.text
            started = response.json()
            assert started["status"] in {"pending", "running", "waiting"}

            # The instance ran on after the request's engine and session were gone.
            waiting = client.blocking_portal.call(
                wait_until, registry, session_factory, started["instance_id"], WorkflowStatus.WAITING
            )
            assert waiting.current_step == "manager_review"
            assert (waiting.context.get("amount"), waiting.context.get("submitted")) == (250, True)
        finally:
            client.blocking_portal.call(engine.dispose)


def test_web_plugin_full_setup_with_persistence(scratch_database: Any) -> None:
    database = scratch_database

    # The web-plugin guide's "Full Setup with Persistence", as shown
    from litestar import Litestar
    from litestar.di import Provide
    from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker, AsyncSession

    from litestar_workflows import WorkflowPlugin, WorkflowPluginConfig, WorkflowRegistry
    from litestar_workflows.db import PersistentExecutionEngine

    # Database setup
    db_engine = create_async_engine(
        database.url,  # (changed: the URL)
        echo=False,
        **database.engine_options,  # (added: confines PostgreSQL connections to the test's schema)
    )
    session_factory = async_sessionmaker(db_engine, expire_on_commit=False)

    # Workflow registry with your definitions
    registry = WorkflowRegistry()
    registry.register_definition(ApprovalWorkflow.get_definition())
    registry.register_workflow_class(ApprovalWorkflow)

    async def provide_session() -> AsyncSession:
        """Provide database session."""
        async with session_factory() as session:
            yield session

    async def provide_engine(session: AsyncSession) -> PersistentExecutionEngine:
        """Provide workflow execution engine."""
        return PersistentExecutionEngine(registry=registry, session=session)

    async def provide_registry() -> WorkflowRegistry:
        """Provide workflow registry."""
        return registry

    # Create app with plugins
    app = Litestar(
        route_handlers=[],  # (the guide's "[...]")
        plugins=[
            WorkflowPlugin(
                config=WorkflowPluginConfig(
                    auto_register_workflows=[ApprovalWorkflow],
                    enable_api=True,
                    api_path_prefix="/api/workflows",
                )
            ),
        ],
        dependencies={
            "session": Provide(provide_session),
            "workflow_engine": Provide(provide_engine),
            "workflow_registry": Provide(provide_registry),
        },
    )
    # (end of the guide's block)

    with TestClient(app) as client:
        client.blocking_portal.call(create_tables, database)
        try:
            definitions = client.get("/api/workflows/definitions")
            assert [d["name"] for d in definitions.json()] == ["approval"]
            response = client.post(
                "/api/workflows/instances",
                json={"definition_name": "approval", "input_data": {"amount": 250}},
            )
            assert response.status_code == 201, response.text
            instance_id = response.json()["id"]

            # A later request reads the instance from the database through its own engine.
            waiting = client.get(
                f"/api/workflows/instances/{instance_id}", params={"wait": 20, "until": "waiting"}
            )
            assert (waiting.json()["status"], waiting.json()["current_step"]) == ("waiting", "manager_review")
            tasks = (client.get("/api/workflows/tasks", params={"status": "pending"})).json()
            assert [(t["instance_id"], t["step_name"]) for t in tasks] == [(instance_id, "manager_review")]
            # Nobody is signed in (the block has no authentication): completing is refused.
            refused = client.post(
                f"/api/workflows/tasks/{tasks[0]['id']}/complete",
                json={"output_data": {"approved": True}, "completed_by": "mallory@example.com"},
            )
            assert refused.status_code == 403, refused.text
            # The plugin's own in-memory engine was never used: the instance is in the database.
            stored = client.blocking_portal.call(
                wait_until, registry, session_factory, instance_id, WorkflowStatus.WAITING
            )
            assert stored.current_step == "manager_review"
        finally:
            client.blocking_portal.call(db_engine.dispose)


def test_web_plugin_backend_setup(scratch_database: Any) -> None:
    database = scratch_database

    # The web-plugin guide's "Backend Setup" (app.py), as shown; its steps and workflow class are
    # the ones defined above.
    from litestar import Litestar, get
    from litestar.di import Provide
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from litestar.exceptions import NotAuthorizedException
    from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker
    from sqlalchemy.ext.asyncio import AsyncSession  # (added: for the annotation below)

    from litestar_workflows import (
        WorkflowPlugin,
        WorkflowPluginConfig,
        WorkflowRegistry,
        WorkflowDefinition,
        Edge,
        BaseMachineStep,
        BaseHumanStep,
        WorkflowContext,
    )
    from litestar_workflows.db import PersistentExecutionEngine

    # Database setup
    engine = create_async_engine(database.url, **database.engine_options)  # (changed: the URL)
    session_factory = async_sessionmaker(engine, expire_on_commit=False)

    # Registry
    registry = WorkflowRegistry()
    registry.register_definition(ApprovalWorkflow.get_definition())
    registry.register_workflow_class(ApprovalWorkflow)

    # Dependency providers
    async def provide_session():
        async with session_factory() as session:
            yield session

    # (changed: "session" -> "session: AsyncSession"; Litestar refuses a dependency parameter
    # without an annotation, on either package)
    async def provide_engine(session: AsyncSession):
        return PersistentExecutionEngine(registry=registry, session=session)

    async def provide_registry():
        return registry

    # Authentication guard
    async def require_auth(
        connection: ASGIConnection,
        route_handler: BaseRouteHandler,
    ) -> None:
        if not connection.user:
            raise NotAuthorizedException(detail="Authentication required")

    # Health endpoint
    @get("/health")
    async def health_check() -> dict:
        return {"status": "healthy"}

    # Create application
    app = Litestar(
        route_handlers=[health_check],
        plugins=[
            WorkflowPlugin(
                config=WorkflowPluginConfig(
                    auto_register_workflows=[ApprovalWorkflow],
                    enable_api=True,
                    api_path_prefix="/api/workflows",
                    api_guards=[require_auth],
                    api_tags=["Workflow API"],
                )
            ),
        ],
        dependencies={
            "session": Provide(provide_session),
            "workflow_engine": Provide(provide_engine),
            "workflow_registry": Provide(provide_registry),
        },
        middleware=[BearerUser],  # (added: the guide's guard reads connection.user; something must set it)
    )
    # (end of the guide's block)

    def signed_in(user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {user}"}

    with TestClient(app) as client:
        client.blocking_portal.call(create_tables, database)
        try:
            assert (client.get("/health")).json() == {"status": "healthy"}
            assert (client.get("/api/workflows/tasks")).status_code == 401  # the guard

            response = client.post(
                "/api/workflows/instances",
                json={"definition_name": "approval", "input_data": {"amount": 250}},
                headers=signed_in("erik@example.com"),
            )
            assert response.status_code == 201, response.text
            instance_id = response.json()["id"]
            waiting = client.get(
                f"/api/workflows/instances/{instance_id}",
                params={"wait": 20, "until": "waiting"},
                headers=signed_in("maria@example.com"),
            )
            assert waiting.json()["status"] == "waiting", waiting.text

            # The guide's task inbox: pending tasks, then the completion it posts.
            tasks = (
                client.get(
                    "/api/workflows/tasks",
                    params={"status": "pending"},
                    headers=signed_in("maria@example.com"),
                )
            ).json()
            [task] = [t for t in tasks if t["instance_id"] == instance_id]
            done = client.post(
                f"/api/workflows/tasks/{task['id']}/complete",
                json={
                    "output_data": {"approved": True, "comments": "fine"},
                    "completed_by": "maria@example.com",
                },
                headers=signed_in("maria@example.com"),
            )
            assert done.status_code == 200, done.text

            finished = client.get(
                f"/api/workflows/instances/{instance_id}",
                params={"wait": 20, "until": "completed"},
                headers=signed_in("maria@example.com"),
            )
            body = finished.json()
            assert body["status"] == "completed", body
            assert (body["context_data"]["approved"], body["context_data"]["comments"]) == (True, "fine")
            completed = client.blocking_portal.call(
                wait_until, registry, session_factory, instance_id, WorkflowStatus.COMPLETED
            )
            assert completed.context.get("submitted") is True
        finally:
            client.blocking_portal.call(engine.dispose)


from litestar.connection import ASGIConnection as _Connection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult


class BearerUser(AbstractAuthenticationMiddleware):
    """Signs in the user a ``Bearer`` header names, anonymous without one (a test's stand-in for real auth)."""

    async def authenticate_request(self, connection: _Connection) -> AuthenticationResult:
        header = connection.headers.get("Authorization", "")
        user = header.removeprefix("Bearer ").strip() or None
        return AuthenticationResult(user=user, auth=None)
