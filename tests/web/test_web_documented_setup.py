"""The documented Litestar integration: tables from create_all, an engine per request, app overrides.

The persistence and web-plugin guides create the tables with ``UUIDAuditBase.metadata.create_all``
and provide ``workflow_engine`` per request as ``PersistentExecutionEngine(registry=..., session=...)``
built on the request's session; nobody ever calls ``start()`` on those engines. These tests run that
setup through Litestar's test client on a SQLite file and on PostgreSQL: start in one request,
complete the task in a second, and wait in a third until a timer (fired by the database's background
runner, see ``litestar_workflows.db.engine``) has let the instance finish.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from advanced_alchemy.base import UUIDAuditBase
from litestar import Litestar, Router
from litestar.di import Provide
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from web_helpers import Record, Review, Submit, as_user, header_groups, header_user

from litestar_workflows import (
    Edge,
    LocalExecutionEngine,
    TimerStep,
    WorkflowDefinition,
    WorkflowPlugin,
    WorkflowPluginConfig,
    WorkflowRegistry,
)
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.migrate import current_revision, head_revision, upgrade_database_async
from litestar_workflows.web.controllers import (
    HumanTaskController,
    WorkflowDefinitionController,
    WorkflowInstanceController,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase


def review_then_pause() -> WorkflowDefinition:
    """submit -> review (human) -> pause (a short timer) -> done."""
    return WorkflowDefinition(
        name="review_then_pause",
        version="1.0.0",
        steps={
            "submit": Submit(),
            "review": Review(),
            "pause": TimerStep("pause", timedelta(milliseconds=50)),
            "done": Record("done"),
        },
        edges=[Edge("submit", "review"), Edge("review", "pause"), Edge("pause", "done")],
        initial_step="submit",
        terminal_steps={"done"},
    )


async def create_tables_as_documented(database: ScratchDatabase) -> None:
    """``UUIDAuditBase.metadata.create_all`` after importing our models: no migration ran."""
    db_engine = create_async_engine(database.url, **database.engine_options)
    async with db_engine.begin() as connection:
        await connection.run_sync(UUIDAuditBase.metadata.create_all)
    await db_engine.dispose()


def documented_app(database: ScratchDatabase, registry: WorkflowRegistry, built: list[Any]) -> Litestar:
    """The web-plugin guide's "Full Setup with Persistence", with header identity for the task."""
    db_engine = create_async_engine(database.url, **database.engine_options)
    session_factory = async_sessionmaker(db_engine, expire_on_commit=False)

    async def provide_session() -> AsyncIterator[AsyncSession]:
        async with session_factory() as session:
            yield session

    async def provide_engine(session: AsyncSession) -> PersistentExecutionEngine:
        engine = PersistentExecutionEngine(registry=registry, session=session)
        built.append(engine)
        return engine

    async def provide_registry() -> WorkflowRegistry:
        return registry

    async def dispose() -> None:
        await db_engine.dispose()

    config = WorkflowPluginConfig(user_resolver=header_user, groups_resolver=header_groups)
    return Litestar(
        plugins=[WorkflowPlugin(config)],
        dependencies={
            "session": Provide(provide_session),
            "workflow_engine": Provide(provide_engine),
            "workflow_registry": Provide(provide_registry),
        },
        on_shutdown=[dispose],
    )


def test_an_engine_per_request_starts_continues_and_times_out(scratch_database: ScratchDatabase) -> None:
    registry = WorkflowRegistry()
    registry.register_definition(review_then_pause())
    built: list[Any] = []
    app = documented_app(scratch_database, registry, built)
    with TestClient(app) as client:
        client.blocking_portal.call(create_tables_as_documented, scratch_database)
        started = client.post(
            "/workflows/instances",
            json={"definition_name": "review_then_pause", "input_data": {"amount": 5}, "user_id": "erik"},
            headers={"X-User": "erik"},  # the app identifies users: the body may only repeat who signed in
        )
        assert started.status_code == 201, started.text
        instance_id = started.json()["id"]
        assert started.json()["definition_name"] == "review_then_pause"

        # Second request: the instance ran on after the first request ended, and waits for review.
        waiting = client.get(f"/workflows/instances/{instance_id}", params={"wait": 20, "until": "waiting"})
        assert waiting.json()["status"] == "waiting", waiting.text
        [task] = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
        done = client.post(
            f"/workflows/tasks/{task['id']}/complete",
            json={"output_data": {"approved": True}},
            headers=as_user("maria"),
        )
        assert done.status_code == 200, done.text

        # Third request: the timer fired (nobody started any of these engines) and the instance ended.
        finished = client.get(
            f"/workflows/instances/{instance_id}", params={"wait": 20, "until": "completed"}
        )
        body = finished.json()
        assert body["status"] == "completed", body
        assert [s["step_name"] for s in body["step_history"] if s["status"] == "succeeded"] == [
            "submit",
            "review",
            "pause",
            "done",
        ]
        assert body["context_data"]["approved"] is True
    assert len({id(engine) for engine in built}) == len(built) >= 3  # a new engine for every request


