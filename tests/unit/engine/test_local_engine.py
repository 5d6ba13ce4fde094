"""The local engine end to end: every step kind, retries, timeouts, versions, queries."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    BaseWorkflow,
    ConditionalGroup,
    DelayStep,
    Edge,
    EventBus,
    ExclusiveGateway,
    HumanTaskCreated,
    HumanTaskStatus,
    LocalExecutionEngine,
    NonRetryableError,
    ParallelGateway,
    ParallelGroup,
    RetryPolicy,
    ScheduledStep,
    SequentialGroup,
    StepCompleted,
    StepStatus,
    UnauthorizedTaskError,
    WebhookStep,
    WorkflowCompleted,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn, Set, statuses, succeeded

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from litestar_workflows import WorkflowContext, WorkflowInstanceData

NO_DELAY = RetryPolicy(max_attempts=3, initial_delay=0, jitter=0)


class Never(BaseMachineStep):
    """A step that can_execute() refuses."""

    async def can_execute(self, context: WorkflowContext) -> bool:
        return False

    async def execute(self, context: WorkflowContext) -> Any:  # pragma: no cover - never runs
        raise AssertionError("a skipped step ran")


def defn(name: str, steps: list[Any], edges: list[Edge] | None = None, **kwargs: Any) -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name, steps=steps, edges=edges or [], initial_step=kwargs.pop("initial", steps[0].name), **kwargs
    )


@pytest.fixture
def registry() -> WorkflowRegistry:
    return WorkflowRegistry()


@pytest.fixture
async def engine(registry: WorkflowRegistry) -> AsyncIterator[LocalExecutionEngine]:
    async with LocalExecutionEngine(registry) as eng:
        yield eng


async def finish(engine: LocalExecutionEngine, instance: WorkflowInstanceData) -> WorkflowInstanceData:
    return await engine.wait(instance.id, until=FINISHED, timeout=5)


# ---------------------------------------------------------------------------- machine steps and starting


async def test_machine_chain_shares_data_along_the_chain(engine: LocalExecutionEngine) -> None:
    definition = defn(
        "chain",
        [
            Set("a", x=1),
            Fn("b", lambda ctx: ctx.set("y", ctx.get("x") + 1)),
            Fn("c", lambda ctx: ctx.get("y") * 10),
        ],
        [Edge("a", "b"), Edge("b", "c")],
    )
    instance = await engine.start_workflow(definition, {"start": True})
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"start": True, "x": 1, "y": 2}
    assert succeeded(instance) == ["a", "b", "c"]
    assert instance.executions_of("c")[0].result == 20


async def test_step_edits_its_private_copy_until_it_succeeds(engine: LocalExecutionEngine) -> None:
    def mutate_then_fail(ctx: WorkflowContext) -> None:
        ctx.data["nested"]["inner"].append(99)
        ctx.set("junk", 1)
        raise NonRetryableError("nope")

    definition = defn("private", [Fn("a", mutate_then_fail)])
    instance = await engine.start_workflow(definition, {"nested": {"inner": [1]}})
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.FAILED
    assert instance.data == {"nested": {"inner": [1]}}


async def test_change_sets_record_set_deleted_and_retyped_keys(engine: LocalExecutionEngine) -> None:
    def change(ctx: WorkflowContext) -> None:
        del ctx.data["gone"]
        ctx.set("flag", True)  # was 1: equal in Python, but a different JSON value
        ctx.data["nested"]["inner"].append(2)
        ctx.set("same", "x")

    definition = defn("changes", [Fn("a", change)])
    instance = await engine.start_workflow(
        definition, {"gone": 1, "flag": 1, "nested": {"inner": [1]}, "same": "x"}
    )
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"flag": True, "nested": {"inner": [1, 2]}, "same": "x"}
    changes = instance.executions_of("a")[0].context_changes
    assert changes == {"set": {"flag": True, "nested": {"inner": [1, 2]}}, "deleted": ["gone"]}


def _flat_replace(ctx: WorkflowContext) -> None:
    ctx.data = {"a": 1, "b": 3, "c": 4}


def _flat_write_then_replace(ctx: WorkflowContext) -> None:
    ctx.data.pop("a")
    ctx.data = {"a": 1, "c": 4}


def _flat_write_back(ctx: WorkflowContext) -> None:
    ctx.set("b", 9)
    ctx.data.update(b=2)


def _flat_every_method(ctx: WorkflowContext) -> None:
    ctx.data |= {"c": 1}
    ctx.data.setdefault("d", 2)
    ctx.data.popitem()
    del ctx.data["a"]


def _flat_set_only(ctx: WorkflowContext) -> None:
    ctx.set("c", 5)  # new
    ctx.set("a", 1)  # the value it had
    ctx.set("b", 7)
    ctx.set("b", 2)  # and back


def _flat_set_then_delete(ctx: WorkflowContext) -> None:
    ctx.set("a", 5)
    ctx.set("c", 1)
    del ctx.data["a"]
    ctx.set("d", 0)


@pytest.mark.parametrize(
    ("change", "data", "recorded"),
    [
        (_flat_set_only, {"a": 1, "b": 2, "c": 5}, {"set": {"c": 5}, "deleted": []}),
        (_flat_set_then_delete, {"b": 2, "c": 1, "d": 0}, {"set": {"c": 1, "d": 0}, "deleted": ["a"]}),
        (_flat_replace, {"a": 1, "b": 3, "c": 4}, {"set": {"b": 3, "c": 4}, "deleted": []}),
        (_flat_write_then_replace, {"a": 1, "c": 4}, {"set": {"c": 4}, "deleted": ["b"]}),
        (_flat_write_back, {"a": 1, "b": 2}, None),
        (_flat_every_method, {"b": 2, "c": 1}, {"set": {"c": 1}, "deleted": ["a"]}),
    ],
    ids=["set-only", "set-then-deleted", "replaced", "written-then-replaced", "written-back", "every-method"],
)
async def test_change_sets_of_flat_data_compare_with_what_the_step_was_given(
    engine: LocalExecutionEngine,
    change: Callable[[WorkflowContext], None],
    data: dict[str, Any],
    recorded: dict[str, Any] | None,
) -> None:
    """Flat data is watched rather than copied twice; every way of changing it is still seen."""
    definition = defn(f"flat-{change.__name__}", [Fn("a", change)])
    instance = await engine.start_workflow(definition, {"a": 1, "b": 2})
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == data
    assert instance.executions_of("a")[0].context_changes == recorded


@pytest.mark.parametrize("last", ["first", "second"])
async def test_parallel_branches_writing_one_key_later_completion_wins(
    registry: WorkflowRegistry, last: str
) -> None:
    gates = {"first": asyncio.Event(), "second": asyncio.Event()}
    completed = {"first": asyncio.Event(), "second": asyncio.Event()}
    bus = EventBus()
    bus.subscribe(
        lambda e: completed[e.step_name].set() if e.step_name in completed else None,  # type: ignore[attr-defined]
        [StepCompleted],
    )

    def writer(name: str, value: int) -> Fn:
        async def work(ctx: WorkflowContext) -> None:
            await gates[name].wait()
            ctx.set("shared", value)
            ctx.set(f"own_{name}", value)

        return Fn(name, work)

    definition = defn(
        "race",
        [ParallelGateway("fork"), writer("first", 1), writer("second", 2), Set("join")],
        [Edge("fork", "first"), Edge("fork", "second"), Edge("first", "join"), Edge("second", "join")],
    )
    early = "second" if last == "first" else "first"
    async with LocalExecutionEngine(registry, event_bus=bus) as engine:
        instance = await engine.start_workflow(definition, {"shared": 0})
        gates[early].set()
        await asyncio.wait_for(completed[early].wait(), 5)
        gates[last].set()
        await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"shared": 1 if last == "first" else 2, "own_first": 1, "own_second": 2}


async def test_can_execute_false_skips_and_flow_continues(engine: LocalExecutionEngine) -> None:
    definition = defn("skip", [Set("a", a=1), Never("b"), Set("c", c=1)], [Edge("a", "b"), Edge("b", "c")])
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert statuses(instance) == {
        "a": [StepStatus.SUCCEEDED],
        "b": [StepStatus.SKIPPED],
        "c": [StepStatus.SUCCEEDED],
    }


async def test_start_by_registered_name(engine: LocalExecutionEngine, registry: WorkflowRegistry) -> None:
    registry.register(defn("named", [Set("a", done=True)]))
    instance = await engine.start_workflow("named")
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.workflow_name == "named"
    assert instance.data == {"done": True}


class ExpenseWorkflow(BaseWorkflow):
    """An expense claim, declared as a class."""

    __workflow_name__ = "expense_class"
    __workflow_version__ = "3.1.0"
    steps = [Set("submit", submitted=True), Fn("book", lambda ctx: ctx.set("booked", ctx.get("amount")))]
    edges = [Edge("submit", "book")]
    initial_step = "submit"


async def test_start_by_workflow_class(engine: LocalExecutionEngine, registry: WorkflowRegistry) -> None:
    instance = await engine.start_workflow(ExpenseWorkflow, {"amount": 12})
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.workflow_name == "expense_class"
    assert instance.workflow_version == "3.1.0"
    assert instance.data == {"amount": 12, "submitted": True, "booked": 12}
    assert registry.has_definition("expense_class", "3.1.0")
    again = await engine.start_workflow("expense_class", {"amount": 1})
    await finish(engine, again)
    assert again.data["booked"] == 1


async def test_version_argument_picks_the_version(
    engine: LocalExecutionEngine, registry: WorkflowRegistry
) -> None:
    registry.register(defn("versioned", [Set("v1_step", v=1)], version="1.0.0"))
    registry.register(defn("versioned", [Set("v2_step", v=2)], version="2.0.0"))
    old = await engine.start_workflow("versioned", version="1.0.0")
    new = await engine.start_workflow("versioned")
    await finish(engine, old)
    await finish(engine, new)
    assert (old.workflow_version, old.data, succeeded(old)) == ("1.0.0", {"v": 1}, ["v1_step"])
    assert (new.workflow_version, new.data, succeeded(new)) == ("2.0.0", {"v": 2}, ["v2_step"])


async def test_running_instance_keeps_its_version_when_a_newer_one_is_registered(
    engine: LocalExecutionEngine, registry: WorkflowRegistry
) -> None:
    registry.register(
        defn(
            "evolving", [BaseHumanStep("approve"), Set("old_next", path="old")], [Edge("approve", "old_next")]
        )
    )
    instance = await engine.start_workflow("evolving")
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.WAITING
    registry.register(
        defn(
            "evolving",
            [BaseHumanStep("approve"), Set("new_next", path="new")],
            [Edge("approve", "new_next")],
            version="2.0.0",
        )
    )
    await engine.complete_human_task(instance.id, "approve", "someone", {})
    await finish(engine, instance)
    assert instance.workflow_version == "1.0.0"
    assert succeeded(instance) == ["approve", "old_next"]
    assert instance.data == {"path": "old"}
    fresh = await engine.start_workflow("evolving")
    assert fresh.workflow_version == "2.0.0"
    await engine.cancel_workflow(fresh.id)


def test_registry_orders_versions_semantically(registry: WorkflowRegistry) -> None:
    for version in ("9.0.0", "10.0.0", "2.0.0", "1.10.0", "1.9.0"):
        registry.register(defn("semver", [Set("a")], version=version))
    assert registry.get_definition("semver").version == "10.0.0"
    assert registry.get_versions("semver") == ["1.9.0", "1.10.0", "2.0.0", "9.0.0", "10.0.0"]
    registry.unregister("semver", "10.0.0")
    assert registry.get_definition("semver").version == "9.0.0"


def test_registry_prefers_a_release_over_its_prerelease(registry: WorkflowRegistry) -> None:
    registry.register(defn("pre", [Set("a")], version="2.0.0-rc1"))
    registry.register(defn("pre", [Set("a")], version="2.0.0"))
    registry.register(defn("pre", [Set("a")], version="1.9.9"))
    assert registry.get_definition("pre").version == "2.0.0"


def test_registry_prefers_a_patch_release_over_a_shorter_version(registry: WorkflowRegistry) -> None:
    registry.register(defn("short", [Set("a")], version="1.2.1"))
    registry.register(defn("short", [Set("a")], version="1.2"))
    assert registry.get_definition("short").version == "1.2.1"
    registry.register(defn("short", [Set("a")], version="1.10"))
    assert registry.get_definition("short").version == "1.10"
    assert registry.get_versions("short") == ["1.2", "1.2.1", "1.10"]


async def test_tenant_and_creator_are_stored_and_filterable(engine: LocalExecutionEngine) -> None:
    definition = defn("tenanted", [Set("a")])
    made = []
    for tenant, creator in [("t1", "ann"), ("t1", "bob"), ("t2", "ann"), (None, None)]:
        instance = await engine.start_workflow(definition, tenant_id=tenant, created_by=creator)
        made.append(instance)
        await finish(engine, instance)
    assert (made[0].tenant_id, made[0].created_by) == ("t1", "ann")
    assert made[0].context.tenant_id == "t1"
    assert made[0].context.user_id == "ann"
    page = await engine.find_instances(tenant_id="t1")
    assert page.total == 2
    assert {i.id for i in page} == {made[0].id, made[1].id}
    page = await engine.find_instances(created_by="ann")
    assert {i.id for i in page} == {made[0].id, made[2].id}
    page = await engine.find_instances(tenant_id="t2", created_by="ann", status=WorkflowStatus.COMPLETED)
    assert [i.id for i in page] == [made[2].id]
    assert (await engine.find_instances(tenant_id="t3")).total == 0
    assert (await engine.find_instances(workflow_name="tenanted")).total == 4


async def test_running_and_all_instances(engine: LocalExecutionEngine) -> None:
    done = await engine.start_workflow(defn("quick", [Set("a")]))
    waiting = await engine.start_workflow(defn("slow", [BaseHumanStep("h")]))
    await finish(engine, done)
    await engine.wait(waiting.id, timeout=5)
    assert [i.id for i in engine.get_running_instances()] == [waiting.id]
    assert {i.id for i in engine.get_all_instances()} == {done.id, waiting.id}
    assert await engine.get_instance(done.id) is done


# ---------------------------------------------------------------------------- human steps


async def test_human_step_task_fields_and_completion(registry: WorkflowRegistry) -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    engine = LocalExecutionEngine(registry, clock=lambda: now)
    schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
        "required": ["approved"],
    }
    approve = BaseHumanStep(
        "approve",
        title="Approve the expense",
        description="Check the receipt",
        form_schema=schema,
        assignee_key="manager",
        assignee_group="finance",
        due_in=timedelta(hours=2),
    )
    definition = defn(
        "approval",
        [approve, Fn("record", lambda ctx: ctx.set("recorded", ctx.get("approved")))],
        [Edge("approve", "record")],
    )
    instance = await engine.start_workflow(definition, {"manager": "mia", "amount": 50})
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.WAITING
    assert instance.current_step == "approve"
    [task] = (await engine.find_tasks(instance_id=instance.id)).items
    assert task.title == "Approve the expense"
    assert task.description == "Check the receipt"
    assert task.assignee_id == "mia"
    assert task.assignee_group == "finance"
    assert task.form_schema == schema
    assert task.created_at == now
    assert task.due_at == now + timedelta(hours=2)
    assert task.is_pending
    with pytest.raises(UnauthorizedTaskError):
        await engine.complete_human_task(instance.id, "approve", "eve", {"approved": True})
    await engine.complete_human_task(instance.id, "approve", "mia", {"approved": True, "comment": "ok"})
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {
        "manager": "mia",
        "amount": 50,
        "approved": True,
        "comment": "ok",
        "recorded": True,
    }
    assert task.status is HumanTaskStatus.COMPLETED
    assert task.completed_by == "mia"
    run = instance.executions_of("approve")[0]
    assert run.completed_by == "mia"
    assert run.step_type == "human"


async def test_with_an_event_bus_a_task_completed_right_after_the_start_waits_for_it(
    registry: WorkflowRegistry,
) -> None:
    """The quick start with a bus added: the steps before the task start on the next turn of the
    loop (so that events stay in order), and a completion made meanwhile waits for the task."""
    definition = defn(
        "bus_start",
        [Set("submit", submitted=True), Set("check", checked=True), BaseHumanStep("review")],
        [Edge("submit", "check"), Edge("check", "review")],
    )
    seen: list[str] = []
    bus = EventBus()
    bus.subscribe(lambda event: seen.append(f"{type(event).__name__}:{getattr(event, 'step_name', '')}"))
    async with LocalExecutionEngine(registry, event_bus=bus) as engine:
        instance = await engine.start_workflow(definition)
        assert instance.current_step == "submit"  # not started yet
        async with asyncio.timeout(30):  # a guard: the completion waits, it must not hang
            await engine.complete_human_task(instance.id, "review", "ann", {})
        assert (await finish(engine, instance)).status is WorkflowStatus.COMPLETED
    assert seen[:6] == [
        "WorkflowStarted:",
        "StepStarted:submit",
        "StepCompleted:submit",
        "StepStarted:check",
        "StepCompleted:check",
        "StepStarted:review",
    ]


async def test_a_bus_handler_may_wait_on_the_instance_it_hears_of(registry: WorkflowRegistry) -> None:
    """A handler reading the settled instance (``engine.wait``) while its event is delivered."""
    definition = defn("bus_reentry", [Set("a", x=1), BaseHumanStep("approve")], [Edge("a", "approve")])
    bus = EventBus()
    engine = LocalExecutionEngine(registry, event_bus=bus)
    got: list[WorkflowStatus] = []
    both = asyncio.Event()

    async def handler(event: Any) -> None:
        got.append((await engine.wait(event.instance_id, timeout=10)).status)
        if len(got) == 2:
            both.set()

    bus.subscribe(handler, [HumanTaskCreated, WorkflowCompleted])
    async with engine:
        async with asyncio.timeout(30):  # a guard: a handler waiting must not hold the publish for ever
            instance = await engine.start_workflow(definition)
            await engine.wait(instance.id, timeout=10)
            await engine.complete_human_task(instance.id, "approve", "ann", {})
            await finish(engine, instance)
            await both.wait()
    assert got == [WorkflowStatus.WAITING, WorkflowStatus.COMPLETED]


async def test_a_start_cancelled_while_its_events_go_out_still_runs_its_first_step(
    registry: WorkflowRegistry,
) -> None:
    """The start is committed before its events are published: cancelling the caller then loses no work."""
    definition = defn("bus_cancel", [Set("only", ran=True)])
    blocked, release = asyncio.Event(), asyncio.Event()

    class SlowBus(EventBus):
        async def emit(self, event: Any) -> None:
            if type(event).__name__ == "WorkflowStarted":
                blocked.set()
                await release.wait()

    async with LocalExecutionEngine(registry, event_bus=SlowBus()) as engine:
        call = asyncio.create_task(engine.start_workflow(definition))
        await blocked.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        [instance] = (await engine.find_instances(workflow_name="bus_cancel")).items
        done = await finish(engine, instance)
        assert (done.status, done.data) == (WorkflowStatus.COMPLETED, {"ran": True})


async def test_a_bus_that_awaits_leaves_parallel_instances_whole(registry: WorkflowRegistry) -> None:
    """Events go out while sibling branches finish: every step runs once, every instance ends."""
    runs: dict[tuple[int, str], int] = {}

    def count(context: WorkflowContext) -> None:
        key = (context.get("n"), context.current_step)
        runs[key] = runs.get(key, 0) + 1

    branches = [Fn(f"b{i}", count) for i in range(3)]
    definition = defn(
        "bus_fanout",
        [Fn("fork", count), *branches, Fn("join", count)],
        [Edge("fork", b.name) for b in branches] + [Edge(b.name, "join") for b in branches],
    )
    seen: dict[Any, list[str]] = {}

    class AwaitingBus(EventBus):
        async def emit(self, event: Any) -> None:
            for _ in range(3):
                await asyncio.sleep(0)  # a bus doing I/O
            seen.setdefault(event.instance_id, []).append(type(event).__name__)

    async with LocalExecutionEngine(registry, event_bus=AwaitingBus()) as engine:
        started = [await engine.start_workflow(definition, {"n": n}) for n in range(20)]
        finished = [await finish(engine, instance) for instance in started]
    assert {i.status for i in finished} == {WorkflowStatus.COMPLETED}
    assert runs == {(n, step): 1 for n in range(20) for step in ("fork", "b0", "b1", "b2", "join")}
    assert {seen[instance.id][0] for instance in finished} == {"WorkflowStarted"}


async def test_stop_does_not_wait_for_ever_for_a_step_that_ignores_its_cancellation(
    registry: WorkflowRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    """It waits ``stop_timeout``, names the step, and nothing after that step runs."""
    running, release, ended = asyncio.Event(), asyncio.Event(), asyncio.Event()
    after: list[str] = []

    async def stubborn(context: WorkflowContext) -> None:
        running.set()
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # the bug of such a step: it swallows its cancellation
        ended.set()

    definition = defn(
        "stubborn",
        [Fn("hold", stubborn), Fn("after", lambda _: after.append("ran"))],
        [Edge("hold", "after")],
    )
    engine = LocalExecutionEngine(registry)
    engine.stop_timeout = 0.05
    await engine.start()
    instance = await engine.start_workflow(definition)
    await running.wait()
    with caplog.at_level(logging.ERROR, logger="litestar_workflows"):
        async with asyncio.timeout(30):  # a guard: stop() used to wait as long as the step
            await engine.stop()
    assert "step 'hold' of instance " + str(instance.id) in caplog.text
    assert "ignore" in caplog.text
    release.set()
    await ended.wait()
    for _ in range(10):
        await asyncio.sleep(0)  # the step's driver ends
    assert after == []  # the stopped engine started nothing after it
    assert instance.current_step == "after"  # recorded as what comes next, for a later run


async def test_completing_a_task_runs_the_steps_it_releases_at_once(registry: WorkflowRegistry) -> None:
    """Steps that never wait run before complete_human_task returns; with an event bus they
    start on the next turn of the loop, after the completion's events are out."""
    definition = defn(
        "release",
        [BaseHumanStep("approve"), Set("record", recorded=True), Set("close", closed=True)],
        [Edge("approve", "record"), Edge("record", "close")],
    )
    seen: list[str] = []
    bus = EventBus()
    bus.subscribe(lambda event: seen.append(type(event).__name__))
    for event_bus, status_after_call in ((None, WorkflowStatus.COMPLETED), (bus, WorkflowStatus.RUNNING)):
        async with LocalExecutionEngine(registry, event_bus=event_bus) as engine:
            instance = await engine.start_workflow(definition)
            await engine.wait(instance.id, timeout=5)
            returned = await engine.complete_human_task(instance.id, "approve", "ann", {})
            assert returned.status is status_after_call
            await finish(engine, instance)
            assert instance.data == {"recorded": True, "closed": True}
    completed = seen.index("HumanTaskCompleted")
    assert seen[completed:] == [
        "HumanTaskCompleted",
        "StepCompleted",  # approve
        "StepStarted",  # record
        "StepCompleted",
        "StepStarted",  # close
        "StepCompleted",
        "WorkflowCompleted",
    ]


