"""Hundreds of concurrent instances of every step kind on one engine, each checked on its own."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from litestar_workflows import (
    BaseHumanStep,
    DelayStep,
    Edge,
    EventBus,
    ExclusiveGateway,
    LocalExecutionEngine,
    NonRetryableError,
    ParallelGateway,
    ParallelGroup,
    RetryPolicy,
    StepStatus,
    WebhookStep,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED
from step_kit import Fn as KitFn

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar_workflows import WorkflowContext, WorkflowEvent, WorkflowInstanceData

PER_KIND = 30


def Fn(name: str, fn: Callable[[WorkflowContext], Any], **kwargs: Any) -> KitFn:
    """Steps here first yield to the loop once, so that the instances interleave."""
    return KitFn(name, fn, interleave=True, **kwargs)


def put(key: str, compute: Callable[[WorkflowContext], Any]) -> Callable[[WorkflowContext], None]:
    return lambda ctx: ctx.set(key, compute(ctx))


def build_definitions(healed: set[str]) -> dict[str, WorkflowDefinition]:
    def flaky(ctx: WorkflowContext) -> None:
        if ctx.attempt < 3:
            raise ConnectionError(f"attempt {ctx.attempt}")
        ctx.set("attempts", ctx.attempt)

    def fragile(ctx: WorkflowContext) -> None:
        if str(ctx.instance_id) not in healed:
            raise NonRetryableError("not healed yet")
        ctx.set("repaired", ctx.get("i"))

    defs = [
        WorkflowDefinition(
            name="chain",
            steps=[
                Fn("s1", put("a", lambda c: c.get("i"))),
                Fn("s2", put("b", lambda c: c.get("a") * 2)),
                Fn("s3", put("c", lambda c: c.get("b") + 1)),
            ],
            edges=[Edge("s1", "s2"), Edge("s2", "s3")],
            initial_step="s1",
        ),
        WorkflowDefinition(
            name="fanout",
            steps=[
                ParallelGateway("fork"),
                Fn("x", put("x", lambda c: c.get("i") + 1)),
                Fn("y", put("y", lambda c: c.get("i") + 2)),
                ParallelGroup("z", [Fn("z1", put("z1", lambda c: 1)), Fn("z2", put("z2", lambda c: 2))]),
                Fn("join", put("total", lambda c: c.get("x") + c.get("y") + c.get("z1") + c.get("z2"))),
            ],
            edges=[Edge("fork", b) for b in "xyz"] + [Edge(b, "join") for b in "xyz"],
            initial_step="fork",
        ),
        WorkflowDefinition(
            name="route",
            steps=[
                ExclusiveGateway("gate", condition=lambda c: "even" if c.get("i") % 2 == 0 else "odd"),
                Fn("even", put("path", lambda c: "even")),
                Fn("odd", put("path", lambda c: "odd")),
                Fn("merge", put("merged", lambda c: True)),
            ],
            edges=[Edge("gate", "even"), Edge("gate", "odd"), Edge("even", "merge"), Edge("odd", "merge")],
            initial_step="gate",
        ),
        WorkflowDefinition(
            name="approval",
            steps=[
                ParallelGateway("fork"),
                BaseHumanStep("approve", assignee_key="owner"),
                Fn("check", put("checked", lambda c: True)),
                Fn("final", put("final", lambda c: c.get("approved") and c.get("checked"))),
            ],
            edges=[
                Edge("fork", "approve"),
                Edge("fork", "check"),
                Edge("approve", "final"),
                Edge("check", "final"),
            ],
            initial_step="fork",
        ),
        WorkflowDefinition(
            name="delay",
            steps=[DelayStep("wait", 0.01), Fn("after", put("woke", lambda c: c.get("i")))],
            edges=[Edge("wait", "after")],
            initial_step="wait",
        ),
        WorkflowDefinition(
            name="hook",
            steps=[WebhookStep("hook"), Fn("after", put("paid", lambda c: c.get("hook")["amount"]))],
            edges=[Edge("hook", "after")],
            initial_step="hook",
        ),
        WorkflowDefinition(
            name="flaky",
            steps=[Fn("call", flaky, retry_policy=RetryPolicy(max_attempts=3, initial_delay=0, jitter=0))],
            initial_step="call",
        ),
        WorkflowDefinition(
            name="fragile",
            steps=[
                Fn("prep", put("prepared", lambda c: True)),
                Fn("fix", fragile),
                Fn("end", put("end", lambda c: 1)),
            ],
            edges=[Edge("prep", "fix"), Edge("fix", "end")],
            initial_step="prep",
        ),
    ]
    return {d.name: d for d in defs}


def expected(kind: str, i: int) -> tuple[dict[str, Any], Counter[str]]:
    """The data and the succeeded steps each kind of instance must end with."""
    base = {"i": i, "owner": f"user{i % 7}"}
    if kind == "chain":
        return {**base, "a": i, "b": 2 * i, "c": 2 * i + 1}, Counter(["s1", "s2", "s3"])
    if kind == "fanout":
        data = {**base, "x": i + 1, "y": i + 2, "z1": 1, "z2": 2, "total": 2 * i + 6}
        return data, Counter(["fork", "x", "y", "z", "join"])
    if kind == "route":
        path = "even" if i % 2 == 0 else "odd"
        return {**base, "path": path, "merged": True}, Counter(["gate", path, "merge"])
    if kind == "approval":
        data = {**base, "approved": True, "checked": True, "final": True, "by": f"user{i % 7}"}
        return data, Counter(["fork", "approve", "check", "final"])
    if kind == "delay":
        return {**base, "woke": i}, Counter(["wait", "after"])
    if kind == "hook":
        return {**base, "hook": {"amount": i * 10}, "paid": i * 10}, Counter(["hook", "after"])
    if kind == "flaky":
        return {**base, "attempts": 3}, Counter(["call"])
    assert kind == "fragile"
    return {**base, "prepared": True, "repaired": i, "end": 1}, Counter(["prep", "fix", "end"])


async def test_hundreds_of_mixed_instances_all_reach_their_expected_end() -> None:
    healed: set[str] = set()
    definitions = build_definitions(healed)
    registry = WorkflowRegistry()
    for definition in definitions.values():
        registry.register(definition)
    bus = EventBus()
    completed_events: Counter[str] = Counter()

    def on_event(event: WorkflowEvent) -> None:
        if event.type == "WorkflowCompleted":
            completed_events[event.workflow_name] += 1

    bus.subscribe(on_event)
    async with LocalExecutionEngine(registry, event_bus=bus) as engine:
        plan = [(kind, i) for i in range(PER_KIND) for kind in definitions]
        instances: list[WorkflowInstanceData] = await asyncio.gather(
            *(engine.start_workflow(kind, {"i": i, "owner": f"user{i % 7}"}) for kind, i in plan)
        )
        assert len(instances) >= 200
        assert len({inst.id for inst in instances}) == len(instances)
        by_kind: dict[str, list[tuple[int, WorkflowInstanceData]]] = {}
        for (kind, i), instance in zip(plan, instances, strict=True):
            by_kind.setdefault(kind, []).append((i, instance))

        async def wait_for(kind: str, status: WorkflowStatus) -> None:
            await asyncio.gather(
                *(engine.wait(inst.id, until=status, timeout=10) for _, inst in by_kind[kind])
            )

        # People and outside systems act concurrently, while the other instances keep running.
        await asyncio.gather(
            wait_for("approval", WorkflowStatus.WAITING), wait_for("hook", WorkflowStatus.WAITING)
        )
        await asyncio.gather(
            *(
                engine.complete_human_task(
                    inst.id, "approve", f"user{i % 7}", {"approved": True, "by": f"user{i % 7}"}
                )
                for i, inst in by_kind["approval"]
            ),
            *(engine.deliver_webhook(inst.id, "hook", {"amount": i * 10}) for i, inst in by_kind["hook"]),
        )
        await wait_for("fragile", WorkflowStatus.FAILED)
        for _, inst in by_kind["fragile"]:
            assert "not healed yet" in (inst.error or "")
            healed.add(str(inst.id))
        await asyncio.gather(*(engine.retry(inst.id) for _, inst in by_kind["fragile"]))

        await asyncio.gather(*(engine.wait(inst.id, until=FINISHED, timeout=10) for inst in instances))
        assert engine.get_running_instances() == []

    for (kind, i), instance in zip(plan, instances, strict=True):
        data, steps = expected(kind, i)
        assert instance.status is WorkflowStatus.COMPLETED, (kind, i, instance.error)
        assert instance.data == data, (kind, i)
        ran = Counter(r.step_name for r in instance.step_history if r.status is StepStatus.SUCCEEDED)
        assert ran == steps, (kind, i)
        assert not instance.runtime.active
        assert not instance.runtime.pending_tasks
    for kind in definitions:
        assert completed_events[kind] == PER_KIND, kind
    fragile_failures = [
        r for _, inst in by_kind["fragile"] for r in inst.step_history if r.status is StepStatus.FAILED
    ]
    assert len(fragile_failures) == PER_KIND
    route_skips = Counter(
        r.step_name
        for _, inst in by_kind["route"]
        for r in inst.step_history
        if r.status is StepStatus.SKIPPED
    )
    assert route_skips == Counter({"odd": PER_KIND // 2, "even": PER_KIND - PER_KIND // 2})
