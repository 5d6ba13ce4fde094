"""Read routes use the app's ``workflow_instance_repo`` / ``human_task_repo`` when it provides them.

The reference's controllers take those two dependencies; an app that provides them (on its
request-scoped session) sees its own database through the API: the read routes answer from it,
while actions still go through ``workflow_engine``. Tenancy holds on either source.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from advanced_alchemy.base import UUIDAuditBase
from litestar import Litestar, Router
from litestar.di import NamedDependency, Provide
from litestar.testing import AsyncTestClient, TestClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from web_helpers import (
    APPROVAL_FORM,
    as_user,
    build_registry,
    header_groups,
    header_tenant,
    header_user,
    settle,
)

from litestar_workflows import LocalExecutionEngine, WorkflowPlugin, WorkflowPluginConfig, WorkflowStatus
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel
from litestar_workflows.db.repositories import (
    HumanTaskRepository,
    StepExecutionRepository,
    WorkflowInstanceRepository,
)
from litestar_workflows.web.controllers import (
    HumanTaskController,
    WorkflowDefinitionController,
    WorkflowInstanceController,
)
from litestar_workflows.web.controllers.reads import instance_reads, task_reads
from litestar_workflows.web.exceptions import (
    provide_human_task_repository,
    provide_workflow_instance_repository,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from uuid import UUID

    from conftest import ScratchDatabase


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The app's own database (a SQLite file), tables made the documented way."""
    db_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    async with db_engine.begin() as conn:
        await conn.run_sync(UUIDAuditBase.metadata.create_all)
    yield db_engine
    await db_engine.dispose()


def repository_dependencies(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Provide]:
    """The reference's dependency names, on a session per request."""

    async def provide_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    async def provide_instance_repo(session: NamedDependency[AsyncSession]) -> WorkflowInstanceRepository:
        return WorkflowInstanceRepository(session=session)

    async def provide_task_repo(session: NamedDependency[AsyncSession]) -> HumanTaskRepository:
        return HumanTaskRepository(session=session)

    return {
        "session": Provide(provide_session),
        "workflow_instance_repo": Provide(provide_instance_repo),
        "human_task_repo": Provide(provide_task_repo),
    }


async def seed_waiting_instance(sessions: async_sessionmaker[AsyncSession]) -> tuple[UUID, UUID]:
    """An ``approval`` instance the app wrote itself: submit done, waiting for maria's review."""
    now = datetime.now(UTC)
    async with sessions() as session:
        instance = await WorkflowInstanceRepository(session=session).add(
            WorkflowInstanceModel(
                workflow_name="approval",
                workflow_version="1.0.0",
                status=WorkflowStatus.WAITING.value,
                current_step="review",
                context_data={"amount": 5, "reviewer": "maria"},
                metadata_={},
                started_at=now,
                created_by="erik",
            )
        )
        await StepExecutionRepository(session=session).add(
            StepExecutionModel(
                instance_id=instance.id,
                step_name="submit",
                step_type="machine",
                status="succeeded",
                started_at=now,
                completed_at=now,
            )
        )
        review = await StepExecutionRepository(session=session).add(
            StepExecutionModel(
                instance_id=instance.id,
                step_name="review",
                step_type="human",
                status="waiting",
                started_at=now,
            )
        )
        task = await HumanTaskRepository(session=session).add(
            HumanTaskModel(
                instance_id=instance.id,
                step_execution_id=review.id,
                step_name="review",
                title="Review the request",
                form_schema=APPROVAL_FORM,
                assignee_id="maria",
                status="pending",
            )
        )
        await session.commit()
        return instance.id, task.id


