"""The distributed core on PostgreSQL with the in-process broker: what a real broker does to it.

Workers are real engines on the test's database; the broker is an asyncio queue that a test may
make drop or duplicate messages. The broker modules (SAQ, Celery) are tested with real worker
processes in their own files; here each rule of the core is pinned down on its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest

from inprocess_broker import inprocess_cluster
from litestar_workflows import (
    BaseHumanStep,
    Edge,
    EventBus,
    ParallelGateway,
    StepCompleted,
    WorkflowDefinition,
    WorkflowRegistry,
)
from litestar_workflows.engine.distributed import DistributedExecutionEngine
from litestar_workflows.engine.messages import StepMessage
from step_kit import FINISHED, Fn, statuses

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext, WorkflowInstanceData

pytestmark = pytest.mark.postgres
TIMEOUT = 30.0


def fan_out_join(calls: Counter[tuple[str, str]]) -> WorkflowDefinition:
    """fork -> a, b, c -> join -> approve (human) -> close; every run counted per instance."""

    def counted(name: str) -> Fn:
        def work(ctx: WorkflowContext) -> None:
            calls[(str(ctx.instance_id), name)] += 1
            ctx.set(name, True)

        return Fn(name, work, interleave=True)

    return WorkflowDefinition(
        name="fan",
        version="1.0.0",
        steps=[
            ParallelGateway("fork"),
            counted("a"),
            counted("b"),
            counted("c"),
            counted("join"),
            BaseHumanStep("approve"),
            counted("close"),
        ],
        edges=[
            *(Edge("fork", x) for x in "abc"),
            *(Edge(x, "join") for x in "abc"),
            Edge("join", "approve"),
            Edge("approve", "close"),
        ],
        initial_step="fork",
    )


async def run_fan_out(client: DistributedExecutionEngine, n: int) -> list[WorkflowInstanceData]:
    """Start ``n`` instances, complete their human step when they wait, return them finished."""
    started = [await client.start_workflow("fan", {"n": i}) for i in range(n)]
    for instance in started:
        await client.wait(instance.id, timeout=TIMEOUT)
        await client.complete_human_task(instance.id, "approve", "ann", {"ok": True})
    done = []
    for instance in started:
        await client.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
        loaded = await client.store.load_instance(instance.id)
        assert loaded is not None
        done.append(loaded)
    return done


def assert_each_step_once(done: list[WorkflowInstanceData], calls: Counter[tuple[str, str]]) -> None:
    for instance in done:
        assert instance.status == "completed", (instance.id, instance.error)
        assert instance.data == {"n": instance.data["n"], "a": True, "b": True, "c": True, "join": True,
                                 "ok": True, "close": True}  # fmt: skip
        assert {name: len(s) for name, s in statuses(instance).items()} == dict.fromkeys(
            ("fork", "a", "b", "c", "join", "approve", "close"), 1
        )
        for name in ("a", "b", "c", "join", "close"):
            assert calls[(str(instance.id), name)] == 1, (instance.id, name)


async def test_fan_out_join_and_human_step_across_workers(scratch_postgres: ScratchDatabase) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    registry = WorkflowRegistry()
    registry.register(fan_out_join(calls))
    async with inprocess_cluster(scratch_postgres, registry, workers=3) as cluster:
        done = await run_fan_out(cluster.client, 30)
        assert_each_step_once(done, calls)
        assert all(count > 0 for count in cluster.handled.values()), cluster.handled  # all three worked


async def test_every_message_delivered_twice_at_once_has_one_effect(
    scratch_postgres: ScratchDatabase,
) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    registry = WorkflowRegistry()
    registry.register(fan_out_join(calls))
    async with inprocess_cluster(scratch_postgres, registry, workers=2) as cluster:
        queue, publish = cluster.transport.queue, cluster.transport.publish

        async def twice(messages: list[StepMessage]) -> None:
            await publish(messages)
            for message in messages:  # the duplicate right behind the original
                queue.put_nowait(message.to_json())

        cluster.transport.publish = twice  # type: ignore[method-assign]
        done = await run_fan_out(cluster.client, 20)
        assert_each_step_once(done, calls)
        # Each execution ran on one worker: two copies of each message, half of them claimed.
        assert sum(cluster.handled.values()) == len(cluster.transport.published)


async def test_lost_messages_are_published_again_by_the_sweep(
    scratch_postgres: ScratchDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    registry = WorkflowRegistry()
    registry.register(fan_out_join(calls))
    caplog.set_level(logging.INFO, "litestar_workflows.distributed")
    async with inprocess_cluster(scratch_postgres, registry, workers=2, lease_seconds=1.0) as cluster:
        cluster.transport.drop = True  # the broker loses everything, and producers see no error
        started = [await cluster.client.start_workflow("fan", {"n": i}) for i in range(10)]
        await cluster.client.flush()  # published after their commits, by a task of the client
        assert len(cluster.transport.published) == 10
        cluster.transport.drop = False
        for instance in started:
            await cluster.client.wait(instance.id, timeout=TIMEOUT)
            await cluster.client.complete_human_task(instance.id, "approve", "ann", {"ok": True})
        done = []
        for instance in started:
            await cluster.client.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
            done.append(await cluster.client.store.load_instance(instance.id))
        assert_each_step_once(done, calls)  # type: ignore[arg-type]
    assert "publishing" in caplog.text
    assert "again" in caplog.text


async def test_bad_input_is_logged_dropped_and_harmless(
    scratch_postgres: ScratchDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    registry = WorkflowRegistry()
    registry.register(fan_out_join(calls))
    caplog.set_level(logging.DEBUG, "litestar_workflows.distributed")
    async with inprocess_cluster(scratch_postgres, registry, workers=1) as cluster:
        worker = cluster.workers[0]
        assert await worker.handle("not json") is False
        assert await worker.handle({"execution": "x", "attempt": 1}) is False
        assert await worker.handle({"execution": str(uuid4()), "attempt": 0}) is False
        assert "malformed" in caplog.text
        unknown = uuid4()
        assert await worker.handle(StepMessage(unknown, 1).to_json()) is False
        assert f"unknown execution {unknown}" in caplog.text

        [done] = await run_fan_out(cluster.client, 1)
        join = done.executions_of("join")[0]
        caplog.clear()
        assert await worker.handle(StepMessage(join.id, join.attempt)) is False  # a finished instance
        assert "its instance is completed" in caplog.text
        again = await cluster.client.store.load_instance(done.id)
        assert again is not None
        assert (again.version, again.status) == (done.version, done.status)
        assert_each_step_once([again], calls)


async def test_a_worker_without_the_workflow_leaves_it_to_one_that_has_it(
    scratch_postgres: ScratchDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    calls: Counter[tuple[str, str]] = Counter()
    registry = WorkflowRegistry()
    registry.register(fan_out_join(calls))
    caplog.set_level(logging.INFO, "litestar_workflows.distributed")
    async with inprocess_cluster(scratch_postgres, registry, workers=0, lease_seconds=1.0) as cluster:
        await scratch_postgres.migrate()
        db_engine = scratch_postgres.create_engine()
        transport = cluster.transport
        ignorant = DistributedExecutionEngine(db_engine, transport, WorkflowRegistry(), owner="ignorant")
        instance = await cluster.client.start_workflow("fan", {"n": 0})
        raw = await asyncio.wait_for(transport.queue.get(), TIMEOUT)
        assert await ignorant.handle(raw) is False
        assert "workflow 'fan' is not registered in this worker's registry" in caplog.text
        stored = await cluster.client.store.load_instance(instance.id)
        assert stored is not None
        assert statuses(stored) == {"fork": ["scheduled"]}  # untouched, lease released
        # A worker that knows the workflow gets the execution once the sweep publishes it again.
        knowing = DistributedExecutionEngine(db_engine, transport, registry, owner="knowing")
        raw = await asyncio.wait_for(transport.queue.get(), TIMEOUT)
        assert await knowing.handle(raw) is True
        await knowing.sql_store.close()
        await db_engine.dispose()


async def test_a_chain_continues_on_the_worker_that_ran_its_step(scratch_postgres: ScratchDatabase) -> None:
    """One message per instance: each next step is leased to the step's worker and run there."""
    calls: Counter[tuple[str, str]] = Counter()
    names = [f"s{i}" for i in range(5)]

    def counted(name: str) -> Fn:
        def work(ctx: WorkflowContext) -> None:
            calls[(str(ctx.instance_id), name)] += 1

        return Fn(name, work, interleave=True)

    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name="line",
            steps=[counted(name) for name in names],
            edges=[Edge(a, b) for a, b in zip(names, names[1:], strict=False)],
            initial_step=names[0],
        )
    )
    async with inprocess_cluster(scratch_postgres, registry, workers=2) as cluster:
        started = [await cluster.client.start_workflow("line", {}) for _ in range(20)]
        done = [await cluster.client.wait(i.id, until=FINISHED, timeout=TIMEOUT) for i in started]
        assert {instance.status for instance in done} == {"completed"}
        assert len(cluster.transport.published) == len(started)  # the first steps only
        assert sum(cluster.handled.values()) == len(started)
    assert calls == {(str(i.id), name): 1 for i in started for name in names}