async def test_steps_completing_each_others_tasks_in_a_long_relay(engine: LocalExecutionEngine) -> None:
    """Each instance's step completes the next instance's task: the released work starts
    eagerly, nested on the stack, so nesting must stay bounded (no RecursionError)."""
    count = 200
    ids: list[Any] = []

    async def hand_on(ctx: WorkflowContext) -> None:
        following = ctx.get("i") + 1
        if following < count:
            await engine.complete_human_task(ids[following], "wait", "relay", {})

    definition = defn("relay", [BaseHumanStep("wait"), Fn("hand_on", hand_on)], [Edge("wait", "hand_on")])
    for i in range(count):
        ids.append((await engine.start_workflow(definition, {"i": i})).id)
    for instance_id in ids:
        await engine.wait(instance_id, timeout=5)
    await engine.complete_human_task(ids[0], "wait", "relay", {})
    finished = [await engine.wait(instance_id, until=FINISHED, timeout=10) for instance_id in ids]
    assert {instance.status for instance in finished} == {WorkflowStatus.COMPLETED}


async def test_complete_task_by_id_claim_and_reassign(engine: LocalExecutionEngine) -> None:
    definition = defn("claims", [BaseHumanStep("review", assignee_group="ops")])
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, timeout=5)
    [task] = (await engine.find_tasks(instance_id=instance.id)).items
    assert task.assignee_id is None
    claimed = await engine.claim_task(task.id, "olga")
    assert claimed.assignee_id == "olga"
    with pytest.raises(UnauthorizedTaskError):
        await engine.complete_task(task.id, "pete", {})
    await engine.reassign_task(task.id, "pete", user_id="olga", reason="handover")
    assert task.assignee_id == "pete"
    assert instance.executions_of("review")[0].assigned_to == "pete"
    with pytest.raises(UnauthorizedTaskError):
        await engine.reassign_task(task.id, "olga", user_id="olga")
    await engine.complete_task(task.id, "pete", {"seen": True})
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"seen": True}