async def test_the_read_routes_show_the_app_repositories(db: AsyncEngine) -> None:
    sessions = async_sessionmaker(db, expire_on_commit=False)
    instance_id, task_id = await seed_waiting_instance(sessions)
    registry = build_registry()
    workflow_engine = LocalExecutionEngine(registry)  # knows nothing of the app's rows
    app = Litestar(
        route_handlers=[
            Router(
                "/workflows",
                route_handlers=[
                    WorkflowDefinitionController,
                    WorkflowInstanceController,
                    HumanTaskController,
                ],
            )
        ],
        dependencies={
            **repository_dependencies(sessions),
            "workflow_engine": Provide(lambda: workflow_engine, sync_to_thread=False),
            "workflow_registry": Provide(lambda: registry, sync_to_thread=False),
        },
    )
    async with AsyncTestClient(app) as client:
        started = await client.post(
            "/workflows/instances", json={"definition_name": "approval", "input_data": {"amount": 5}}
        )
        assert started.status_code == 201  # started on the engine, which runs workflows

        listed = await client.get("/workflows/instances")
        assert [i["id"] for i in listed.json()] == [str(instance_id)]
        assert listed.headers["x-total-count"] == "1"
        detail = (await client.get(f"/workflows/instances/{instance_id}")).json()
        assert (detail["status"], detail["current_step"]) == ("waiting", "review")
        assert detail["context_data"] == {"amount": 5, "reviewer": "maria"}
        assert [(s["step_name"], s["status"]) for s in detail["step_history"]] == [
            ("submit", "succeeded"),
            ("review", "waiting"),
        ]
        # A long poll waits on the engine; one that does not run this instance answers it as it is.
        polled = await client.get(f"/workflows/instances/{instance_id}", params={"wait": 5})
        assert (polled.status_code, polled.json()["status"]) == (200, "waiting")
        graph = await client.get(f"/workflows/instances/{instance_id}/graph")
        assert graph.status_code == 200
        assert "review" in graph.json()["mermaid_source"]

        tasks = (await client.get("/workflows/tasks")).json()
        assert [t["id"] for t in tasks] == [str(task_id)]
        task = (await client.get(f"/workflows/tasks/{task_id}")).json()
        assert (task["title"], task["assignee"], task["form_schema"]) == (
            "Review the request",
            "maria",
            APPROVAL_FORM,
        )

        # The instance only the engine holds is not in the app's database, so reads do not find it;
        # actions go through the engine, which does not know the app's own rows.
        assert (await client.get(f"/workflows/instances/{started.json()['id']}")).status_code == 404
        canceled = await client.post(f"/workflows/instances/{instance_id}/cancel", json={"reason": "x"})
        assert canceled.status_code == 404


async def test_the_web_exceptions_providers_serve_the_read_routes(db: AsyncEngine) -> None:
    sessions = async_sessionmaker(db, expire_on_commit=False)
    instance_id, task_id = await seed_waiting_instance(sessions)
    registry = build_registry()
    workflow_engine = LocalExecutionEngine(registry)

    async def provide_db_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    app = Litestar(
        route_handlers=[
            Router("/workflows", route_handlers=[WorkflowInstanceController, HumanTaskController])
        ],
        dependencies={
            "db_session": Provide(provide_db_session),
            "workflow_instance_repo": Provide(provide_workflow_instance_repository),
            "human_task_repo": Provide(provide_human_task_repository),
            "workflow_engine": Provide(lambda: workflow_engine, sync_to_thread=False),
            "workflow_registry": Provide(lambda: registry, sync_to_thread=False),
        },
    )
    async with AsyncTestClient(app) as client:
        assert [i["id"] for i in (await client.get("/workflows/instances")).json()] == [str(instance_id)]
        assert [t["id"] for t in (await client.get("/workflows/tasks")).json()] == [str(task_id)]


