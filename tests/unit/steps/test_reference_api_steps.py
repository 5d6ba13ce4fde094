"""Steps in the reference package's call forms: timers, groups, webhooks and gateways called directly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from litestar_workflows import (
    ConditionalGroup,
    Edge,
    ExclusiveGateway,
    LocalExecutionEngine,
    ParallelGateway,
    ParallelGroup,
    SequentialGroup,
    TimerStep,
    WebhookStep,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.types import StepType
from litestar_workflows.steps import DelayStep, StepGroup
from step_kit import Fn


def ctx(**data: Any) -> WorkflowContext:
    return WorkflowContext(workflow_id="w", instance_id=uuid4(), data=dict(data))


async def test_timer_step_takes_name_and_duration() -> None:
    fixed = TimerStep("wait", timedelta(minutes=5), "five minutes")
    assert (fixed.name, fixed.description, fixed.step_type) == ("wait", "five minutes", StepType.TIMER)
    assert fixed.get_duration(ctx()) == timedelta(minutes=5)
    dynamic = TimerStep(name="wait", duration=lambda c: timedelta(hours=c.get("hours")))
    assert dynamic.get_duration(ctx(hours=2)) == timedelta(hours=2)
    assert TimerStep("s", 90).get_duration(ctx()) == timedelta(seconds=90)
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert await dynamic.wake_time(ctx(hours=3), now) == now + timedelta(hours=3)
    assert issubclass(DelayStep, TimerStep)
    # Called directly it waits the duration; zero returns at once, with None as the reference does.
    assert await TimerStep("now", timedelta(0)).execute(ctx()) is None


async def test_timer_step_rejects_what_is_not_a_duration() -> None:
    with pytest.raises(TypeError, match="duration must be seconds or a timedelta"):
        TimerStep("bad", duration=lambda c: "soon").get_duration(ctx())  # type: ignore[arg-type,return-value]

    async def later(context: WorkflowContext) -> timedelta:
        return timedelta(seconds=1)

    with pytest.raises(TypeError, match="async duration"):
        TimerStep("async", duration=later).get_duration(ctx())


async def test_timer_step_in_a_workflow_waits_durably_instead_of_sleeping() -> None:
    definition = WorkflowDefinition(
        name="timed",
        steps={"wait": TimerStep("wait", timedelta(days=1)), "after": Fn("after")},
        edges=[Edge("wait", "after")],
        initial_step="wait",
    )
    async with LocalExecutionEngine(WorkflowRegistry()) as engine:
        instance = await engine.start_workflow(definition)
        waiting = await engine.wait(instance.id)
        assert waiting.current_step == "wait"
        [run] = waiting.executions_of("wait")
        assert run.scheduled_for is not None
        assert run.scheduled_for - run.started_at >= timedelta(days=1) - timedelta(seconds=1)  # type: ignore[operator]


class WaitForBusinessHours(TimerStep):
    """The steps guide's timer: a subclass whose ``get_delay`` says how long to wait."""

    name = "wait_for_business_hours"

    async def get_delay(self, context: WorkflowContext) -> timedelta:
        return timedelta(hours=context.get("hours"))


async def test_a_timer_subclass_with_get_delay_waits_what_it_returns() -> None:
    step = WaitForBusinessHours()
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert await step.wake_time(ctx(hours=5), now) == now + timedelta(hours=5)
    with pytest.raises(TypeError, match="async duration"):
        step.get_duration(ctx(hours=5))  # the synchronous accessor cannot await the hook

    class Plain(TimerStep):
        def get_delay(self, context: WorkflowContext) -> float:
            return 90.0

    assert Plain("plain").get_duration(ctx()) == timedelta(seconds=90)

    definition = WorkflowDefinition(
        name="business_hours",
        steps={"wait": step, "after": Fn("after")},
        edges=[Edge("wait", "after")],
        initial_step="wait",
    )
    async with LocalExecutionEngine(WorkflowRegistry()) as engine:
        instance = await engine.start_workflow(definition, {"hours": 3})
        waiting = await engine.wait(instance.id)
        assert (waiting.status, waiting.current_step) == (WorkflowStatus.WAITING, "wait")
        [run] = waiting.executions_of("wait")
        assert run.scheduled_for - run.started_at >= timedelta(hours=3) - timedelta(seconds=1)  # type: ignore[operator]