async def test_find_tasks_by_assignee_group_and_status(engine: LocalExecutionEngine) -> None:
    definition = defn(
        "tasks",
        [
            BaseHumanStep("first", assignee="alice"),
            BaseHumanStep("second", assignee_group="ops"),
            BaseHumanStep("third", assignee="bob", assignee_group="ops"),
        ],
        [Edge("first", "second"), Edge("second", "third")],
    )
    a = await engine.start_workflow(definition, tenant_id="acme")
    b = await engine.start_workflow(definition)
    for instance in (a, b):
        await engine.wait(instance.id, timeout=5)
    await engine.complete_human_task(a.id, "first", "alice", {})
    await engine.wait(a.id, timeout=5)
    pending = HumanTaskStatus.PENDING
    alice = await engine.find_tasks(assignee_id="alice")
    assert sorted(str(t.instance_id) for t in alice) == sorted([str(a.id), str(b.id)])
    alice_pending = await engine.find_tasks(assignee_id="alice", status=pending)
    assert [t.instance_id for t in alice_pending] == [b.id]
    ops = await engine.find_tasks(assignee_group="ops", status=pending)
    assert [(t.instance_id, t.step_name) for t in ops] == [(a.id, "second")]
    done = await engine.find_tasks(status=HumanTaskStatus.COMPLETED)
    assert [(t.instance_id, t.step_name, t.completed_by) for t in done] == [(a.id, "first", "alice")]
    assert (await engine.find_tasks(tenant_id="acme")).total == 2
    assert {t.step_name for t in await engine.get_pending_tasks("alice")} == {"first"}
    assert {t.step_name for t in await engine.get_pending_tasks(groups=["ops"])} == {"second"}