def test_tenants_stay_apart_when_reading_through_app_repositories(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'tenants.db'}"
    app_db = create_async_engine(url)  # the app's own engine; first used on the app's loop
    plugin = WorkflowPlugin(
        WorkflowPluginConfig(
            registry=build_registry(),
            database_url=url,
            user_resolver=header_user,
            groups_resolver=header_groups,
            tenant_resolver=header_tenant,
            enable_ui=False,
        )
    )
    sessions = async_sessionmaker(app_db, expire_on_commit=False)
    app = Litestar(plugins=[plugin], dependencies=repository_dependencies(sessions))
    with TestClient(app) as client:
        ids: dict[str, str] = {}
        for tenant in ("acme", "globex"):
            response = client.post(
                "/workflows/instances",
                json={"definition_name": "approval", "input_data": {"amount": 5}},
                headers=as_user("erik", tenant=tenant),
            )
            assert response.status_code == 201
            ids[tenant] = response.json()["id"]
            settle(client, plugin.engine, ids[tenant], until=WorkflowStatus.WAITING)
        acme = as_user("maria", tenant="acme")

        polled = client.get(f"/workflows/instances/{ids['acme']}", params={"wait": 5}, headers=acme)
        assert (polled.status_code, polled.json()["status"]) == (200, "waiting")
        listed = client.get("/workflows/instances", headers=acme)
        assert [i["id"] for i in listed.json()] == [ids["acme"]]
        [acme_task] = client.get("/workflows/tasks", headers=acme).json()
        assert acme_task["instance_id"] == ids["acme"]
        [globex_task] = client.get("/workflows/tasks", headers=as_user("maria", tenant="globex")).json()
        for path in (
            f"/workflows/instances/{ids['globex']}",
            f"/workflows/instances/{ids['globex']}/graph",
            f"/workflows/tasks/{globex_task['id']}",
        ):
            assert client.get(path, headers=acme).status_code == 404, path
        other = client.get("/workflows/tasks", params={"instance_id": ids["globex"]}, headers=acme)
        assert other.json() == []
        client.blocking_portal.call(app_db.dispose)


def test_the_full_documented_setup_with_repositories(scratch_database: ScratchDatabase) -> None:
    """An engine per request on the request's session, and the repositories on that same session."""
    registry = build_registry()
    db_engine = create_async_engine(scratch_database.url, **scratch_database.engine_options)
    sessions = async_sessionmaker(db_engine, expire_on_commit=False)

    async def create_tables() -> None:
        async with db_engine.begin() as conn:
            await conn.run_sync(UUIDAuditBase.metadata.create_all)

    async def provide_engine(session: NamedDependency[AsyncSession]) -> PersistentExecutionEngine:
        return PersistentExecutionEngine(registry=registry, session=session)

    app = Litestar(
        plugins=[
            WorkflowPlugin(
                WorkflowPluginConfig(
                    user_resolver=header_user, groups_resolver=header_groups, enable_ui=False
                )
            )
        ],
        dependencies={
            **repository_dependencies(sessions),
            "workflow_engine": Provide(provide_engine),
            "workflow_registry": Provide(lambda: registry, sync_to_thread=False),
        },
        on_startup=[create_tables],
        on_shutdown=[db_engine.dispose],
    )
    with TestClient(app) as client:
        started = client.post(
            "/workflows/instances",
            json={"definition_name": "approval", "input_data": {"amount": 5}},
            headers=as_user("erik"),
        )
        assert started.status_code == 201, started.text
        instance_id = started.json()["id"]
        # Later requests read through the repositories' session what the engines committed.
        waiting = client.get(f"/workflows/instances/{instance_id}", params={"wait": 20, "until": "waiting"})
        assert waiting.json()["status"] == "waiting", waiting.text
        assert [i["id"] for i in client.get("/workflows/instances").json()] == [instance_id]
        [task] = client.get("/workflows/tasks", params={"instance_id": instance_id}).json()
        assert (task["step_name"], task["assignee"]) == ("review", "maria")
        done = client.post(
            f"/workflows/tasks/{task['id']}/complete",
            json={"output_data": {"approved": True}},
            headers=as_user("maria"),
        )
        assert done.status_code == 200, done.text
        finished = client.get(
            f"/workflows/instances/{instance_id}", params={"wait": 20, "until": "completed"}
        )
        assert finished.json()["status"] == "completed", finished.text
        assert finished.json()["context_data"]["outcome"] == "approve"
        assert client.get(f"/workflows/tasks/{task['id']}").json()["status"] == "completed"


def test_a_dependency_that_is_not_a_repository_is_named() -> None:
    workflow_engine = LocalExecutionEngine(build_registry())
    assert instance_reads(workflow_engine, None) is workflow_engine
    assert task_reads(workflow_engine, None) is workflow_engine
    with pytest.raises(TypeError, match="'workflow_instance_repo' dependency must be a repository"):
        instance_reads(workflow_engine, object())
    with pytest.raises(TypeError, match="'human_task_repo' dependency must be a repository"):
        task_reads(workflow_engine, object())