async def test_a_step_held_by_a_pause_runs_after_a_resume_made_elsewhere(
    scratch_postgres: ScratchDatabase,
) -> None:
    """The worker that ran the step before the pause still holds the instance as paused in memory.

    The client resumes it; the worker must look at the database again rather than drop the held
    step's message on its cached pause (which the sweep's republishing would repeat forever).
    """
    gate = asyncio.Event()

    async def gated(ctx: WorkflowContext) -> None:
        await gate.wait()

    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name="pausable",
            steps=[Fn("a", gated), Fn("b", lambda ctx: ctx.set("b", 1))],
            edges=[Edge("a", "b")],
            initial_step="a",
        )
    )
    bus, a_done = EventBus(), asyncio.Event()
    bus.subscribe(lambda event: a_done.set(), [StepCompleted])
    async with inprocess_cluster(
        scratch_postgres, registry, workers=1, lease_seconds=30, event_bus=bus
    ) as cluster:
        client = cluster.client
        instance = await client.start_workflow("pausable", {})
        await client.pause_workflow(instance.id)
        gate.set()
        await asyncio.wait_for(a_done.wait(), TIMEOUT)  # committed by the worker, which saw the pause
        assert statuses(await client.get_instance(instance.id)) == {"a": ["succeeded"], "b": ["scheduled"]}
        await client.resume_workflow(instance.id)
        done = await client.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
        assert (done.status, done.data) == ("completed", {"b": 1})