# ---------------------------------------------------------------------------- gateways and joins


@pytest.mark.parametrize(("amount", "route"), [(5000, "big"), (50, "small")])
async def test_exclusive_gateway_routes_and_merges(
    engine: LocalExecutionEngine, amount: int, route: str
) -> None:
    async def choose(ctx: WorkflowContext) -> str:
        return "big" if ctx.get("amount") > 1000 else "small"

    definition = defn(
        "exclusive",
        [
            ExclusiveGateway("route", condition=choose),
            Set("big", path="big"),
            Set("small", path="small"),
            Set("merge"),
        ],
        [Edge("route", "big"), Edge("route", "small"), Edge("big", "merge"), Edge("small", "merge")],
    )
    instance = await engine.start_workflow(definition, {"amount": amount})
    await finish(engine, instance)
    other = "small" if route == "big" else "big"
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data["path"] == route
    assert statuses(instance)[other] == [StepStatus.SKIPPED]
    assert statuses(instance)["merge"] == [StepStatus.SUCCEEDED]
    assert instance.executions_of("route")[0].result == [route]


async def test_parallel_gateway_forks_and_the_join_waits_for_all(engine: LocalExecutionEngine) -> None:
    gates = {name: asyncio.Event() for name in "abc"}

    def branch(name: str) -> Fn:
        async def work(ctx: WorkflowContext) -> None:
            await gates[name].wait()
            ctx.set(name, True)

        return Fn(name, work)

    def join(ctx: WorkflowContext) -> None:
        ctx.set("all", [ctx.get(x) for x in "abc"])

    definition = defn(
        "parallel",
        [ParallelGateway("fork"), branch("a"), branch("b"), branch("c"), Fn("join", join)],
        [Edge("fork", x) for x in "abc"] + [Edge(x, "join") for x in "abc"],
    )
    instance = await engine.start_workflow(definition)
    # Release the branches in reverse order; the join only runs when all three are done.
    for name in "cba":
        gates[name].set()
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"a": True, "b": True, "c": True, "all": [True, True, True]}
    assert len(instance.executions_of("join")) == 1