class Mark(Fn):
    def __init__(self, name: str) -> None:
        super().__init__(name, lambda c: c.set(name, True) or name)


async def test_groups_take_steps_positionally_and_an_engine() -> None:
    engine = LocalExecutionEngine(WorkflowRegistry())
    context = ctx()
    assert await SequentialGroup(Mark("a"), Mark("b")).execute(context, engine) == ["a", "b"]
    assert await ParallelGroup(Mark("c"), Mark("d")).execute(context) == ["c", "d"]
    chord = ParallelGroup(Mark("e"), Mark("f"), callback=Fn("total", lambda c: c.get("e") and c.get("f")))
    assert await chord.execute(context, engine) is True
    assert isinstance(chord, StepGroup)
    assert chord.name == ""  # named by its key in a definition's steps
    # Our own (name, [steps]) form still works beside it.
    assert (await SequentialGroup("seq", [Mark("g")]).execute(context), SequentialGroup("seq", []).name) == (
        ["g"],
        "seq",
    )


async def test_conditional_group_picks_a_branch_by_key() -> None:
    group = ConditionalGroup(lambda c: c.get("tier"), {"gold": Mark("gold"), "basic": Mark("basic")})
    assert await group.execute(ctx(tier="gold"), None) == "gold"
    assert await group.execute(ctx(tier="none")) is None
    legacy = ConditionalGroup("cond", lambda c: c.get("flag"), Mark("yes"), Mark("no"))
    assert (await legacy.execute(ctx(flag=True)), await legacy.execute(ctx(flag=False))) == ("yes", "no")


def test_groups_refuse_what_is_not_a_step() -> None:
    with pytest.raises(TypeError, match="holds steps"):
        SequentialGroup(Mark("a"), 42)
    with pytest.raises(TypeError, match="callback must be a step"):
        ParallelGroup(Mark("a"), callback="later")
    with pytest.raises(TypeError, match="callable condition"):
        ConditionalGroup("not callable", {"a": Mark("a")})


async def test_a_group_under_a_key_runs_in_a_workflow_named_by_that_key() -> None:
    definition = WorkflowDefinition(
        name="grouped", steps={"notify": ParallelGroup(Mark("mail"), Mark("sms"))}, initial_step="notify"
    )
    assert definition.steps["notify"].name == "notify"
    async with LocalExecutionEngine(WorkflowRegistry()) as engine:
        done = await engine.wait((await engine.start_workflow(definition)).id)
    assert (done.data["mail"], done.data["sms"]) == (True, True)


async def test_webhook_step_callback_key_is_the_payload_key() -> None:
    step = WebhookStep("payment", callback_key="payment_data")
    assert (step.callback_key, step.payload_key, step.target_key) == ("payment_data",) * 3
    assert await step.execute(ctx(payment_data={"paid": 1})) == {"paid": 1}
    assert await step.execute(ctx()) is None
    assert WebhookStep("hook").callback_key == "hook"  # default: the step's own name
    assert WebhookStep("hook", payload_key="p").callback_key == "p"
    with pytest.raises(ValueError, match="same setting"):
        WebhookStep("hook", callback_key="a", payload_key="b")


async def test_gateways_called_directly_return_their_choice() -> None:
    route = ExclusiveGateway("route", lambda c: "big" if c.get("amount") > 100 else "small")
    assert await route.execute(ctx(amount=500)) == "big"
    assert await route.execute(ctx(amount=5)) == "small"
    fork = ParallelGateway("fork", branches=["a", "b"])
    assert await fork.execute(ctx()) == ["a", "b"]


def test_a_webhook_step_with_a_callback_token_is_refused_when_built() -> None:
    class PaymentCallback(WebhookStep):
        """The steps concepts page's webhook: a token method this package does not support."""

        name = "payment_callback"

        async def get_callback_token(self, context: WorkflowContext) -> str:
            return f"payment-{context.instance_id}"

    with pytest.raises(NotImplementedError, match="get_callback_token"):
        PaymentCallback()
