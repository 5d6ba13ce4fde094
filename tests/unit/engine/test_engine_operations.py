"""Instance operations through the local engine: retry of branches, pause around waits, routing errors."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from litestar_workflows import (
    BaseHumanStep,
    DelayStep,
    Edge,
    EventBus,
    ExclusiveGateway,
    InvalidTransitionError,
    LocalExecutionEngine,
    NonRetryableError,
    StepCompleted,
    StepStatus,
    WebhookStep,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn, statuses

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from litestar_workflows import WorkflowContext, WorkflowEvent


def defn(name: str, steps: list[Any], edges: list[Edge] | None = None) -> WorkflowDefinition:
    return WorkflowDefinition(name=name, steps=steps, edges=edges or [], initial_step=steps[0].name)


class StepWatcher:
    """An event bus subscriber that lets a test wait for a step's completion."""

    def __init__(self, bus: EventBus) -> None:
        self.done: dict[str, asyncio.Event] = {}
        bus.subscribe(self, [StepCompleted])

    def __call__(self, event: WorkflowEvent) -> None:
        self.event(event.step_name).set()  # type: ignore[attr-defined]

    def event(self, step: str) -> asyncio.Event:
        return self.done.setdefault(step, asyncio.Event())

    async def completed(self, step: str) -> None:
        await asyncio.wait_for(self.event(step).wait(), 5)


@pytest.fixture
def registry() -> WorkflowRegistry:
    return WorkflowRegistry()


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
async def engine(registry: WorkflowRegistry, bus: EventBus) -> AsyncIterator[LocalExecutionEngine]:
    async with LocalExecutionEngine(registry, event_bus=bus) as eng:
        yield eng


async def test_retry_restarts_the_branch_the_failure_canceled(engine: LocalExecutionEngine) -> None:
    healed: list[bool] = []

    def fragile(ctx: WorkflowContext) -> None:
        if not healed:
            raise NonRetryableError("broken")
        ctx.set("fixed", True)

    definition = defn(
        "branches",
        [
            Fn("fork"),
            Fn("work", fragile),
            BaseHumanStep("approve"),
            Fn("join", lambda ctx: ctx.set("joined", [ctx.get("fixed"), ctx.get("ok")])),
        ],
        [Edge("fork", "work"), Edge("fork", "approve"), Edge("work", "join"), Edge("approve", "join")],
    )
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert "'work'" in (instance.error or "")
    tasks = (await engine.find_tasks(instance_id=instance.id)).items
    assert [t.status for t in tasks] in ([], ["canceled"])  # the task was canceled (or never created)
    healed.append(True)
    await engine.retry(instance.id)
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.WAITING
    await engine.complete_human_task(instance.id, "approve", "u", {"ok": True})
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"fixed": True, "ok": True, "joined": [True, True]}
    assert statuses(instance)["join"] == [StepStatus.SUCCEEDED]
    assert statuses(instance)["work"] == [StepStatus.FAILED, StepStatus.SUCCEEDED]


async def test_retry_from_an_earlier_step(engine: LocalExecutionEngine) -> None:
    calls: list[str] = []

    def fragile(ctx: WorkflowContext) -> None:
        calls.append("b")
        if len(calls) == 1:
            raise NonRetryableError("first time")

    definition = defn(
        "from_step",
        [Fn("a", lambda ctx: ctx.set("a", ctx.get("a", 0) + 1)), Fn("b", fragile)],
        [Edge("a", "b")],
    )
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    with pytest.raises(InvalidTransitionError, match="'nope'"):
        await engine.retry(instance.id, from_step="nope")
    await engine.retry(instance.id, from_step="a")
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"a": 2}
    assert calls == ["b", "b"]


async def test_pause_while_a_timer_waits(engine: LocalExecutionEngine, bus: EventBus) -> None:
    watcher = StepWatcher(bus)
    definition = defn(
        "timer_pause",
        [DelayStep("wait", 0.01), Fn("after", lambda ctx: ctx.set("after", 1))],
        [Edge("wait", "after")],
    )
    instance = await engine.start_workflow(definition)
    await engine.pause_workflow(instance.id)  # the timer step was already started: it may still finish
    await watcher.completed("wait")
    assert instance.status is WorkflowStatus.PAUSED
    assert statuses(instance) == {"wait": [StepStatus.SUCCEEDED], "after": [StepStatus.SCHEDULED]}
    await engine.resume_workflow(instance.id)
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"after": 1}