async def test_a_branch_that_suspends_after_a_quick_step_leaves_nothing_behind(
    engine: LocalExecutionEngine,
) -> None:
    """A branch starts eagerly, finishes one step at once and suspends in the next; once the
    instance is done the engine holds nothing of it (no stale record of the first step)."""

    async def slow(ctx: WorkflowContext) -> None:
        await asyncio.sleep(0)  # always suspends once

    definition = defn(
        "quick-then-slow",
        [Fn("fork"), Fn("inline"), Fn("quick"), Fn("slow", slow), Fn("join")],
        [Edge("fork", "inline"), Edge("fork", "quick"), Edge("quick", "slow")]
        + [Edge("inline", "join"), Edge("slow", "join")],
    )
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert sorted(succeeded(instance)) == ["fork", "inline", "join", "quick", "slow"]
    assert instance.id.int not in engine._live


@pytest.mark.parametrize("failing", ["b1", "b2", "b3"])
async def test_a_branch_failing_at_once_keeps_its_siblings_from_running(
    engine: LocalExecutionEngine, failing: str
) -> None:
    """Whichever branch fails first, branches that have not begun never run their code."""
    ran: list[str] = []

    def branch(name: str) -> Fn:
        def work(ctx: WorkflowContext) -> None:
            ran.append(name)
            if name == failing:
                raise RuntimeError(f"{name} broke")

        return Fn(name, work)

    names = ["b1", "b2", "b3"]
    definition = defn(
        "fail-fast",
        [Fn("fork"), *(branch(n) for n in names), Fn("join")],
        [Edge("fork", n) for n in names] + [Edge(n, "join") for n in names],
    )
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.FAILED
    assert ran[-1] == failing  # nothing ran after the failure
    history = statuses(instance)
    assert history[failing] == [StepStatus.FAILED]
    for name in names:
        if name not in ran:
            assert history[name] == [StepStatus.CANCELED]
    assert "join" not in history


