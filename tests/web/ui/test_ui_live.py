"""The instance page follows its instance through server-sent events, on every backend."""

from __future__ import annotations

import json
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar.testing import TestClient
from ui_helpers import page
from web_helpers import as_user, make_app, settle

from litestar_workflows import (
    LocalExecutionEngine,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.store.base import TaskQuery
from litestar_workflows.web.controllers.deps import OPT_KEY
from litestar_workflows.web.identity import Actor
from litestar_workflows.web.long_poll import LongPollLimiter
from litestar_workflows.web.ui.live import instance_changes
from litestar_workflows.web.ui.pages import instance_page
from step_kit import approve_then_done

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar
    from litestar.response import ServerSentEventMessage

UI = "/workflows/ui"


def events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-sent events from a stream's lines (comments skipped)."""
    event: dict[str, str] = {}
    for line in lines:
        if not line:
            if event:
                yield event
            event = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(":")
            event[key] = value.lstrip(" ")


def start(client: TestClient[Litestar], engine: Any) -> str:
    response = client.post(
        "/workflows/instances",
        json={"definition_name": "approval", "input_data": {"amount": 50}},
        headers=as_user("erik"),
    )
    instance_id = str(response.json()["id"])
    settle(client, engine, instance_id)
    return instance_id


def test_a_running_page_follows_its_instance_until_it_finishes(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    instance_id = start(ui_client, engine)
    live = page(ui_client.get(f"{UI}/instances/{instance_id}", headers=as_user("erik"))).find(id="live")
    assert live.attrs["data-events"] == f"{UI}/instances/{instance_id}/events"
    [task] = ui_client.get("/workflows/tasks", params={"instance_id": instance_id}).json()

    # The test client delivers a response once it is complete, so the open stream is read here
    # on the app's loop: the messages the route streams, while maria completes the task.
    async def follow() -> list[ServerSentEventMessage]:
        messages = instance_changes(engine, await engine.get_instance(UUID(instance_id)), heartbeat=5)
        received = [await anext(messages)]
        await engine.complete_task(UUID(task["id"]), "maria", {"approved": True})
        received.extend([message async for message in messages])
        return received

    received = ui_client.blocking_portal.call(follow)
    first = json.loads(str(received[0].data))
    assert (received[0].event, first["status"], str(first["version"])) == (
        "update",
        "waiting",
        live.attrs["data-version"],
    )
    assert (received[-1].event, received[-1].data) == ("finished", "completed")
    updates = [json.loads(str(m.data)) for m in received if m.event == "update"]
    assert updates[-1]["status"] == "completed"
    assert len({u["version"] for u in updates}) == len(updates)  # each update is news
    finished = page(ui_client.get(f"{UI}/instances/{instance_id}", headers=as_user("erik")))
    assert finished.find(data_status=True).attrs["data-status"] == "completed"
    assert "data-live" not in finished.find(id="live").attrs  # nothing more to follow
    assert "wf_completed" in finished.find(data_graph=True).text


def test_a_finished_instance_streams_once_and_ends(ui_client: TestClient[Litestar], engine: Any) -> None:
    response = ui_client.post(
        "/workflows/instances", json={"definition_name": "flaky", "input_data": {}}, headers=as_user("erik")
    )
    instance_id = response.json()["id"]
    settle(ui_client, engine, instance_id)
    with ui_client.stream("GET", f"{UI}/instances/{instance_id}/events") as stream:
        received = list(events(stream.iter_lines()))
    assert [e["event"] for e in received] == ["update", "finished"]
    assert received[1]["data"] == "failed"


def test_the_stream_of_an_unknown_instance_is_a_404(ui_client: TestClient[Litestar]) -> None:
    assert ui_client.get(f"{UI}/instances/{UUID(int=7)}/events").status_code == 404


def test_an_open_stream_counts_as_one_of_the_client_s_long_polls(engine: Any) -> None:
    with TestClient(make_app(engine, max_waits_per_client=1)) as client:
        instance_id = start(client, engine)
        [route] = [r for r in client.app.routes if r.path == f"{UI}/instances/{{instance_id:str}}/events"]
        limiter: LongPollLimiter = route.route_handlers[0].opt[OPT_KEY].wait_limiter
        with limiter.slot("user:erik"):  # erik already follows another instance
            refused = client.get(f"{UI}/instances/{instance_id}/events", headers=as_user("erik"))
            assert refused.status_code == 429
            assert "Too many long polls" in page(refused).find(role="alert").text

        async def follow() -> list[int]:
            instance = await engine.get_instance(UUID(instance_id))
            messages = instance_changes(
                engine, instance, heartbeat=5, hold=partial(limiter.slot, "user:erik")
            )
            await anext(messages)
            held = [limiter.open_for("user:erik")]
            [task] = (await engine.find_tasks(TaskQuery(instance_id=UUID(instance_id)))).items
            await engine.complete_task(task.id, "maria", {"approved": True})
            [_ async for _ in messages]
            return [*held, limiter.open_for("user:erik")]

        assert client.blocking_portal.call(follow) == [1, 0]  # held while open, released at the end


def test_the_ui_s_streams_and_the_api_s_long_polls_share_one_limit(engine: Any) -> None:
    with TestClient(make_app(engine, max_waits_per_client=1)) as client:
        instance_id = start(client, engine)
        [route] = [r for r in client.app.routes if r.path == f"{UI}/instances/{{instance_id:str}}/events"]
        limiter: LongPollLimiter = route.route_handlers[0].opt[OPT_KEY].wait_limiter
        long_poll = {"wait": 1, "until": "waiting"}
        with limiter.slot("user:erik"):  # erik follows the instance on its page
            refused = client.get(
                f"/workflows/instances/{instance_id}", params=long_poll, headers=as_user("erik")
            )
            assert refused.status_code == 429, refused.text
        answered = client.get(
            f"/workflows/instances/{instance_id}", params=long_poll, headers=as_user("erik")
        )
        assert (answered.status_code, answered.json()["status"]) == (200, "waiting")


class MovesTheInstanceOn:
    """An instance authorizer that, asked what the page may offer, first completes the instance's
    task: the engine's live copy moves on to its end while the page is being built, as it does
    when a step of the instance finishes meanwhile."""

    def __init__(self, engine: LocalExecutionEngine) -> None:
        self.engine = engine
        self.moved = False

    async def can_act(self, instance: Any, user_id: str, action: str, groups: Any = ()) -> bool:
        if not self.moved:
            self.moved = True
            await self.engine.complete_human_task(instance.id, "approve", "maria", {"approved": True})
        return True


async def test_the_page_claims_the_version_and_end_of_what_it_draws_while_the_instance_moves_on() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(approve_then_done("moving", "maria"))
    engine = LocalExecutionEngine(registry)
    engine.instance_authorizer = MovesTheInstanceOn(engine)
    started = await engine.start_workflow("moving", created_by="erik")
    live_copy = await engine.get_instance(started.id)
    assert live_copy.status is WorkflowStatus.WAITING
    version = live_copy.version

    shown = await instance_page(engine, registry, Actor(user_id="erik"), live_copy, 0)

    assert live_copy.status is WorkflowStatus.COMPLETED  # it finished while the page was built
    # The page is of the moment its graph was drawn: still waiting, so still live (it reloads).
    assert (shown["status"], shown["instance"].version, shown["live"]) == ("waiting", version, True)
    assert shown["states"]["approve"] == "waiting"
