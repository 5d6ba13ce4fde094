"""One behavioural contract, run unchanged on six engines.

``LocalExecutionEngine`` on the memory store, ``PersistentExecutionEngine`` on a SQLite file and
on PostgreSQL, the distributed core (a client engine whose steps two worker engines run, fed by an
in-process queue) on PostgreSQL, and the real ``SAQExecutionEngine`` and ``CeleryExecutionEngine``
(their own workers, in this process, consuming from a private Redis) must behave the same. For the durable engines every result is read back from the
database (a fresh load, not the engine's live object), so each assertion is also a round-trip check.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from inprocess_broker import inprocess_cluster
from inprocess_workers import BROKER_KINDS, broker_cluster, skip_without_redis
from litestar_workflows import (
    AssigneeAuthorizer,
    BaseHumanStep,
    BaseWorkflow,
    ContextSerializationError,
    DelayStep,
    Edge,
    EventBus,
    ExclusiveGateway,
    HumanTaskStatus,
    InvalidTransitionError,
    LocalExecutionEngine,
    NonRetryableError,
    ParallelGateway,
    RetryPolicy,
    StepCompleted,
    StepStatus,
    TaskAlreadyCompletedError,
    TaskValidationError,
    UnauthorizedTaskError,
    WebhookStep,
    WorkflowAlreadyCompletedError,
    WorkflowDefinition,
    WorkflowNotFoundError,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db import PersistentExecutionEngine
from step_kit import FINISHED, Fn, Set, statuses, succeeded

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from uuid import UUID

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext, WorkflowEvent, WorkflowInstanceData

TIMEOUT = 10.0
GROUPS = {"olga": ["ops"], "pete": ["ops"], "mia": ["finance"]}


def defn(name: str, steps: list[Any], edges: list[Edge] | None = None, **kwargs: Any) -> WorkflowDefinition:
    return WorkflowDefinition(name=name, steps=steps, edges=edges or [], initial_step=steps[0].name, **kwargs)


@dataclass
class Contract:
    """The engine under test, with helpers that read results back the way a client would."""

    kind: str
    registry: WorkflowRegistry
    engine: LocalExecutionEngine
    bus: EventBus

    @property
    def durable(self) -> bool:
        return self.kind != "memory"

    async def load(self, instance_id: UUID) -> WorkflowInstanceData:
        """The instance as stored: a fresh database load for durable engines."""
        if self.durable:
            found = await self.engine.store.load_instance(instance_id)
            assert found is not None
            return found
        return await self.engine.get_instance(instance_id)

    async def finish(self, instance: WorkflowInstanceData) -> WorkflowInstanceData:
        await self.engine.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
        return await self.load(instance.id)

    async def settle(self, instance: WorkflowInstanceData) -> WorkflowInstanceData:
        """Wait until finished or waiting for input."""
        await self.engine.wait(instance.id, timeout=TIMEOUT)
        return await self.load(instance.id)

    def step_completed(self, step_name: str) -> asyncio.Event:
        done = asyncio.Event()

        def on_event(event: WorkflowEvent) -> None:
            if getattr(event, "step_name", None) == step_name:
                done.set()

        self.bus.subscribe(on_event, [StepCompleted])
        return done


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("distributed", marks=pytest.mark.postgres),
        *(pytest.param(kind, marks=[pytest.mark.postgres, pytest.mark.redis]) for kind in BROKER_KINDS),
    ]
)
def contract_database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    if request.param == "memory":
        return None
    if request.param in BROKER_KINDS:
        skip_without_redis()
    db = request.getfixturevalue("scratch_sqlite" if request.param == "sqlite" else "scratch_postgres")
    if request.param != db.kind:  # a client whose steps workers run: inprocess_broker / inprocess_workers
        return dataclasses.replace(db, kind=request.param)
    return db


@pytest.fixture
async def contract(contract_database: ScratchDatabase | None) -> AsyncIterator[Contract]:
    registry, bus = WorkflowRegistry(), EventBus()
    options: dict[str, Any] = {
        "event_bus": bus,
        "authorizer": AssigneeAuthorizer(groups_of=lambda user: GROUPS.get(user, [])),
    }
    db = contract_database
    if db is None:
        engine: LocalExecutionEngine = LocalExecutionEngine(registry, **options)
        async with engine:
            yield Contract("memory", registry, engine, bus)
        return
    if db.kind == "distributed":
        async with inprocess_cluster(db, registry, workers=2, **options) as cluster:
            yield Contract(db.kind, registry, cluster.client, bus)
        return
    if db.kind in BROKER_KINDS:  # the real engine on a real Redis; its workers in this loop
        async with broker_cluster(db.kind, db, registry, **options) as client:
            yield Contract(db.kind, registry, client, bus)
        return
    await db.migrate()
    if db.kind == "sqlite":  # the URL form: the store owns (and disposes) its engine
        engine = PersistentExecutionEngine(registry, url=db.url, poll_interval=0.2, **options)
        db_engine = None
    else:  # the session-factory form, confined to the test's schema
        db_engine = db.create_engine()
        engine = PersistentExecutionEngine(
            registry, session_factory=async_sessionmaker(db_engine), poll_interval=0.2, **options
        )
    await engine.start()
    try:
        yield Contract(db.kind, registry, engine, bus)
    finally:
        await engine.stop()
        if db_engine is not None:
            await db_engine.dispose()


# ---------------------------------------------------------------------------- flow


async def test_linear_chain(contract: Contract) -> None:
    definition = defn(
        "chain",
        [
            Set("a", x=1),
            Fn("b", lambda ctx: ctx.set("y", ctx.get("x") + 1)),
            Fn("c", lambda ctx: {"product": ctx.get("y") * 10}),
        ],
        [Edge("a", "b"), Edge("b", "c")],
    )
    instance = await contract.engine.start_workflow(definition, {"start": True})
    done = await contract.finish(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"start": True, "x": 1, "y": 2}
    assert succeeded(done) == ["a", "b", "c"]
    assert done.executions_of("c")[0].result == {"product": 20}
    assert done.executions_of("b")[0].context_changes == {"set": {"y": 2}, "deleted": []}
    assert done.completed_at is not None


async def test_parallel_fan_out_and_join(contract: Contract) -> None:
    gates = {name: asyncio.Event() for name in "abc"}

    def branch(name: str) -> Fn:
        async def work(ctx: WorkflowContext) -> None:
            await gates[name].wait()
            ctx.set(name, True)

        return Fn(name, work)

    definition = defn(
        "fanout",
        [
            ParallelGateway("fork"),
            branch("a"),
            branch("b"),
            branch("c"),
            Fn("join", lambda ctx: ctx.set("all", [ctx.get(x) for x in "abc"])),
        ],
        [Edge("fork", x) for x in "abc"] + [Edge(x, "join") for x in "abc"],
    )
    instance = await contract.engine.start_workflow(definition)
    for name in "cba":  # released in reverse order: the join waits for all three
        done_event = contract.step_completed(name)
        gates[name].set()
        await asyncio.wait_for(done_event.wait(), TIMEOUT)
        if name != "a":
            assert not (await contract.load(instance.id)).executions_of("join")
    done = await contract.finish(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"a": True, "b": True, "c": True, "all": [True, True, True]}
    assert statuses(done)["join"] == [StepStatus.SUCCEEDED]
    assert [succeeded(done).index(x) < succeeded(done).index("join") for x in "abc"] == [True] * 3


@pytest.mark.parametrize(("amount", "route"), [(5000, "big"), (50, "small")])
async def test_exclusive_gateway(contract: Contract, amount: int, route: str) -> None:
    definition = defn(
        "exclusive",
        [
            ExclusiveGateway("route", condition=lambda ctx: "big" if ctx.get("amount") > 1000 else "small"),
            Set("big", path="big"),
            Set("small", path="small"),
            Set("merge", merged=True),
        ],
        [Edge("route", "big"), Edge("route", "small"), Edge("big", "merge"), Edge("small", "merge")],
    )
    done = await contract.finish(await contract.engine.start_workflow(definition, {"amount": amount}))
    other = "small" if route == "big" else "big"
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"amount": amount, "path": route, "merged": True}
    assert statuses(done)[other] == [StepStatus.SKIPPED]
    assert statuses(done)["merge"] == [StepStatus.SUCCEEDED]


@pytest.mark.parametrize(("score", "outcome"), [(91, "approved"), (80, "approved"), (79, "rejected")])
async def test_string_conditions(contract: Contract, score: int, outcome: str) -> None:
    definition = defn(
        "scored",
        [Set("score_it"), Set("approve", outcome="approved"), Set("reject", outcome="rejected")],
        [
            Edge("score_it", "approve", "context.get('score') >= 80 and not context.blocked"),
            Edge("score_it", "reject", "context.get('score') < 80 or context.blocked"),
        ],
    )
    done = await contract.finish(
        await contract.engine.start_workflow(definition, {"score": score, "blocked": False})
    )
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data["outcome"] == outcome
    assert len(succeeded(done)) == 2


async def test_loop_with_exit(contract: Contract) -> None:
    definition = defn(
        "loop",
        [Fn("count", lambda ctx: ctx.set("n", ctx.get("n", 0) + 1)), Set("done", finished=True)],
        [Edge("count", "count", "context.get('n') < 4"), Edge("count", "done", "context.get('n') >= 4")],
    )
    done = await contract.finish(await contract.engine.start_workflow(definition))
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"n": 4, "finished": True}
    counts = done.executions_of("count", StepStatus.SUCCEEDED)
    assert [run.iteration for run in counts] == [0, 1, 2, 3]
    assert len({run.id for run in counts}) == 4
    assert statuses(done)["done"] == [StepStatus.SUCCEEDED]


async def test_non_json_context_value_fails_the_instance_naming_the_key(contract: Contract) -> None:
    definition = defn("not_json", [Fn("bad", lambda ctx: ctx.set("tags", {"a", "b"}))])
    done = await contract.finish(await contract.engine.start_workflow(definition))
    assert done.status is WorkflowStatus.FAILED
    assert "'tags'" in (done.error or "")
    with pytest.raises(ContextSerializationError):
        await contract.engine.start_workflow(definition, {"when": object()})
    again = await contract.finish(await contract.engine.start_workflow(defn("fine", [Set("a", a=1)])))
    assert again.status is WorkflowStatus.COMPLETED  # the engine keeps running


# ---------------------------------------------------------------------------- human tasks

FORM = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
    "required": ["approved"],
}


async def test_human_task_validation_then_completion(contract: Contract) -> None:
    definition = defn(
        "approval",
        [
            BaseHumanStep("approve", title="Approve it", form_schema=FORM, assignee_key="manager"),
            Fn("record", lambda ctx: ctx.set("recorded", ctx.get("approved"))),
        ],
        [Edge("approve", "record")],
    )
    instance = await contract.engine.start_workflow(definition, {"manager": "mia"})
    waiting = await contract.settle(instance)
    assert waiting.status is WorkflowStatus.WAITING
    assert waiting.current_step == "approve"
    [task] = (await contract.engine.find_tasks(instance_id=instance.id)).items
    assert (task.title, task.assignee_id, task.form_schema, task.status) == (
        "Approve it",
        "mia",
        FORM,
        HumanTaskStatus.PENDING,
    )
    with pytest.raises(TaskValidationError, match="approved"):
        await contract.engine.complete_human_task(instance.id, "approve", "mia", {"approved": "yes"})
    with pytest.raises(TaskValidationError, match="approved"):
        await contract.engine.complete_human_task(instance.id, "approve", "mia", {"comment": "no flag"})
    still = await contract.load(instance.id)
    assert (still.status, still.data) == (WorkflowStatus.WAITING, {"manager": "mia"})
    await contract.engine.complete_human_task(
        instance.id, "approve", "mia", {"approved": True, "comment": "ok"}
    )
    done = await contract.finish(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"manager": "mia", "approved": True, "comment": "ok", "recorded": True}
    run = done.executions_of("approve")[0]
    assert (run.status, run.completed_by) == (StepStatus.SUCCEEDED, "mia")
    task = await contract.engine.get_task(task.id)
    assert (task.status, task.completed_by) == (HumanTaskStatus.COMPLETED, "mia")


async def test_assignee_and_group_authorization(contract: Contract) -> None:
    definition = defn(
        "authz",
        [BaseHumanStep("personal", assignee="mia"), BaseHumanStep("team", assignee_group="ops")],
        [Edge("personal", "team")],
    )
    instance = await contract.engine.start_workflow(definition)
    await contract.settle(instance)
    with pytest.raises(UnauthorizedTaskError, match="'eve'"):
        await contract.engine.complete_human_task(instance.id, "personal", "eve", {})
    with pytest.raises(UnauthorizedTaskError):
        await contract.engine.complete_human_task(instance.id, "personal", "", {})
    await contract.engine.complete_human_task(instance.id, "personal", "mia", {"p": 1})
    waiting = await contract.settle(instance)
    assert (waiting.status, waiting.current_step) == (WorkflowStatus.WAITING, "team")
    with pytest.raises(UnauthorizedTaskError):
        await contract.engine.complete_human_task(instance.id, "team", "mia", {})  # not in ops
    [task] = (await contract.engine.find_tasks(instance_id=instance.id, status=HumanTaskStatus.PENDING)).items
    claimed = await contract.engine.claim_task(task.id, "olga")
    assert claimed.assignee_id == "olga"
    with pytest.raises(UnauthorizedTaskError):
        await contract.engine.complete_task(task.id, "pete", {})  # in ops, but olga claimed it
    await contract.engine.complete_task(task.id, "olga", {"t": 2})
    done = await contract.finish(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"p": 1, "t": 2}
    assert [run.completed_by for run in done.step_history] == ["mia", "olga"]


async def test_two_concurrent_completions_of_one_task(contract: Contract) -> None:
    definition = defn(
        "race", [BaseHumanStep("approve"), Set("after", after=True)], [Edge("approve", "after")]
    )
    instance = await contract.engine.start_workflow(definition)
    await contract.settle(instance)
    outcomes = await asyncio.gather(
        contract.engine.complete_human_task(instance.id, "approve", "ann", {"winner": "ann"}),
        contract.engine.complete_human_task(instance.id, "approve", "bob", {"winner": "bob"}),
        return_exceptions=True,
    )
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(errors) == 1, outcomes
    assert isinstance(errors[0], TaskAlreadyCompletedError)
    winner = "bob" if outcomes[0] is errors[0] else "ann"
    done = await contract.finish(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"winner": winner, "after": True}
    assert [(run.step_name, run.completed_by) for run in done.step_history] == [
        ("approve", winner),
        ("after", None),
    ]
    with pytest.raises(TaskAlreadyCompletedError):
        await contract.engine.complete_human_task(instance.id, "approve", "ann", {})


# ---------------------------------------------------------------------------- operations


async def test_cancel(contract: Contract) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def block(ctx: WorkflowContext) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    definition = defn("cancel", [Fn("block", block), Set("never", x=1)], [Edge("block", "never")])
    instance = await contract.engine.start_workflow(definition)
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await contract.engine.cancel_workflow(instance.id, "user gave up")
    await asyncio.wait_for(cancelled.wait(), TIMEOUT)
    done = await contract.finish(instance)
    assert (done.status, done.error) == (WorkflowStatus.CANCELED, "user gave up")
    assert statuses(done) == {"block": [StepStatus.CANCELED]}
    waiting = await contract.engine.start_workflow(defn("cancel_wait", [BaseHumanStep("h")]))
    await contract.settle(waiting)
    await contract.engine.cancel_workflow(waiting.id)
    done = await contract.load(waiting.id)
    assert done.status is WorkflowStatus.CANCELED
    [task] = (await contract.engine.find_tasks(instance_id=waiting.id)).items
    assert task.status is HumanTaskStatus.CANCELED


async def test_failure_then_retry_from_step(contract: Contract) -> None:
    calls: list[str] = []

    def fragile(ctx: WorkflowContext) -> None:
        calls.append("b")
        if len(calls) == 1:
            raise NonRetryableError("first time")
        ctx.set("b", len(calls))

    definition = defn(
        "retry_me",
        [Fn("a", lambda ctx: ctx.set("a", ctx.get("a", 0) + 1)), Fn("b", fragile), Set("c", c=1)],
        [Edge("a", "b"), Edge("b", "c")],
    )
    instance = await contract.engine.start_workflow(definition)
    failed = await contract.finish(instance)
    assert failed.status is WorkflowStatus.FAILED
    assert "'b'" in (failed.error or "")
    assert "first time" in (failed.error or "")
    with pytest.raises(InvalidTransitionError, match="'nope'"):
        await contract.engine.retry(instance.id, from_step="nope")
    await contract.engine.retry(instance.id, from_step="a")
    done = await contract.finish(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.error is None
    assert done.data == {"a": 2, "b": 2, "c": 1}
    assert statuses(done) == {
        "a": [StepStatus.SUCCEEDED, StepStatus.SUCCEEDED],
        "b": [StepStatus.FAILED, StepStatus.SUCCEEDED],
        "c": [StepStatus.SUCCEEDED],
    }
    with pytest.raises(InvalidTransitionError):
        await contract.engine.retry(instance.id)  # not failed any more


async def test_retry_policy_with_backoff(contract: Contract) -> None:
    attempts: list[tuple[int, float]] = []

    def flaky(ctx: WorkflowContext) -> str:
        attempts.append((ctx.attempt, time.monotonic()))
        ctx.set("partial", ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError(f"attempt {ctx.attempt} failed")
        return "finally"

    no_delay = RetryPolicy(max_attempts=3, initial_delay=0, jitter=0)
    definition = defn(
        "flaky", [Fn("call", flaky, retry_policy=no_delay), Set("after")], [Edge("call", "after")]
    )
    done = await contract.finish(await contract.engine.start_workflow(definition))
    assert done.status is WorkflowStatus.COMPLETED
    assert [a for a, _ in attempts] == [1, 2, 3]
    [run] = done.executions_of("call")
    assert (run.attempt, run.result) == (3, "finally")
    assert done.data == {"partial": 3}

    attempts.clear()
    backoff = RetryPolicy(max_attempts=3, initial_delay=0.05, backoff=2.0, jitter=0)
    definition = defn("backoff", [Fn("call", flaky, retry_policy=backoff)])
    done = await contract.finish(await contract.engine.start_workflow(definition))
    assert done.status is WorkflowStatus.COMPLETED
    gaps = [b - a for (_, a), (_, b) in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= 0.045
    assert gaps[1] >= 0.095

    def always(ctx: WorkflowContext) -> None:
        raise ConnectionError("down")

    definition = defn(
        "give_up", [Fn("call", always, retry_policy=no_delay), Set("after")], [Edge("call", "after")]
    )
    done = await contract.finish(await contract.engine.start_workflow(definition))
    assert done.status is WorkflowStatus.FAILED
    assert "ConnectionError: down" in (done.error or "")
    assert done.executions_of("call")[0].attempt == 3
    assert not done.executions_of("after")


async def test_delay_step_timer(contract: Contract) -> None:
    definition = defn("delay", [DelayStep("pause", 0.05), Set("after", woke=True)], [Edge("pause", "after")])
    began = time.monotonic()
    done = await contract.finish(await contract.engine.start_workflow(definition))
    assert time.monotonic() - began >= 0.05
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"woke": True}
    [run] = done.executions_of("pause")
    assert (run.step_type, run.status) == ("timer", StepStatus.SUCCEEDED)
    assert run.scheduled_for is not None
    assert run.completed_at is not None
    assert run.completed_at >= run.scheduled_for


async def test_webhook_delivery(contract: Contract) -> None:
    schema = {"type": "object", "properties": {"paid": {"type": "boolean"}}, "required": ["paid"]}
    definition = defn(
        "webhook",
        [WebhookStep("payment", payload_key="payment_result", payload_schema=schema), Set("after", ok=True)],
        [Edge("payment", "after")],
    )
    instance = await contract.engine.start_workflow(definition)
    assert (await contract.settle(instance)).status is WorkflowStatus.WAITING
    with pytest.raises(TaskValidationError, match="paid"):
        await contract.engine.deliver_webhook(instance.id, "payment", {"ref": "x1"})
    with pytest.raises(InvalidTransitionError, match="'nope'"):
        await contract.engine.deliver_webhook(instance.id, "nope", {"paid": True})
    assert (await contract.load(instance.id)).status is WorkflowStatus.WAITING
    await contract.engine.deliver_webhook(instance.id, "payment", {"paid": True, "ref": "x1"})
    done = await contract.finish(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"payment_result": {"paid": True, "ref": "x1"}, "ok": True}
    with pytest.raises(WorkflowAlreadyCompletedError, match="already completed"):
        await contract.engine.deliver_webhook(instance.id, "payment", {"paid": True})


async def test_pause_and_resume(contract: Contract) -> None:
    gate = asyncio.Event()

    async def gated(ctx: WorkflowContext) -> None:
        await gate.wait()
        ctx.set("a", 1)

    definition = defn("pausable", [Fn("a", gated), Set("b", b=1)], [Edge("a", "b")])
    a_done = contract.step_completed("a")
    instance = await contract.engine.start_workflow(definition)
    paused = await contract.engine.pause_workflow(instance.id)
    assert paused.status is WorkflowStatus.PAUSED
    gate.set()
    await asyncio.wait_for(a_done.wait(), TIMEOUT)
    held = await contract.load(instance.id)
    assert held.status is WorkflowStatus.PAUSED
    assert statuses(held) == {"a": [StepStatus.SUCCEEDED], "b": [StepStatus.SCHEDULED]}
    assert held.data == {"a": 1}
    with pytest.raises(InvalidTransitionError):
        await contract.engine.pause_workflow(instance.id)
    await contract.engine.resume_workflow(instance.id)
    done = await contract.finish(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data == {"a": 1, "b": 1}
    with pytest.raises(InvalidTransitionError):
        await contract.engine.resume_workflow(instance.id)


# ---------------------------------------------------------------------------- queries


async def test_find_instances_filters(contract: Contract) -> None:
    quick, slow = defn("quick", [Set("a", a=1)]), defn("slow", [BaseHumanStep("h")])
    made: list[WorkflowInstanceData] = []
    for definition, tenant, creator in [
        (quick, "t1", "ann"),
        (quick, "t1", "bob"),
        (slow, "t2", "ann"),
        (slow, None, None),
        (quick, "t2", "bob"),
    ]:
        instance = await contract.engine.start_workflow(definition, tenant_id=tenant, created_by=creator)
        await contract.settle(instance)
        made.append(instance)
    ids = [i.id for i in made]
    engine = contract.engine

    page = await engine.find_instances(status=WorkflowStatus.COMPLETED)
    assert (page.total, {i.id for i in page}) == (3, {ids[0], ids[1], ids[4]})
    page = await engine.find_instances(status=[WorkflowStatus.WAITING, WorkflowStatus.FAILED])
    assert {i.id for i in page} == {ids[2], ids[3]}
    assert {i.id for i in await engine.find_instances(workflow_name="slow")} == {ids[2], ids[3]}
    assert {i.id for i in await engine.find_instances(tenant_id="t1")} == {ids[0], ids[1]}
    assert {i.id for i in await engine.find_instances(created_by="ann")} == {ids[0], ids[2]}
    page = await engine.find_instances(tenant_id="t2", created_by="bob", status=WorkflowStatus.COMPLETED)
    assert [i.id for i in page] == [ids[4]]
    assert (await engine.find_instances(tenant_id="nobody")).total == 0
    found = {i.id: i for i in await engine.find_instances(limit=10)}
    assert found[ids[2]].tenant_id == "t2"
    assert found[ids[2]].created_by == "ann"
    assert found[ids[0]].data == {"a": 1}

    # Date range: started_after is inclusive, started_before exclusive.
    started = {i: (await contract.load(i)).started_at for i in ids}
    starts = sorted(started.values())
    assert len(set(starts)) == len(starts)
    page = await engine.find_instances(started_after=starts[1], started_before=starts[4])
    assert {i.id for i in page} == {i for i, at in started.items() if starts[1] <= at < starts[4]}
    assert page.total == 3
    assert (await engine.find_instances(started_after=starts[4] + timedelta(seconds=1))).total == 0
    assert (await engine.find_instances(started_before=starts[0])).total == 0

    # Pagination: newest first, stable pages, the total of all matches on every page.
    pages = [await engine.find_instances(limit=2, offset=offset) for offset in (0, 2, 4)]
    assert [p.total for p in pages] == [5, 5, 5]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i.id for p in pages for i in p] == sorted(ids, key=started.__getitem__, reverse=True)


async def test_find_tasks_filters(contract: Contract) -> None:
    definition = defn(
        "tasks",
        [
            BaseHumanStep("first", assignee="alice", due_in=timedelta(hours=1)),
            BaseHumanStep("second", assignee_group="ops", due_in=timedelta(days=2)),
            BaseHumanStep("third", assignee="bob", assignee_group="ops"),
        ],
        [Edge("first", "second"), Edge("second", "third")],
    )
    engine = contract.engine
    a = await engine.start_workflow(definition, tenant_id="acme")
    b = await engine.start_workflow(definition)
    for instance in (a, b):
        await contract.settle(instance)
    await engine.complete_human_task(a.id, "first", "alice", {})
    await contract.settle(a)
    pending, completed = HumanTaskStatus.PENDING, HumanTaskStatus.COMPLETED

    assert {t.instance_id for t in await engine.find_tasks(assignee_id="alice")} == {a.id, b.id}
    assert [t.instance_id for t in await engine.find_tasks(assignee_id="alice", status=pending)] == [b.id]
    ops = await engine.find_tasks(assignee_group="ops", status=pending)
    assert [(t.instance_id, t.step_name) for t in ops] == [(a.id, "second")]
    assert (await engine.find_tasks(assignee_group=["ops", "finance"])).total == 1
    done = await engine.find_tasks(status=completed)
    assert [(t.instance_id, t.step_name, t.completed_by) for t in done] == [(a.id, "first", "alice")]
    assert (await engine.find_tasks(tenant_id="acme")).total == 2
    assert (await engine.find_tasks(workflow_name="tasks")).total == 3
    assert (await engine.find_tasks(instance_id=b.id)).total == 1

    [first_b] = (await engine.find_tasks(instance_id=b.id)).items
    [second_a] = ops.items
    assert first_b.due_at is not None
    assert second_a.due_at is not None
    soon = await engine.find_tasks(due_before=first_b.due_at + timedelta(minutes=1), status=pending)
    assert [t.id for t in soon] == [first_b.id]
    later = await engine.find_tasks(due_before=second_a.due_at + timedelta(minutes=1), status=pending)
    assert {t.id for t in later} == {first_b.id, second_a.id}
    assert (await engine.find_tasks(due_before=first_b.due_at - timedelta(hours=2))).total == 0

    page = await engine.find_tasks(limit=2, offset=0)
    rest = await engine.find_tasks(limit=2, offset=2)
    assert (page.total, len(page), rest.total, len(rest)) == (3, 2, 3, 1)
    assert {t.id for t in page} | {t.id for t in rest} == {t.id for t in await engine.find_tasks()}
    assert {t.step_name for t in await engine.get_pending_tasks("alice")} == {"first"}
    assert {t.step_name for t in await engine.get_pending_tasks("olga", groups=["ops"])} == {"second"}

    # A person's queue, paged by the store: assigned to them, or unassigned and open to a group.
    def queue(user: str | None, *groups: str, **page: int) -> Any:
        return engine.find_tasks(status=pending, workable_by=user, workable_groups=groups, **page)

    assert [(t.instance_id, t.step_name) for t in await queue("alice")] == [(b.id, "first")]
    assert [(t.instance_id, t.step_name) for t in await queue("olga", "ops")] == [(a.id, "second")]
    both = [await queue("alice", "ops", limit=1, offset=offset) for offset in (0, 1)]
    assert [p.total for p in both] == [2, 2]
    assert {(t.instance_id, t.step_name) for p in both for t in p} == {(b.id, "first"), (a.id, "second")}
    await engine.complete_human_task(a.id, "second", "olga", {})
    await contract.settle(a)  # "third" is assigned to bob, in group ops
    assert [t.step_name for t in await queue("bob")] == ["third"]
    assert (await queue("olga", "ops")).total == 0  # assigned to someone else: not in the group's queue
    assert (await queue(None, "ops")).total == 0


async def test_a_task_open_to_anyone_is_in_every_queue(contract: Contract) -> None:
    """A task with neither an assignee nor a group may be completed by anyone, so everyone sees it."""
    definition = defn(
        "open_tasks",
        [BaseHumanStep("anyone"), BaseHumanStep("ops_only", assignee_group="ops")],
        [Edge("anyone", "ops_only")],
    )
    engine = contract.engine
    instance = await engine.start_workflow(definition)
    await contract.settle(instance)
    for user, groups in (("alice", ()), ("olga", ("ops",)), ("zoe", ("finance",))):
        assert [t.step_name for t in await engine.get_pending_tasks(user, groups=groups)] == ["anyone"]
        page = await engine.find_tasks(
            status=HumanTaskStatus.PENDING, workable_by=user, workable_groups=groups
        )
        assert (page.total, [t.step_name for t in page]) == (1, ["anyone"])
    await engine.complete_human_task(instance.id, "anyone", "zoe", {})
    await contract.settle(instance)
    assert [t.step_name for t in await engine.get_pending_tasks("olga", groups=["ops"])] == ["ops_only"]
    assert await engine.get_pending_tasks("alice") == []  # a group task stays its members' alone


# ---------------------------------------------------------------------------- versions


async def test_instance_keeps_its_version_when_a_newer_one_is_registered(contract: Contract) -> None:
    contract.registry.register(
        defn(
            "evolving", [BaseHumanStep("approve"), Set("old_next", path="old")], [Edge("approve", "old_next")]
        )
    )
    instance = await contract.engine.start_workflow("evolving")
    await contract.settle(instance)
    contract.registry.register(
        defn(
            "evolving",
            [BaseHumanStep("approve"), Set("new_next", path="new")],
            [Edge("approve", "new_next")],
            version="2.0.0",
        )
    )
    await contract.engine.complete_human_task(instance.id, "approve", "someone", {})
    done = await contract.finish(instance)
    assert (done.workflow_version, succeeded(done), done.data) == (
        "1.0.0",
        ["approve", "old_next"],
        {"path": "old"},
    )
    fresh = await contract.engine.start_workflow("evolving")
    assert fresh.workflow_version == "2.0.0"
    await contract.settle(fresh)
    await contract.engine.complete_human_task(fresh.id, "approve", "someone", {})
    assert (await contract.finish(fresh)).data == {"path": "new"}


class Versioned(BaseWorkflow):
    """A workflow declared as a class, at version 3.1.0."""

    __workflow_name__ = "by_class"
    __workflow_version__ = "3.1.0"
    steps = [Set("submit", submitted=True), Fn("book", lambda ctx: ctx.set("booked", ctx.get("amount")))]
    edges = [Edge("submit", "book")]
    initial_step = "submit"


async def test_start_by_name_class_and_definition_with_version(contract: Contract) -> None:
    engine, registry = contract.engine, contract.registry
    registry.register(defn("named", [Set("v1_step", v=1)], version="1.0.0"))
    registry.register(defn("named", [Set("v2_step", v=2)], version="2.0.0"))
    by_old = await engine.start_workflow("named", version="1.0.0")
    by_latest = await engine.start_workflow("named")
    by_class = await engine.start_workflow(Versioned, {"amount": 12})
    by_class_version = await engine.start_workflow(Versioned, {"amount": 3}, version="3.1.0")
    by_class_name = await engine.start_workflow("by_class", {"amount": 1}, version="3.1.0")
    definition = defn("inline", [Set("x", x=1)], version="0.9.0")
    by_definition = await engine.start_workflow(definition, version="0.9.0")
    with pytest.raises(WorkflowNotFoundError):
        await engine.start_workflow("named", version="9.9.9")
    with pytest.raises(WorkflowNotFoundError):
        await engine.start_workflow(Versioned, version="1.0.0")
    with pytest.raises(WorkflowNotFoundError):
        await engine.start_workflow("never_registered")

    expected = [
        (by_old, "named", "1.0.0", {"v": 1}),
        (by_latest, "named", "2.0.0", {"v": 2}),
        (by_class, "by_class", "3.1.0", {"amount": 12, "submitted": True, "booked": 12}),
        (by_class_version, "by_class", "3.1.0", {"amount": 3, "submitted": True, "booked": 3}),
        (by_class_name, "by_class", "3.1.0", {"amount": 1, "submitted": True, "booked": 1}),
        (by_definition, "inline", "0.9.0", {"x": 1}),
    ]
    for instance, name, version, data in expected:
        done = await contract.finish(instance)
        assert (done.status, done.workflow_name, done.workflow_version, done.data) == (
            WorkflowStatus.COMPLETED,
            name,
            version,
            data,
        )
    assert (await engine.find_instances(workflow_name="named", workflow_version="1.0.0")).total == 1