async def test_each_parallel_branch_runs_in_its_own_task(engine: LocalExecutionEngine) -> None:
    """Branches start at once (eagerly), yet each is its own task: a timeout in one cuts only it."""
    tasks: dict[str, object] = {}
    slow_started, release_slow = asyncio.Event(), asyncio.Event()

    def branch(name: str, *, timeout: bool = False) -> Fn:
        async def work(ctx: WorkflowContext) -> None:
            tasks[name] = asyncio.current_task()
            if timeout:
                try:
                    async with asyncio.timeout(0):
                        await asyncio.Event().wait()
                except TimeoutError:
                    ctx.set(name, "timed out")
                    return
            else:
                slow_started.set()
                await release_slow.wait()
            ctx.set(name, "finished")

        return Fn(name, work)

    definition = defn(
        "own-tasks",
        [Fn("fork"), branch("quick", timeout=True), branch("slow"), Fn("join")],
        [Edge("fork", "quick"), Edge("fork", "slow"), Edge("quick", "join"), Edge("slow", "join")],
    )
    instance = await engine.start_workflow(definition)
    await asyncio.wait_for(slow_started.wait(), 5)
    release_slow.set()
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"quick": "timed out", "slow": "finished"}
    assert tasks["quick"] is not tasks["slow"]
    assert asyncio.current_task() not in (tasks["quick"], tasks["slow"])


async def test_parallel_gateway_with_branch_subset(engine: LocalExecutionEngine) -> None:
    definition = defn(
        "subset",
        [
            ParallelGateway("fork", branches=["a", "b"]),
            Set("a", a=1),
            Set("b", b=1),
            Set("c", c=1),
            Set("join"),
        ],
        [Edge("fork", x) for x in "abc"] + [Edge(x, "join") for x in "abc"],
    )
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"a": 1, "b": 1}
    assert statuses(instance)["c"] == [StepStatus.SKIPPED]
    assert statuses(instance)["join"] == [StepStatus.SUCCEEDED]


async def test_conditional_edges_and_loop(engine: LocalExecutionEngine) -> None:
    definition = defn(
        "loop",
        [Fn("count", lambda ctx: ctx.set("n", ctx.get("n", 0) + 1)), Set("done", finished=True)],
        [Edge("count", "count", "context.get('n') < 4"), Edge("count", "done", "context.get('n') >= 4")],
    )
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"n": 4, "finished": True}
    assert len(instance.executions_of("count", StepStatus.SUCCEEDED)) == 4
    assert len(instance.executions_of("done", StepStatus.SUCCEEDED)) == 1


# ---------------------------------------------------------------------------- timers and webhooks


async def test_delay_step_waits_then_continues(engine: LocalExecutionEngine) -> None:
    definition = defn("delay", [DelayStep("pause", 0.01), Set("after", woke=True)], [Edge("pause", "after")])
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"woke": True}
    run = instance.executions_of("pause")[0]
    assert run.step_type == "timer"
    assert run.scheduled_for is not None


async def test_delay_duration_from_the_context(engine: LocalExecutionEngine) -> None:
    definition = defn(
        "delay_ctx",
        [DelayStep("pause", lambda ctx: timedelta(seconds=ctx.get("wait"))), Set("after", woke=True)],
        [Edge("pause", "after")],
    )
    instance = await engine.start_workflow(definition, {"wait": 0.01})
    await finish(engine, instance)
    assert instance.data["woke"] is True


