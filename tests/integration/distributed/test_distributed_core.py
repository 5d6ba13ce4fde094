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
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

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
from litestar_workflows.db.store import SQLAlchemyStore
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


async def test_work_a_worker_cannot_run_is_published_again_by_the_next_sweep_not_a_lease_later(
    scratch_postgres: ScratchDatabase,
) -> None:
    """With a long lease, the step given back would wait that long: the next sweep takes it instead."""
    calls: Counter[tuple[str, str]] = Counter()
    registry = WorkflowRegistry()
    registry.register(fan_out_join(calls))
    async with inprocess_cluster(scratch_postgres, registry, workers=0, lease_seconds=600.0) as cluster:
        db_engine = scratch_postgres.create_engine()
        transport = cluster.transport
        ignorant = DistributedExecutionEngine(db_engine, transport, WorkflowRegistry(), owner="ignorant")
        await cluster.client.start_workflow("fan", {"n": 0})
        assert await ignorant.handle(await asyncio.wait_for(transport.queue.get(), TIMEOUT)) is False
        await cluster.client.recover()  # a sweep (the client's own may have run it first)
        knowing = DistributedExecutionEngine(db_engine, transport, registry, owner="knowing")
        assert await knowing.handle(await asyncio.wait_for(transport.queue.get(), TIMEOUT)) is True
        await knowing.sql_store.close()
        await ignorant.sql_store.close()
        await db_engine.dispose()


async def test_a_store_given_as_persistence_leases_for_the_engine(
    scratch_postgres: ScratchDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine's ``lease_seconds`` and ``owner`` are what a claim through a given store writes."""
    registry = WorkflowRegistry()
    registry.register(fan_out_join(Counter()))
    async with inprocess_cluster(scratch_postgres, registry, workers=0) as cluster:
        db_engine = scratch_postgres.create_engine()
        store = SQLAlchemyStore(db_engine, lease_seconds=600)
        worker = DistributedExecutionEngine(store, cluster.transport, registry, lease_seconds=3, owner="w")
        instance = await cluster.client.start_workflow("fan", {"n": 0})
        message = StepMessage.parse(await asyncio.wait_for(cluster.transport.queue.get(), TIMEOUT))
        assert await worker.ledger.claim(message.execution_id, message.attempt) == instance.id
        async with db_engine.connect() as conn:
            owner, seconds = (
                await conn.execute(
                    text(
                        "SELECT lease_owner, EXTRACT(EPOCH FROM lease_expires_at - now()) "
                        "FROM workflow_step_executions WHERE id = :id"
                    ),
                    {"id": message.execution_id},
                )
            ).one()
        assert owner == "w"
        assert 0 < seconds <= 3  # not the store's own 600 s
        assert "leased for 600.0s; it now leases for the engine's lease_seconds=3" in caplog.text
        await store.close()
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


def outlived_step(gate: asyncio.Event, attempts: list[int], began: asyncio.Event) -> WorkflowRegistry:
    """A workflow whose step ``a`` records its attempt and waits for ``gate``; ``b`` counts its runs."""

    async def slow(ctx: WorkflowContext) -> int:
        attempts.append(ctx.attempt)
        began.set()
        await gate.wait()
        return ctx.attempt

    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name="outlived",
            steps=[Fn("a", slow), Fn("b", lambda ctx: ctx.set("b", ctx.get("b", 0) + 1))],
            edges=[Edge("a", "b")],
            initial_step="a",
        )
    )
    return registry


async def lease_runs_out(client: DistributedExecutionEngine, instance_id: UUID) -> UUID:
    """Expire the lease of step ``a`` (as when its holder's renewals failed); returns its id."""
    [run] = (await client.get_instance(instance_id)).executions_of("a")
    async with client.sql_store.db_engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE workflow_step_executions SET lease_expires_at = now() - interval '1 minute' WHERE id = :id"
            ),
            {"id": run.id},
        )
    assert run.id is not None
    return run.id


async def test_a_holder_whose_lease_the_sweep_took_does_not_commit(scratch_postgres: ScratchDatabase) -> None:
    """The sweep made ``a`` its next attempt: the old holder's late outcome is dropped, not written
    (before, an emptied lease passed for anyone's), and the next attempt is the one recorded."""
    gate, began, attempts = asyncio.Event(), asyncio.Event(), []
    registry = outlived_step(gate, attempts, began)
    async with inprocess_cluster(
        scratch_postgres, registry, workers=1, lease_seconds=30, sweep_interval=60
    ) as cluster:
        client = cluster.client
        instance = await client.start_workflow("outlived", {})
        await asyncio.wait_for(began.wait(), TIMEOUT)
        run_id = await lease_runs_out(client, instance.id)
        cluster.transport.drop = True  # the sweep's message waits (as if lost in the broker)
        assert await client.recover() == 1
        gate.set()  # the old holder finishes attempt 1 now
        await cluster.idle()
        [a] = (await client.get_instance(instance.id)).executions_of("a")
        assert (a.status, a.attempt) == ("scheduled", 2)
        cluster.transport.drop = False
        await client.transport.publish([StepMessage(run_id, 2)])  # type: ignore[attr-defined]
        done = await client.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
    [a] = done.executions_of("a")
    assert (done.status, attempts, a.status, a.attempt, a.result, done.data) == (
        "completed", [1, 2], "succeeded", 2, 2, {"b": 1}
    )  # fmt: skip


async def test_the_next_attempt_handed_to_the_worker_still_running_the_first(
    scratch_postgres: ScratchDatabase,
) -> None:
    """The sweep's message reaches the worker that still runs attempt 1: it releases the claim
    rather than run the step twice at once, and attempt 1's outcome, applied to the reloaded copy,
    is recorded as attempt 1 (before, as attempt 2, which never ran)."""
    gate, began, attempts = asyncio.Event(), asyncio.Event(), []
    registry = outlived_step(gate, attempts, began)
    async with inprocess_cluster(
        scratch_postgres, registry, workers=1, lease_seconds=30, sweep_interval=60
    ) as cluster:
        client, [worker] = cluster.client, cluster.workers
        instance = await client.start_workflow("outlived", {})
        await asyncio.wait_for(began.wait(), TIMEOUT)
        run_id = await lease_runs_out(client, instance.id)
        cluster.transport.drop = True
        assert await client.recover() == 1
        assert await worker.handle(StepMessage(run_id, 2).to_json()) is False  # released, not run
        gate.set()
        done = await client.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
    [a] = done.executions_of("a")
    assert (done.status, attempts, a.status, a.attempt, a.result, done.data) == (
        "completed", [1], "succeeded", 1, 1, {"b": 1}
    )  # fmt: skip
