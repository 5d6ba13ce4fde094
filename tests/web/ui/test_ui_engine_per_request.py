"""The UI on the documented setup: a ``PersistentExecutionEngine`` built per request on its session."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Litestar
from litestar.di import Provide
from litestar.testing import TestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from ui_helpers import page, post_form
from web_helpers import approval, as_user, header_groups, header_user

from litestar_workflows import WorkflowPlugin, WorkflowPluginConfig, WorkflowRegistry
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.migrate import upgrade_database_async

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase

UI = "/workflows/ui"


def per_request_app(database: ScratchDatabase, registry: WorkflowRegistry) -> Litestar:
    db_engine = create_async_engine(database.url, **database.engine_options)
    sessions = async_sessionmaker(db_engine, expire_on_commit=False)

    async def provide_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session

    async def provide_engine(session: AsyncSession) -> PersistentExecutionEngine:
        return PersistentExecutionEngine(registry=registry, session=session)

    async def migrate() -> None:
        await upgrade_database_async(db_engine)

    async def dispose() -> None:
        await db_engine.dispose()

    config = WorkflowPluginConfig(user_resolver=header_user, groups_resolver=header_groups)
    return Litestar(
        plugins=[WorkflowPlugin(config)],
        dependencies={
            "session": Provide(provide_session),
            "workflow_engine": Provide(provide_engine),
            "workflow_registry": Provide(lambda: registry, sync_to_thread=False),
        },
        on_startup=[migrate],
        on_shutdown=[dispose],
    )


def test_start_review_and_follow_with_an_engine_per_request(scratch_database: ScratchDatabase) -> None:
    registry = WorkflowRegistry()
    registry.register_definition(approval())
    with TestClient(per_request_app(scratch_database, registry)) as client:
        started = post_form(
            client, f"{UI}/workflows/approval/start", {"input_data": '{"amount": 5}'}, headers=as_user("erik")
        )
        assert started.status_code == 303, started.text
        instance_url = started.headers["location"]
        instance_id = instance_url.rsplit("/", 1)[1]
        waiting = client.get(f"/workflows/instances/{instance_id}", params={"wait": 20, "until": "waiting"})
        assert waiting.json()["status"] == "waiting"
        link = page(client.get(f"{UI}/tasks", headers=as_user("maria"))).find("table").find("a")
        done = post_form(
            client, f"{link.attrs['href']}/complete", {"approved": "on"}, headers=as_user("maria")
        )
        assert done.status_code == 303, done.text
        finished = client.get(
            f"/workflows/instances/{instance_id}", params={"wait": 20, "until": "completed"}
        )
        assert finished.json()["status"] == "completed"
        shown: Any = page(client.get(instance_url, headers=as_user("erik")))
        assert shown.find(data_status=True).attrs["data-status"] == "completed"
        with client.stream("GET", f"{instance_url}/events") as stream:
            lines = [line for line in stream.iter_lines() if line.startswith("event:")]
        assert lines == ["event: update", "event: finished"]
