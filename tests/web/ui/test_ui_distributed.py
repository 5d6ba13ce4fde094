"""The UI on a distributed engine: a client engine in the app, steps run by workers over a broker."""

from __future__ import annotations

from contextlib import asynccontextmanager
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.testing import TestClient
from ui_helpers import page, post_form
from web_helpers import approval, as_user, header_groups, header_user

from inprocess_broker import inprocess_cluster
from litestar_workflows import AssigneeAuthorizer, WorkflowPlugin, WorkflowPluginConfig, WorkflowRegistry
from litestar_workflows.core.types import WorkflowStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase

UI = "/workflows/ui"


def cluster_app(database: ScratchDatabase, registry: WorkflowRegistry) -> Litestar:
    """The plugin serving the client engine of an in-process cluster of two workers."""

    @asynccontextmanager
    async def cluster(app: Litestar) -> AsyncIterator[None]:
        async with inprocess_cluster(
            database, registry, workers=2, authorizer=AssigneeAuthorizer()
        ) as running:
            app.state.engine = running.client
            yield

    def provide_engine(state: State) -> Any:
        return state.engine

    config = WorkflowPluginConfig(
        registry=registry,
        manage_engine_lifecycle=False,
        user_resolver=header_user,
        groups_resolver=header_groups,
    )
    return Litestar(
        plugins=[WorkflowPlugin(config)],
        dependencies={"workflow_engine": Provide(provide_engine, sync_to_thread=False)},
        lifespan=[cluster],
    )


def test_start_review_and_finish_on_a_distributed_engine(scratch_database: ScratchDatabase) -> None:
    registry = WorkflowRegistry()
    registry.register_definition(approval())
    app = cluster_app(scratch_database, registry)
    with TestClient(app) as client:
        engine = app.state.engine
        started = post_form(
            client, f"{UI}/workflows/approval/start", {"input_data": '{"amount": 5}'}, headers=as_user("erik")
        )
        assert started.status_code == 303, started.text
        instance_url = started.headers["location"]
        instance_id = UUID(instance_url.rsplit("/", 1)[1])
        waiting = client.blocking_portal.call(partial(engine.wait, instance_id, timeout=30))
        assert waiting.status is WorkflowStatus.WAITING
        shown = page(client.get(instance_url, headers=as_user("erik")))
        assert shown.find(data_status=True).attrs["data-status"] == "waiting"
        link = page(client.get(f"{UI}/tasks", headers=as_user("maria"))).find("table").find("a")
        assert link.text == "Review the request"
        done = post_form(
            client, f"{link.attrs['href']}/complete", {"approved": "true"}, headers=as_user("maria")
        )
        assert done.status_code == 303, done.text
        finished = client.blocking_portal.call(
            partial(engine.wait, instance_id, until=WorkflowStatus.COMPLETED, timeout=30)
        )
        assert finished.status is WorkflowStatus.COMPLETED
        final = page(client.get(instance_url, headers=as_user("erik")))
        assert final.find(data_status=True).attrs["data-status"] == "completed"
        assert "maria" in final.find("table", class_="timeline").text