async def test_paused_instance_rejects_tasks_and_webhooks(engine: LocalExecutionEngine) -> None:
    definition = defn(
        "paused_inputs",
        [Fn("fork"), BaseHumanStep("approve"), WebhookStep("hook"), Fn("join")],
        [Edge("fork", "approve"), Edge("fork", "hook"), Edge("approve", "join"), Edge("hook", "join")],
    )
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.WAITING
    await engine.pause_workflow(instance.id)
    before = (instance.status, dict(instance.data), instance.version, len(instance.step_history))
    with pytest.raises(InvalidTransitionError, match="paused"):
        await engine.complete_human_task(instance.id, "approve", "u", {"ok": 1})
    with pytest.raises(InvalidTransitionError, match="paused"):
        await engine.deliver_webhook(instance.id, "hook", {"p": 1})
    assert (instance.status, dict(instance.data), instance.version, len(instance.step_history)) == before
    await engine.resume_workflow(instance.id)
    assert instance.status is WorkflowStatus.WAITING
    await engine.complete_human_task(instance.id, "approve", "u", {"ok": 1})
    await engine.deliver_webhook(instance.id, "hook", {"p": 1})
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"ok": 1, "hook": {"p": 1}}


async def test_cancel_while_waiting_for_a_timer(engine: LocalExecutionEngine) -> None:
    definition = defn("long_wait", [DelayStep("wait", 3600), Fn("after")], [Edge("wait", "after")])
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.WAITING
    await engine.cancel_workflow(instance.id, "stop")
    assert instance.status is WorkflowStatus.CANCELED
    assert statuses(instance) == {"wait": [StepStatus.CANCELED]}
    assert engine.get_running_instances() == []


async def test_cancel_while_waiting_for_a_task_cancels_the_task(engine: LocalExecutionEngine) -> None:
    instance = await engine.start_workflow(defn("task_cancel", [BaseHumanStep("approve")]))
    await engine.wait(instance.id, timeout=5)
    [task] = (await engine.find_tasks(instance_id=instance.id)).items
    await engine.cancel_workflow(instance.id)
    assert task.status == "canceled"
    assert (await engine.find_tasks(instance_id=instance.id, status="pending")).total == 0


@pytest.mark.parametrize(
    ("chooser", "fragment"),
    [
        (lambda ctx: "elsewhere", "elsewhere"),
        (lambda ctx: None, "no outgoing edge"),
        (lambda ctx: 1 / 0, "ZeroDivisionError"),
    ],
    ids=["non-successor", "nothing", "raises"],
)
async def test_gateway_routing_errors_fail_the_instance(
    engine: LocalExecutionEngine, chooser: Callable[[WorkflowContext], Any], fragment: str
) -> None:
    definition = defn(
        "bad_route",
        [ExclusiveGateway("gate", condition=chooser), Fn("a"), Fn("b")],
        [Edge("gate", "a"), Edge("gate", "b")],
    )
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert fragment in (instance.error or "")
    assert "'gate'" in (instance.error or "")
    assert "a" not in statuses(instance) or statuses(instance)["a"] != [StepStatus.SUCCEEDED]


async def test_edge_condition_failing_at_runtime_fails_the_instance(engine: LocalExecutionEngine) -> None:
    definition = defn("bad_edge", [Fn("a"), Fn("b")], [Edge("a", "b", "context.get('n') + 'x' == 1")])
    instance = await engine.start_workflow(definition, {"n": 1})
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert "could not be evaluated" in (instance.error or "")
    assert statuses(instance) == {"a": [StepStatus.SUCCEEDED]}


async def test_callable_edge_condition_sees_the_context(engine: LocalExecutionEngine) -> None:
    seen: list[Any] = []

    def condition(ctx: WorkflowContext) -> bool:
        seen.append((ctx.get("n"), ctx.workflow_id))
        return ctx.get("n") > 1

    definition = defn(
        "callable_edge", [Fn("a", lambda ctx: ctx.set("n", 2)), Fn("b")], [Edge("a", "b", condition)]
    )
    instance = await engine.start_workflow(definition, {"n": 0})
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED
    assert seen == [(2, "callable_edge")]