async def test_create_all_makes_a_schema_the_engine_starts_on_and_migrate_adopts(
    scratch_database: ScratchDatabase,
) -> None:
    await create_tables_as_documented(scratch_database)
    registry = WorkflowRegistry()
    registry.register_definition(review_then_pause())
    db_engine = create_async_engine(scratch_database.url, **scratch_database.engine_options)
    try:
        assert await current_revision(db_engine) is None
        engine = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine))
        await engine.start()  # accepted: the tables and columns are ours, only the revision is missing
        instance = await engine.start_workflow("review_then_pause", {})
        await engine.wait(instance.id, timeout=20)
        assert (await engine.get_instance(instance.id)).current_step == "review"
        await engine.stop()

        await upgrade_database_async(db_engine)  # a later migrate stamps the schema instead of failing
        assert await current_revision(db_engine) == head_revision()
        await upgrade_database_async(db_engine)
    finally:
        await db_engine.dispose()


def test_the_api_uses_the_app_s_own_engine_and_registry() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(review_then_pause())
    own = LocalExecutionEngine(registry)
    plugin = WorkflowPlugin()  # its own engine and registry stay empty
    app = Litestar(
        plugins=[plugin],
        dependencies={
            "workflow_engine": Provide(lambda: own, sync_to_thread=False),
            "workflow_registry": Provide(lambda: registry, sync_to_thread=False),
        },
    )
    with TestClient(app) as client:
        assert [d["name"] for d in client.get("/workflows/definitions").json()] == ["review_then_pause"]
        started = client.post("/workflows/instances", json={"definition_name": "review_then_pause"})
        assert started.status_code == 201, started.text
        instance_id = started.json()["id"]
        assert client.get(f"/workflows/instances/{instance_id}").status_code == 200
        assert client.get("/workflows/instances").headers["x-total-count"] == "1"
        listed = client.blocking_portal.call(plugin.engine.find_instances)
        assert listed.total == 0  # nothing landed in the plugin's own engine
    assert not plugin.registry.has_definition("review_then_pause")


def test_the_controllers_mount_on_the_app_s_own_router() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(review_then_pause())
    engine = LocalExecutionEngine(registry)
    router = Router(
        path="/api",
        route_handlers=[WorkflowDefinitionController, WorkflowInstanceController, HumanTaskController],
        dependencies={
            "workflow_engine": Provide(lambda: engine, sync_to_thread=False),
            "workflow_registry": Provide(lambda: registry, sync_to_thread=False),
        },
    )
    with TestClient(Litestar([router])) as client:
        [listed] = client.get("/api/definitions").json()
        assert (listed["steps"], listed["initial_step"], listed["terminal_steps"]) == (
            ["submit", "review", "pause", "done"],
            "submit",
            ["done"],
        )
        graph = client.get("/api/definitions/review_then_pause/graph", params={"graph_format": "json"}).json()
        assert graph["mermaid_source"] == ""
        assert [n["id"] for n in graph["nodes"] if n["is_initial"]] == ["submit"]
        unknown = client.get("/api/definitions/review_then_pause/graph", params={"graph_format": "xml"})
        assert unknown.status_code == 404
        assert "Unknown format: xml" in unknown.json()["detail"]
        missing = client.get("/api/definitions/nope")
        assert (missing.status_code, missing.json()["detail"]) == (
            404,
            "Workflow definition 'nope' not found",
        )
        started = client.post(
            "/api/instances", json={"definition_name": "review_then_pause", "user_id": "ann"}
        )
        assert (started.status_code, started.json()["created_by"]) == (201, "ann")  # anonymous: body names it
        claimed = client.post(
            "/api/instances",
            json={"definition_name": "review_then_pause", "user_id": "ann"},
            headers={"X-User": "bob"},
        )
        assert claimed.status_code == 201  # no user resolver here: identity comes from request.user only


def test_task_filters_answer_to_their_documented_names_too() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(review_then_pause())
    engine = LocalExecutionEngine(registry)
    app = Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(engine=engine))])
    with TestClient(app) as client:
        body = {"definition_name": "review_then_pause", "input_data": {"reviewer": "maria"}}
        started = client.post("/workflows/instances", json=body).json()
        client.get(f"/workflows/instances/{started['id']}", params={"wait": 20, "until": "waiting"})
        for params in (
            {"assignee_id": "maria"},
            {"assignee": "maria"},
            {"assignee": "maria", "assignee_id": "maria"},
        ):
            tasks = client.get("/workflows/tasks", params=params)
            assert (len(tasks.json()), tasks.headers["x-total-count"]) == (1, "1"), params
            assert tasks.json()[0]["assignee"] == "maria"
        both = client.get("/workflows/tasks", params={"assignee": "maria", "assignee_id": "erik"})
        assert (both.json(), both.headers["x-total-count"]) == ([], "0")  # filters hold together
