"""The step library on its own: retry policy arithmetic, gateways, timers, webhooks, humans, groups."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    ConditionalGroup,
    DelayStep,
    ExclusiveGateway,
    NonRetryableError,
    ParallelGateway,
    ParallelGroup,
    RetryPolicy,
    ScheduledStep,
    SequentialGroup,
    StepType,
    WebhookStep,
    WorkflowContext,
)
from litestar_workflows.steps import GatewayStep, TimerStep

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def ctx(**data: Any) -> WorkflowContext:
    return WorkflowContext(workflow_id="wf", instance_id=UUID(int=1), data=dict(data))


class Recorder(BaseMachineStep):
    """Records its hook calls; optionally fails or refuses to run."""

    def __init__(self, name: str, *, fail: bool = False, run: bool = True, delay: bool = False) -> None:
        super().__init__(name)
        self.fail, self.run, self.delay = fail, run, delay
        self.calls: list[str] = []

    async def can_execute(self, context: WorkflowContext) -> bool:
        self.calls.append("can_execute")
        return self.run

    async def execute(self, context: WorkflowContext) -> Any:
        self.calls.append("execute")
        if self.delay:
            await asyncio.sleep(0)
        if self.fail:
            raise ValueError(f"{self.name} failed")
        context.set(self.name, True)
        return self.name

    async def on_success(self, context: WorkflowContext, result: Any) -> None:
        self.calls.append("on_success")

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        self.calls.append("on_failure")


# ---------------------------------------------------------------------------- retry policy


def test_retry_policy_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(max_attempts=10, initial_delay=1, backoff=3, max_delay=20, jitter=0)
    assert [policy.delay_for(a) for a in range(1, 6)] == [1, 3, 9, 20, 20]


def test_retry_policy_jitter_stays_within_bounds_and_is_seedable() -> None:
    policy = RetryPolicy(initial_delay=10, backoff=1, jitter=0.2)
    delays = [policy.delay_for(1, random.Random(seed)) for seed in range(200)]
    assert all(8 <= d <= 10 * 1.2 for d in delays)
    assert len(set(delays)) > 100
    assert policy.delay_for(1, random.Random(7)) == policy.delay_for(1, random.Random(7))


def test_retry_policy_jitter_never_exceeds_max_delay() -> None:
    policy = RetryPolicy(initial_delay=100, max_delay=100, jitter=1)
    assert all(0 <= policy.delay_for(3, random.Random(s)) <= 100 for s in range(100))


def test_retry_policy_decides_which_attempts_are_retried() -> None:
    policy = RetryPolicy(max_attempts=3, retry_on=(ConnectionError, TimeoutError))
    assert policy.should_retry(ConnectionError(), 1)
    assert policy.should_retry(TimeoutError(), 2)
    assert not policy.should_retry(ConnectionError(), 3)
    assert not policy.should_retry(ValueError(), 1)
    assert not RetryPolicy().should_retry(NonRetryableError("stop"), 1)
    custom = RetryPolicy(non_retryable=(KeyError,))
    assert not custom.should_retry(KeyError("k"), 1)
    assert custom.should_retry(NonRetryableError("no longer special"), 1)
    assert not RetryPolicy(max_attempts=1).should_retry(ConnectionError(), 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"initial_delay": -1},
        {"max_delay": -1},
        {"backoff": 0.5},
        {"jitter": 1.5},
        {"jitter": -0.1},
    ],
)
def test_retry_policy_rejects_nonsense(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**kwargs)


# ---------------------------------------------------------------------------- gateways


async def test_exclusive_gateway_with_sync_and_async_conditions() -> None:
    sync = ExclusiveGateway("g", condition=lambda c: "left" if c.get("x") else "right")
    assert await sync.choose(ctx(x=True)) == frozenset({"left"})
    assert await sync.choose(ctx(x=False)) == frozenset({"right"})

    async def chooser(c: WorkflowContext) -> str | None:
        return None if c.get("none") else "only"

    async_gw = ExclusiveGateway("g", condition=chooser)
    assert await async_gw.choose(ctx()) == frozenset({"only"})
    assert await async_gw.choose(ctx(none=True)) == frozenset()
    assert async_gw.step_type is StepType.GATEWAY


async def test_exclusive_gateway_subclass_overrides_evaluate() -> None:
    class ByAmount(ExclusiveGateway):
        async def evaluate(self, context: WorkflowContext) -> str | None:
            return "big" if context.get("amount") > 100 else "small"

    gateway = ByAmount("route")
    assert await gateway.choose(ctx(amount=500)) == frozenset({"big"})


async def test_exclusive_gateway_without_condition_explains_itself() -> None:
    with pytest.raises(NotImplementedError, match="'bare'"):
        await ExclusiveGateway("bare").choose(ctx())


async def test_parallel_gateway_routes() -> None:
    assert await ParallelGateway("fork").choose(ctx()) is None
    assert await ParallelGateway("fork", branches=["a", "b"]).choose(ctx()) == frozenset({"a", "b"})
    assert await GatewayStep("plain").choose(ctx()) is None


# ---------------------------------------------------------------------------- timers and webhooks


async def test_delay_step_wake_times() -> None:
    assert await DelayStep("d", 30).wake_time(ctx(), NOW) == NOW + timedelta(seconds=30)
    assert await DelayStep("d", timedelta(hours=1)).wake_time(ctx(), NOW) == NOW + timedelta(hours=1)
    from_ctx = DelayStep("d", lambda c: c.get("wait"))
    assert await from_ctx.wake_time(ctx(wait=5), NOW) == NOW + timedelta(seconds=5)

    async def async_duration(c: WorkflowContext) -> timedelta:
        return timedelta(minutes=c.get("minutes"))

    assert await DelayStep("d", async_duration).wake_time(ctx(minutes=2), NOW) == NOW + timedelta(minutes=2)
    assert await DelayStep("d").wake_time(ctx(), NOW) == NOW
    assert DelayStep("d").step_type is StepType.TIMER
    assert await TimerStep("t").wake_time(ctx(), NOW) == NOW


async def test_scheduled_step_wake_times() -> None:
    moment = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert await ScheduledStep("s", moment).wake_time(ctx(), NOW) == moment
    naive = datetime(2030, 1, 1, 9, 0)  # noqa: DTZ001 - naive means UTC
    assert await ScheduledStep("s", naive).wake_time(ctx(), NOW) == moment
    at_from_ctx = ScheduledStep("s", lambda c: datetime.fromisoformat(c.get("when")))
    assert await at_from_ctx.wake_time(ctx(when="2030-01-01T09:00:00+00:00"), NOW) == moment
    with pytest.raises(ValueError, match="'s'"):
        await ScheduledStep("s").wake_time(ctx(), NOW)


def test_webhook_step_payload_key() -> None:
    assert WebhookStep("hook").target_key == "hook"
    assert WebhookStep("hook", payload_key="result").target_key == "result"
    assert WebhookStep("hook").step_type is StepType.WEBHOOK


# ---------------------------------------------------------------------------- human steps


async def test_human_step_defaults_and_overrides() -> None:
    step = BaseHumanStep("approve")
    assert step.step_type is StepType.HUMAN
    assert await step.get_title(ctx()) == "approve"
    assert await step.get_assignee(ctx()) is None
    assert await step.get_form_schema(ctx()) is None

    keyed = BaseHumanStep("approve", title="Please approve", assignee="fixed", assignee_key="manager")
    assert await keyed.get_title(ctx()) == "Please approve"
    assert await keyed.get_assignee(ctx(manager=42)) == "42", "assignee_key wins and is a string"
    assert await keyed.get_assignee(ctx()) is None

    class Dynamic(BaseHumanStep):
        name = "dynamic"
        title = "class title"
        due_in = timedelta(days=1)

        async def get_form_schema(self, context: WorkflowContext) -> dict[str, Any] | None:
            return {"type": "object", "required": context.get("required", [])}

    dynamic = Dynamic()
    assert dynamic.name == "dynamic"
    assert await dynamic.get_title(ctx()) == "class title"
    assert await dynamic.get_form_schema(ctx(required=["x"])) == {"type": "object", "required": ["x"]}
    assert dynamic.due_in == timedelta(days=1)


def test_step_attributes_from_class_or_constructor() -> None:
    policy = RetryPolicy(max_attempts=2)

    class Configured(BaseMachineStep):
        name = "configured"
        description = "from the class"
        timeout = 5.0
        retry_policy = policy

    step = Configured()
    assert (step.name, step.description, step.timeout, step.retry_policy) == (
        "configured",
        "from the class",
        5.0,
        policy,
    )
    overridden = Configured("other", "from init", retry_policy=None, timeout=None)
    assert (overridden.name, overridden.description, overridden.timeout, overridden.retry_policy) == (
        "other",
        "from init",
        None,
        None,
    )
    assert repr(overridden) == "<Configured 'other'>"


# ---------------------------------------------------------------------------- groups


async def test_sequential_group_runs_hooks_and_stops_at_first_failure() -> None:
    first, refused, broken, never = (
        Recorder("first"),
        Recorder("refused", run=False),
        Recorder("broken", fail=True),
        Recorder("never"),
    )
    group = SequentialGroup("seq", [first, refused, broken, never])
    context = ctx()
    with pytest.raises(ValueError, match="broken failed"):
        await group.execute(context)
    assert first.calls == ["can_execute", "execute", "on_success"]
    assert refused.calls == ["can_execute"]
    assert broken.calls == ["can_execute", "execute", "on_failure"]
    assert never.calls == []
    assert context.data == {"first": True}


async def test_sequential_group_results_in_order() -> None:
    group = SequentialGroup("seq", [Recorder("a"), Recorder("skip", run=False), Recorder("b")])
    context = ctx()
    assert await group.execute(context) == ["a", None, "b"]
    assert context.data == {"a": True, "b": True}


async def test_parallel_group_finishes_every_member_before_failing() -> None:
    slow, broken = Recorder("slow", delay=True), Recorder("broken", fail=True)
    group = ParallelGroup("par", [broken, slow])
    context = ctx()
    with pytest.raises(ValueError, match="broken failed"):
        await group.execute(context)
    assert slow.calls == ["can_execute", "execute", "on_success"]
    assert broken.calls == ["can_execute", "execute", "on_failure"]
    assert context.data == {"slow": True}


async def test_parallel_group_results_in_declaration_order() -> None:
    group = ParallelGroup("par", [Recorder("late", delay=True), Recorder("early")])
    assert await group.execute(ctx()) == ["late", "early"]


async def test_conditional_group_branches() -> None:
    yes, no = Recorder("yes"), Recorder("no")
    group = ConditionalGroup("cond", lambda c: c.get("flag"), yes, no)
    assert await group.execute(ctx(flag=True)) == "yes"
    assert await group.execute(ctx(flag=False)) == "no"

    async def async_condition(c: WorkflowContext) -> bool:
        return True

    assert await ConditionalGroup("cond", async_condition, Recorder("t")).execute(ctx()) == "t"
    assert await ConditionalGroup("cond", lambda c: False, Recorder("t")).execute(ctx()) is None
    assert await ConditionalGroup("cond", lambda c: True, Recorder("t", run=False)).execute(ctx()) is None


@pytest.mark.parametrize("group", [SequentialGroup, ParallelGroup])
async def test_a_waiting_group_run_on_its_own_refuses_instead_of_skipping_the_wait(group: Any) -> None:
    # Only a definition can give each waiting member a step execution of its own.
    class Review(BaseHumanStep):
        title = "Review"

    with pytest.raises(NotImplementedError, match="holds a step that waits"):
        await group(Review("legal"), Review("tech"), name="reviews").execute(ctx())


def test_a_conditional_group_refuses_a_step_that_waits() -> None:
    class Review(BaseHumanStep):
        title = "Review"

    with pytest.raises(NotImplementedError, match=r"cannot hold a step that waits \('legal'\)"):
        ConditionalGroup("cond", lambda c: True, Review("legal"))