async def test_scheduled_step_in_the_past_continues_at_once(engine: LocalExecutionEngine) -> None:
    past = datetime(2020, 1, 1, tzinfo=UTC)
    naive_past = datetime(2020, 1, 1)  # noqa: DTZ001 - naive means UTC
    definition = defn(
        "scheduled",
        [ScheduledStep("at", past), ScheduledStep("naive", naive_past), Set("after", ran=True)],
        [Edge("at", "naive"), Edge("naive", "after")],
    )
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.executions_of("naive")[0].scheduled_for == past
    assert instance.data == {"ran": True}


async def test_webhook_step_waits_for_delivery(engine: LocalExecutionEngine) -> None:
    schema = {"type": "object", "properties": {"paid": {"type": "boolean"}}, "required": ["paid"]}
    definition = defn(
        "webhook",
        [WebhookStep("payment", payload_key="payment_result", payload_schema=schema), Set("after", ok=True)],
        [Edge("payment", "after")],
    )
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.WAITING
    await engine.deliver_webhook(instance.id, "payment", {"paid": True, "ref": "x1"})
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"payment_result": {"paid": True, "ref": "x1"}, "ok": True}


# ---------------------------------------------------------------------------- groups


async def test_sequential_group_runs_in_order_sharing_the_context(engine: LocalExecutionEngine) -> None:
    group = SequentialGroup(
        "seq",
        [
            Fn("one", lambda ctx: ctx.set("trail", ["one"]) or 1),
            Never("skipped_inside"),
            Fn("two", lambda ctx: ctx.set("trail", [*ctx.get("trail"), "two"]) or 2),
        ],
    )
    instance = await engine.start_workflow(defn("seq_group", [group]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"trail": ["one", "two"]}
    assert instance.executions_of("seq")[0].result == [1, None, 2]


async def test_parallel_group_runs_concurrently(engine: LocalExecutionEngine) -> None:
    both_started = asyncio.Event()
    started: list[str] = []

    def member(name: str) -> Fn:
        async def work(ctx: WorkflowContext) -> str:
            started.append(name)
            if len(started) == 2:
                both_started.set()
            await both_started.wait()  # would deadlock if the members ran one after the other
            ctx.set(name, True)
            return name

        return Fn(name, work)

    group = ParallelGroup("par", [member("left"), member("right")])
    instance = await engine.start_workflow(defn("par_group", [group]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"left": True, "right": True}
    assert instance.executions_of("par")[0].result == ["left", "right"]


async def test_parallel_group_member_failure_fails_the_group(engine: LocalExecutionEngine) -> None:
    def boom(ctx: WorkflowContext) -> None:
        raise ValueError("member broke")

    group = ParallelGroup("par", [Set("fine", fine=True), Fn("bad", boom)])
    instance = await engine.start_workflow(defn("par_fail", [group]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.FAILED
    assert "member broke" in (instance.error or "")
    assert "'par'" in (instance.error or "")
    assert instance.data == {}


@pytest.mark.parametrize(("flag", "expected"), [(True, "yes"), (False, "no")])
async def test_conditional_group_picks_a_branch(
    engine: LocalExecutionEngine, flag: bool, expected: str
) -> None:
    async def condition(ctx: WorkflowContext) -> bool:
        return bool(ctx.get("flag"))

    group = ConditionalGroup("cond", condition, Set("yes_step", branch="yes"), Set("no_step", branch="no"))
    instance = await engine.start_workflow(defn("cond_group", [group]), {"flag": flag})
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data["branch"] == expected


async def test_conditional_group_without_else_does_nothing(engine: LocalExecutionEngine) -> None:
    group = ConditionalGroup("cond", lambda ctx: False, Set("yes_step", branch="yes"))
    instance = await engine.start_workflow(defn("cond_group_none", [group]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {}


# ---------------------------------------------------------------------------- retries and timeouts


async def test_retry_policy_retries_until_success(engine: LocalExecutionEngine) -> None:
    attempts: list[int] = []

    def flaky(ctx: WorkflowContext) -> str:
        attempts.append(ctx.attempt)
        ctx.set("partial", ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError(f"attempt {ctx.attempt} failed")
        return "finally"

    definition = defn(
        "flaky", [Fn("call", flaky, retry_policy=NO_DELAY), Set("after")], [Edge("call", "after")]
    )
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert attempts == [1, 2, 3]
    [run] = instance.executions_of("call")
    assert run.attempt == 3
    assert run.result == "finally"
    assert instance.data == {"partial": 3}


async def test_retry_policy_gives_up_after_max_attempts(engine: LocalExecutionEngine) -> None:
    attempts: list[int] = []

    def always(ctx: WorkflowContext) -> None:
        attempts.append(ctx.attempt)
        raise ConnectionError("down")

    definition = defn(
        "give_up", [Fn("call", always, retry_policy=NO_DELAY), Set("after")], [Edge("call", "after")]
    )
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.FAILED
    assert attempts == [1, 2, 3]
    assert "'call'" in (instance.error or "")
    assert "ConnectionError: down" in (instance.error or "")
    assert not instance.executions_of("after")


async def test_retry_policy_with_backoff_delay(engine: LocalExecutionEngine) -> None:
    policy = RetryPolicy(max_attempts=2, initial_delay=0.01, backoff=2.0, jitter=0)
    attempts: list[int] = []

    def once(ctx: WorkflowContext) -> None:
        attempts.append(ctx.attempt)
        if ctx.attempt == 1:
            raise ConnectionError("first")

    instance = await engine.start_workflow(defn("backoff", [Fn("call", once, retry_policy=policy)]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert attempts == [1, 2]
    assert policy.delay_for(1) == 0.01
    assert policy.delay_for(3) == 0.04


async def test_non_retryable_error_stops_retries(engine: LocalExecutionEngine) -> None:
    attempts: list[int] = []

    def fatal(ctx: WorkflowContext) -> None:
        attempts.append(ctx.attempt)
        raise NonRetryableError("card declined")

    instance = await engine.start_workflow(defn("fatal", [Fn("charge", fatal, retry_policy=NO_DELAY)]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.FAILED
    assert attempts == [1]
    assert "NonRetryableError: card declined" in (instance.error or "")


async def test_retry_on_limits_which_errors_are_retried(engine: LocalExecutionEngine) -> None:
    attempts: list[int] = []
    policy = RetryPolicy(max_attempts=3, initial_delay=0, jitter=0, retry_on=(ConnectionError,))

    def wrong_kind(ctx: WorkflowContext) -> None:
        attempts.append(ctx.attempt)
        raise KeyError("missing")

    instance = await engine.start_workflow(defn("retry_on", [Fn("step", wrong_kind, retry_policy=policy)]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.FAILED
    assert attempts == [1]


async def test_step_timeout_fails_with_step_timeout_error(engine: LocalExecutionEngine) -> None:
    async def hang(ctx: WorkflowContext) -> None:
        await asyncio.Event().wait()

    instance = await engine.start_workflow(defn("timeout", [Fn("slow", hang, timeout=0.02)]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.FAILED
    assert "StepTimeoutError" in (instance.error or "")
    assert "'slow'" in (instance.error or "")


async def test_timeout_attempts_are_retried(engine: LocalExecutionEngine) -> None:
    async def hang_first(ctx: WorkflowContext) -> str:
        if ctx.attempt == 1:
            await asyncio.Event().wait()
        return "second try"

    step = Fn("slow", hang_first, timeout=0.02, retry_policy=NO_DELAY)
    instance = await engine.start_workflow(defn("timeout_retry", [step]))
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.executions_of("slow")[0].attempt == 2


async def test_engine_retry_of_a_failed_instance(engine: LocalExecutionEngine) -> None:
    healed: set[str] = set()

    def fragile(ctx: WorkflowContext) -> None:
        if str(ctx.instance_id) not in healed:
            raise NonRetryableError("not yet")
        ctx.set("fixed", True)

    definition = defn(
        "retry_me", [Set("a", a=1), Fn("b", fragile), Set("c", c=1)], [Edge("a", "b"), Edge("b", "c")]
    )
    instance = await engine.start_workflow(definition)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.FAILED
    healed.add(str(instance.id))
    await engine.retry(instance.id)
    await finish(engine, instance)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"a": 1, "fixed": True, "c": 1}
    assert succeeded(instance) == ["a", "b", "c"]


# ---------------------------------------------------------------------------- cancel, pause, events


async def test_cancel_abandons_a_running_step(engine: LocalExecutionEngine) -> None:
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def block(ctx: WorkflowContext) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    instance = await engine.start_workflow(
        defn("cancel", [Fn("block", block), Set("never")], [Edge("block", "never")])
    )
    await started.wait()
    await engine.cancel_workflow(instance.id, "user gave up")
    await asyncio.wait_for(cancelled.wait(), 5)
    assert instance.status is WorkflowStatus.CANCELED
    assert instance.error == "user gave up"
    assert statuses(instance) == {"block": [StepStatus.CANCELED]}


async def test_pause_and_resume(registry: WorkflowRegistry) -> None:
    bus = EventBus()
    a_done = asyncio.Event()
    bus.subscribe(lambda e: a_done.set() if e.step_name == "a" else None, [StepCompleted])  # type: ignore[attr-defined]
    gate = asyncio.Event()

    async def gated(ctx: WorkflowContext) -> None:
        await gate.wait()

    async with LocalExecutionEngine(registry, event_bus=bus) as engine:
        definition = defn("pausable", [Fn("a", gated), Set("b", b=1)], [Edge("a", "b")])
        instance = await engine.start_workflow(definition)
        await engine.pause_workflow(instance.id)
        assert instance.status is WorkflowStatus.PAUSED
        gate.set()
        await asyncio.wait_for(a_done.wait(), 5)
        assert instance.status is WorkflowStatus.PAUSED
        assert statuses(instance) == {"a": [StepStatus.SUCCEEDED], "b": [StepStatus.SCHEDULED]}
        await engine.resume_workflow(instance.id)
        await finish(engine, instance)
        assert instance.status is WorkflowStatus.COMPLETED
        assert instance.data == {"b": 1}


async def test_event_bus_receives_events_in_order(registry: WorkflowRegistry) -> None:
    bus = EventBus()
    seen: list[tuple[str, str]] = []
    bus.subscribe(lambda e: seen.append((e.type, getattr(e, "step_name", ""))))
    async with LocalExecutionEngine(registry, event_bus=bus) as engine:
        definition = defn(
            "evented", [Set("a"), BaseHumanStep("h"), Set("b")], [Edge("a", "h"), Edge("h", "b")]
        )
        instance = await engine.start_workflow(definition)
        await engine.wait(instance.id, timeout=5)
        await engine.complete_human_task(instance.id, "h", "u", {})
        await finish(engine, instance)
    assert seen == [
        ("WorkflowStarted", ""),
        ("StepStarted", "a"),
        ("StepCompleted", "a"),
        ("StepStarted", "h"),
        ("HumanTaskCreated", "h"),
        ("HumanTaskCompleted", "h"),
        ("StepCompleted", "h"),
        ("StepStarted", "b"),
        ("StepCompleted", "b"),
        ("WorkflowCompleted", ""),
    ]


async def test_step_that_cancels_its_own_instance_logs_no_error(
    engine: LocalExecutionEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async def cancel_self(ctx: WorkflowContext) -> str:
        await engine.cancel_workflow(ctx.instance_id, "nothing to do")
        return "canceled"

    definition = defn("self_cancel", [Fn("a", cancel_self), Set("b")], [Edge("a", "b")])
    with caplog.at_level(logging.ERROR):
        instance = await engine.start_workflow(definition)
        await finish(engine, instance)
        await engine.stop()  # joins the step's task, which goes on after the cancel returned
    assert instance.status is WorkflowStatus.CANCELED
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
