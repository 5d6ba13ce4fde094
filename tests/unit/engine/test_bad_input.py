"""Bad input to the local engine: each gets a clear error, and the instance is left as it was."""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from litestar_workflows import (
    AssigneeAuthorizer,
    BaseHumanStep,
    BaseMachineStep,
    BaseWorkflow,
    ContextSerializationError,
    Edge,
    EventBus,
    HumanTaskError,
    InvalidTransitionError,
    LocalExecutionEngine,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    TimerStep,
    UnauthorizedTaskError,
    WaitTimeoutError,
    WebhookStep,
    WorkflowAlreadyCompletedError,
    WorkflowDefinition,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar_workflows import HumanTask, WorkflowContext, WorkflowEvent, WorkflowInstanceData
    from litestar_workflows.runtime.human import TaskAction


class YieldingAuthorizer:
    """Allows everyone, but yields to the event loop first (as a real permission lookup would)."""

    async def can_act(self, task: HumanTask, user_id: str, action: str) -> bool:
        await asyncio.sleep(0)
        return True


def defn(name: str, steps: list[Any], edges: list[Edge] | None = None, **kwargs: Any) -> WorkflowDefinition:
    return WorkflowDefinition(name=name, steps=steps, edges=edges or [], initial_step=steps[0].name, **kwargs)


def snapshot(instance: WorkflowInstanceData) -> tuple[Any, ...]:
    return (
        instance.status,
        copy.deepcopy(instance.data),
        instance.version,
        len(instance.step_history),
        instance.error,
        sorted(str(t) for t in instance.runtime.pending_tasks),
    )


@pytest.fixture
def registry() -> WorkflowRegistry:
    return WorkflowRegistry()


@pytest.fixture
async def engine(registry: WorkflowRegistry) -> AsyncIterator[LocalExecutionEngine]:
    async with LocalExecutionEngine(registry) as eng:
        yield eng


def two_approvals(**first: Any) -> WorkflowDefinition:
    schema = {
        "type": "object",
        "properties": {"amount": {"type": "integer", "minimum": 0}, "note": {"type": "string"}},
        "required": ["amount"],
    }
    return defn(
        "approvals",
        [BaseHumanStep("first", form_schema=schema, **first), BaseHumanStep("second"), Fn("done")],
        [Edge("first", "second"), Edge("second", "done")],
    )


async def waiting(engine: LocalExecutionEngine, definition: Any, data: dict[str, Any] | None = None) -> Any:
    instance = await engine.start_workflow(definition, data)
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.WAITING
    return instance


# ---------------------------------------------------------------------------- definitions and starting


async def test_unknown_workflow_name(engine: LocalExecutionEngine) -> None:
    with pytest.raises(WorkflowNotFoundError, match="'nope'") as info:
        await engine.start_workflow("nope")
    assert isinstance(info.value, KeyError)
    assert "not registered" in str(info.value)
    assert engine.get_all_instances() == []


async def test_unknown_version(engine: LocalExecutionEngine, registry: WorkflowRegistry) -> None:
    registry.register(defn("known", [Fn("a")], version="1.0.0"))
    with pytest.raises(WorkflowNotFoundError) as info:
        await engine.start_workflow("known", version="7.7.7")
    assert "'known'" in str(info.value)
    assert "'7.7.7'" in str(info.value)
    assert engine.get_all_instances() == []


class VersionedClass(BaseWorkflow):
    __workflow_name__ = "versioned_class"
    __workflow_version__ = "1.0.0"
    steps = [Fn("a")]
    edges: list[Edge] = []
    initial_step = "a"


async def test_unknown_version_of_a_workflow_class(engine: LocalExecutionEngine) -> None:
    with pytest.raises(WorkflowNotFoundError, match="'2.0.0'"):
        await engine.start_workflow(VersionedClass, version="2.0.0")
    assert engine.get_all_instances() == []


def refused(definition: WorkflowDefinition) -> WorkflowValidationError:
    """The error registering ``definition`` raises (an invalid definition may be built, never registered)."""
    with pytest.raises(WorkflowValidationError) as info:
        WorkflowRegistry().register_definition(definition)
    assert info.value.errors == definition.validate()
    return info.value


async def test_invalid_definition_lists_every_problem(engine: LocalExecutionEngine) -> None:
    broken = WorkflowDefinition(
        name="broken",
        steps=[Fn("a"), Fn("b")],
        edges=[Edge("a", "ghost"), Edge("a", "b"), Edge("a", "b")],
        initial_step="missing",
        terminal_steps={"phantom"},
    )
    error = refused(broken)
    errors = error.errors
    assert len(errors) >= 4
    text = str(error)
    for fragment in ("'ghost'", "'missing'", "declared twice", "'phantom'"):
        assert fragment in text
        assert any(fragment in error for error in errors)
    # Starting it directly is refused the same way, and nothing runs.
    with pytest.raises(WorkflowValidationError) as started:
        await engine.start_workflow(broken)
    assert started.value.errors == errors
    assert engine.get_all_instances() == []
    assert not engine.registry.has_definition("broken")


def test_unreachable_steps_and_terminal_with_edges_are_reported_together() -> None:
    error = refused(
        WorkflowDefinition(
            name="broken",
            steps=[Fn("a"), Fn("b"), Fn("island")],
            edges=[Edge("a", "b")],
            initial_step="a",
            terminal_steps={"a"},
        )
    )
    assert len(error.errors) == 2
    assert "island" in str(error)
    assert "terminal step 'a' has outgoing edges" in str(error)


@pytest.mark.parametrize(
    "expression",
    ["context.get('x') >>> 1", "__import__('os').system('true')", "context.get('x').__class__", "lambda: 1"],
)
def test_bad_edge_expression_is_named(expression: str) -> None:
    error = refused(
        WorkflowDefinition(
            name="bad_expr", steps=[Fn("a"), Fn("b")], edges=[Edge("a", "b", expression)], initial_step="a"
        )
    )
    assert "'a' -> 'b'" in str(error)


async def _never_true(context: WorkflowContext) -> bool:
    return False


def test_an_async_edge_condition_is_refused_not_taken_as_true() -> None:
    error = refused(
        WorkflowDefinition(
            name="async_condition",
            steps=[Fn("a"), Fn("b"), Fn("c")],
            edges=[Edge("a", "b", condition=_never_true), Edge("a", "c")],
            initial_step="a",
        )
    )
    assert "edge 'a' -> 'b': edge condition _never_true is an async function" in str(error)


async def test_a_condition_that_returns_a_coroutine_fails_the_instance(engine: LocalExecutionEngine) -> None:
    """A plain callable returning a coroutine cannot be seen when the definition is built."""
    definition = WorkflowDefinition(
        name="async_in_disguise",
        steps=[Fn("a"), Fn("b"), Fn("c")],
        edges=[Edge("a", "b", condition=lambda context: _never_true(context)), Edge("a", "c")],
        initial_step="a",
    )
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert "is an async function" in (instance.error or "")
    assert [run.step_name for run in instance.step_history if run.step_name == "b"] == []


async def test_nan_and_infinities_are_refused_not_stored_as_null(engine: LocalExecutionEngine) -> None:
    with pytest.raises(
        ContextSerializationError, match=r"initial_data\['amount'\] is nan, which has no JSON form"
    ):
        await engine.start_workflow(defn("nan", [Fn("a")]), {"amount": float("nan"), "fine": None})
    assert engine.get_all_instances() == []
    writes = Fn("a", lambda context: context.set("ratio", [1.0, float("-inf")]))
    instance = await engine.start_workflow(defn("inf", [writes]), {"fine": None})
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert "context['ratio'][1] is -inf, which has no JSON form" in (instance.error or "")
    assert instance.data == {"fine": None}  # nothing of the failed step was applied


def test_two_steps_of_a_list_with_one_name_are_refused() -> None:
    error = refused(WorkflowDefinition(name="twins", steps=[Fn("a"), Fn("a")], edges=[], initial_step="a"))
    assert error.errors == ["step name 'a' is given to more than one step of the list"]


async def test_non_json_initial_data_names_the_key(engine: LocalExecutionEngine) -> None:
    with pytest.raises(ContextSerializationError, match="'when'") as info:
        await engine.start_workflow(defn("json", [Fn("a")]), {"fine": 1, "when": object()})
    assert isinstance(info.value, WorkflowValidationError)
    with pytest.raises(ContextSerializationError, match="non-string key"):
        await engine.start_workflow(defn("json", [Fn("a")]), {1: "x"})
    assert engine.get_all_instances() == []


async def test_unknown_instance_id(engine: LocalExecutionEngine) -> None:
    missing = UUID(int=12345)
    with pytest.raises(WorkflowInstanceNotFoundError):
        await engine.get_instance(missing)
    with pytest.raises(WorkflowInstanceNotFoundError):
        await engine.cancel_workflow(missing)
    with pytest.raises(WorkflowInstanceNotFoundError):
        await engine.complete_human_task("not-a-uuid", "x", "u")  # type: ignore[arg-type]
    with pytest.raises(TaskNotFoundError):
        await engine.complete_task(missing, "u")


# ---------------------------------------------------------------------------- human tasks


async def test_form_data_failing_the_schema(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, two_approvals())
    before = snapshot(instance)
    with pytest.raises(TaskValidationError) as info:
        await engine.complete_human_task(instance.id, "first", "u", {"amount": -5, "note": 3})
    assert any(error.startswith("amount") for error in info.value.errors)
    assert any(error.startswith("note") for error in info.value.errors)
    assert "'first'" in str(info.value)
    with pytest.raises(TaskValidationError) as info:
        await engine.complete_human_task(instance.id, "first", "u", {})
    assert [error.split(":")[0] for error in info.value.errors] == ["amount"]
    assert snapshot(instance) == before
    await engine.complete_human_task(instance.id, "first", "u", {"amount": 5})
    assert instance.data == {"amount": 5}


async def test_completing_a_task_the_instance_does_not_wait_for(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, two_approvals())
    before = snapshot(instance)
    with pytest.raises(InvalidTransitionError, match="'second'"):
        await engine.complete_human_task(instance.id, "second", "u", {})
    with pytest.raises(InvalidTransitionError, match="'done'"):
        await engine.complete_human_task(instance.id, "done", "u", {})
    assert snapshot(instance) == before


async def test_completing_a_task_twice(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, two_approvals())
    [task] = (await engine.find_tasks(instance_id=instance.id)).items
    await engine.complete_human_task(instance.id, "first", "u", {"amount": 1})
    await engine.wait(instance.id, timeout=5)
    before = snapshot(instance)
    with pytest.raises(TaskAlreadyCompletedError):
        await engine.complete_human_task(instance.id, "first", "u", {"amount": 2})
    with pytest.raises(TaskAlreadyCompletedError):
        await engine.complete_task(task.id, "u", {"amount": 2})
    assert snapshot(instance) == before
    assert instance.data == {"amount": 1}


async def test_completing_the_last_task_twice(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, defn("last", [BaseHumanStep("only")]))
    await engine.complete_human_task(instance.id, "only", "u", {})
    assert instance.status is WorkflowStatus.COMPLETED
    with pytest.raises(TaskAlreadyCompletedError):
        await engine.complete_human_task(instance.id, "only", "u", {})


async def test_completing_an_unknown_step(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, two_approvals())
    before = snapshot(instance)
    with pytest.raises(TaskNotFoundError, match="'ghost'"):
        await engine.complete_human_task(instance.id, "ghost", "u", {})
    assert snapshot(instance) == before


@pytest.mark.parametrize("how", ["assignee", "assignee_key"])
async def test_completing_as_an_unauthorized_user(engine: LocalExecutionEngine, how: str) -> None:
    kwargs = {"assignee": "alice"} if how == "assignee" else {"assignee_key": "owner"}
    instance = await waiting(engine, two_approvals(**kwargs), {"owner": "alice"})
    before = snapshot(instance)
    with pytest.raises(UnauthorizedTaskError, match="'mallory'"):
        await engine.complete_human_task(instance.id, "first", "mallory", {"amount": 1})
    with pytest.raises(UnauthorizedTaskError):
        await engine.complete_human_task(instance.id, "first", "", {"amount": 1})
    assert snapshot(instance) == before
    await engine.complete_human_task(instance.id, "first", "alice", {"amount": 1})
    assert instance.executions_of("first")[0].completed_by == "alice"


async def test_group_membership_is_checked_when_a_resolver_is_given(registry: WorkflowRegistry) -> None:
    from litestar_workflows import AssigneeAuthorizer

    groups = {"gina": ["finance"], "otto": ["ops"]}
    authorizer = AssigneeAuthorizer(groups_of=lambda user: groups.get(user, []))
    async with LocalExecutionEngine(registry, authorizer=authorizer) as engine:
        instance = await waiting(engine, defn("group", [BaseHumanStep("pay", assignee_group="finance")]))
        before = snapshot(instance)
        with pytest.raises(UnauthorizedTaskError):
            await engine.complete_human_task(instance.id, "pay", "otto", {})
        assert snapshot(instance) == before
        await engine.complete_human_task(instance.id, "pay", "gina", {})
        assert instance.status is WorkflowStatus.COMPLETED


async def test_task_data_that_is_not_json(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, defn("task_json", [BaseHumanStep("h")]))
    before = snapshot(instance)
    with pytest.raises(ContextSerializationError, match="'blob'"):
        await engine.complete_human_task(instance.id, "h", "u", {"blob": object()})
    assert snapshot(instance) == before


@pytest.mark.parametrize("authorizer", [None, YieldingAuthorizer()], ids=["default", "yielding"])
async def test_concurrent_completions_of_one_task(registry: WorkflowRegistry, authorizer: Any) -> None:
    async with LocalExecutionEngine(registry, authorizer=authorizer) as engine:
        instance = await waiting(engine, two_approvals())
        results = await asyncio.gather(
            engine.complete_human_task(instance.id, "first", "ann", {"amount": 1}),
            engine.complete_human_task(instance.id, "first", "bob", {"amount": 2}),
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1, results
        assert isinstance(errors[0], TaskAlreadyCompletedError)
        winner = "ann" if results[0] is instance else "bob"
        assert instance.executions_of("first")[0].completed_by == winner
        assert instance.data == {"amount": 1 if winner == "ann" else 2}
        assert len(instance.executions_of("second")) == 1


async def test_concurrent_completions_by_task_id(registry: WorkflowRegistry) -> None:
    async with LocalExecutionEngine(registry, authorizer=YieldingAuthorizer()) as engine:
        instance = await waiting(engine, defn("by_id", [BaseHumanStep("only")]))
        [task] = (await engine.find_tasks(instance_id=instance.id)).items
        results = await asyncio.gather(
            *(engine.complete_task(task.id, f"user{i}", {"i": i}) for i in range(5)), return_exceptions=True
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 4, results
        assert all(isinstance(e, TaskAlreadyCompletedError) for e in errors)
        assert instance.status is WorkflowStatus.COMPLETED
        assert len(instance.executions_of("only")) == 1


class YieldingGroupRule(AssigneeAuthorizer):
    """The default rule, after a yield to the event loop (as a permission lookup would)."""

    async def can_act(self, task: HumanTask, user_id: str, action: TaskAction, groups: Any = None) -> bool:
        await asyncio.sleep(0)
        return await super().can_act(task, user_id, action, groups)


@pytest.mark.parametrize(
    "authorizer", [YieldingAuthorizer(), YieldingGroupRule()], ids=["allows_all", "default"]
)
async def test_concurrent_claims_of_a_group_task(registry: WorkflowRegistry, authorizer: Any) -> None:
    """One claim wins; each other is told who holds the task (409 over REST): not taken over by a
    claim whose authorizer awaited meanwhile, nor refused as unauthorized (403)."""
    async with LocalExecutionEngine(registry, authorizer=authorizer) as engine:
        instance = await waiting(engine, defn("claims", [BaseHumanStep("only", assignee_group="ops")]))
        [task] = (await engine.find_tasks(instance_id=instance.id)).items
        claims = (engine.claim_task(task.id, f"user{i}", groups=["ops"]) for i in range(5))
        results = await asyncio.gather(*claims, return_exceptions=True)
        [winner] = [r for r in results if not isinstance(r, BaseException)]
        holder = winner.assignee_id
        losers = [r for r in results if isinstance(r, BaseException)]
        assert [type(e) for e in losers] == [HumanTaskError] * 4, losers
        assert all(f"already assigned to {holder!r}" in str(e) for e in losers)
        [stored] = (await engine.find_tasks(instance_id=instance.id)).items
        assert stored.assignee_id == holder
        assert instance.executions_of("only")[0].assigned_to == holder


def test_invalid_form_or_payload_schema_is_rejected_with_the_definition() -> None:
    error = refused(
        defn(
            "bad_schema",
            [
                BaseHumanStep("h", form_schema={"type": "no-such-type"}),
                WebhookStep("w", payload_schema={"type": 5}),
            ],
            [Edge("h", "w")],
        )
    )
    assert len(error.errors) == 2
    assert "'h'" in error.errors[0]
    assert "'w'" in error.errors[1]


async def test_an_invalid_form_schema_built_by_the_step_fails_the_step(engine: LocalExecutionEngine) -> None:
    class DynamicSchema(BaseHumanStep):
        async def get_form_schema(self, context: WorkflowContext) -> dict[str, Any] | None:
            return {"type": "no-such-type"}

    instance = await engine.start_workflow(defn("dyn_schema", [DynamicSchema("h")]))
    await engine.wait(instance.id, timeout=5)
    assert instance.status is WorkflowStatus.FAILED  # no task that nobody could ever complete
    assert "step 'h' has an invalid form schema" in (instance.error or "")
    assert (await engine.find_tasks(instance_id=instance.id)).items == []


# ---------------------------------------------------------------------------- webhooks


async def test_webhook_payload_failing_its_schema_keeps_waiting(engine: LocalExecutionEngine) -> None:
    schema = {
        "type": "object",
        "properties": {"status": {"enum": ["paid", "refused"]}},
        "required": ["status"],
    }
    definition = defn(
        "hook", [WebhookStep("hook", payload_schema=schema), Fn("after")], [Edge("hook", "after")]
    )
    instance = await waiting(engine, definition)
    before = snapshot(instance)
    with pytest.raises(TaskValidationError) as info:
        await engine.deliver_webhook(instance.id, "hook", {"status": "maybe"})
    assert info.value.errors[0].startswith("status")
    with pytest.raises(InvalidTransitionError, match="'after'"):
        await engine.deliver_webhook(instance.id, "after", {"status": "paid"})
    with pytest.raises(ContextSerializationError):
        await engine.deliver_webhook(instance.id, "hook", {"status": {1, 2}})
    assert snapshot(instance) == before
    await engine.deliver_webhook(instance.id, "hook", {"status": "paid"})
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.data == {"hook": {"status": "paid"}}
    with pytest.raises(WorkflowAlreadyCompletedError):
        await engine.deliver_webhook(instance.id, "hook", {"status": "paid"})


# ---------------------------------------------------------------------------- instance operations


@pytest.mark.parametrize("state", ["waiting", "completed", "canceled"])
async def test_retry_of_a_non_failed_instance(engine: LocalExecutionEngine, state: str) -> None:
    instance = await waiting(engine, defn("retry_bad", [BaseHumanStep("h")]))
    if state == "completed":
        await engine.complete_human_task(instance.id, "h", "u", {})
    elif state == "canceled":
        await engine.cancel_workflow(instance.id)
    assert instance.status == state
    before = snapshot(instance)
    with pytest.raises(InvalidTransitionError, match="only a failed instance"):
        await engine.retry(instance.id)
    assert snapshot(instance) == before


async def test_cancel_of_a_finished_instance(engine: LocalExecutionEngine) -> None:
    instance = await engine.start_workflow(defn("quick", [Fn("a")]))
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    before = snapshot(instance)
    with pytest.raises(WorkflowAlreadyCompletedError):
        await engine.cancel_workflow(instance.id)
    with pytest.raises(InvalidTransitionError):
        await engine.pause_workflow(instance.id)
    with pytest.raises(InvalidTransitionError):
        await engine.resume_workflow(instance.id)
    assert snapshot(instance) == before


async def test_schedule_step_is_not_supported(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, defn("manual", [BaseHumanStep("h")]))
    with pytest.raises(NotImplementedError, match="retry"):
        await engine.schedule_step(instance.id, "h")


# ---------------------------------------------------------------------------- steps that misbehave


async def test_step_storing_a_non_json_value_fails_the_instance_only(engine: LocalExecutionEngine) -> None:
    bad = defn(
        "bad_value",
        [Fn("store", lambda ctx: ctx.set("handle", object())), Fn("after")],
        [Edge("store", "after")],
    )
    instance = await engine.start_workflow(bad, {"keep": 1})
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert "'handle'" in (instance.error or "")
    assert "'store'" in (instance.error or "")
    assert "ContextSerializationError" in (instance.error or "")
    assert instance.data == {"keep": 1}
    assert not instance.executions_of("after")
    good = await engine.start_workflow(defn("good_value", [Fn("store", lambda ctx: ctx.set("n", 1))]))
    await engine.wait(good.id, until=FINISHED, timeout=5)
    assert good.status is WorkflowStatus.COMPLETED
    assert good.data == {"n": 1}


async def test_step_returning_a_non_json_result_fails(engine: LocalExecutionEngine) -> None:
    instance = await engine.start_workflow(defn("bad_result", [Fn("ret", lambda ctx: {1, 2, 3})]))
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert "'ret'" in (instance.error or "")


class RaisingBus:
    """An event bus whose emit always raises."""

    def __init__(self) -> None:
        self.calls = 0

    async def emit(self, event: WorkflowEvent) -> None:
        self.calls += 1
        raise RuntimeError("bus is down")


async def test_event_bus_that_raises_does_not_break_the_workflow(
    registry: WorkflowRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    bus = RaisingBus()
    with caplog.at_level(logging.ERROR, logger="litestar_workflows"):
        async with LocalExecutionEngine(registry, event_bus=bus) as engine:  # type: ignore[arg-type]
            instance = await engine.start_workflow(defn("bus", [Fn("a"), Fn("b")], [Edge("a", "b")]))
            await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED
    assert bus.calls >= 5
    assert "bus is down" in caplog.text
    assert any("WorkflowCompleted" in r.getMessage() for r in caplog.records)


async def test_event_subscriber_that_raises_is_logged_and_others_still_run(
    registry: WorkflowRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus()
    received: list[str] = []

    def broken(event: WorkflowEvent) -> None:
        raise ValueError("subscriber bug")

    async def fine(event: WorkflowEvent) -> None:
        received.append(event.type)

    bus.subscribe(broken)
    bus.subscribe(fine)
    with caplog.at_level(logging.ERROR, logger="litestar_workflows"):
        async with LocalExecutionEngine(registry, event_bus=bus) as engine:
            instance = await engine.start_workflow(defn("sub", [Fn("a")]))
            await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED
    assert received == ["WorkflowStarted", "StepStarted", "StepCompleted", "WorkflowCompleted"]
    assert "subscriber bug" in caplog.text
    assert len([r for r in caplog.records if "failed on" in r.getMessage()]) == 4


async def test_failing_on_failure_hook_keeps_the_original_error(engine: LocalExecutionEngine) -> None:
    class BadHook(BaseMachineStep):
        async def execute(self, context: WorkflowContext) -> None:
            raise ValueError("original")

        async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
            raise RuntimeError("hook broke")

    instance = await engine.start_workflow(defn("hook", [BadHook("step")]))
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert "original" in (instance.error or "")
    assert "hook broke" in (instance.error or "")


async def test_claiming_or_reassigning_a_task_that_is_not_yours(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, defn("claim", [BaseHumanStep("h", assignee="alice")]))
    [task] = (await engine.find_tasks(instance_id=instance.id)).items
    before = snapshot(instance)
    with pytest.raises(HumanTaskError, match="'alice'"):
        await engine.claim_task(task.id, "bob")
    with pytest.raises(UnauthorizedTaskError):
        await engine.reassign_task(task.id, "bob", user_id="bob")
    assert snapshot(instance) == before
    assert task.assignee_id == "alice"
    assert await engine.claim_task(task.id, "alice") is task  # claiming your own task is a no-op
    assert snapshot(instance) == before
    await engine.complete_human_task(instance.id, "h", "alice", {})
    with pytest.raises(TaskAlreadyCompletedError):
        await engine.reassign_task(task.id, "bob")


async def test_claiming_a_task_that_is_not_pending_fails_for_its_assignee_too(
    engine: LocalExecutionEngine,
) -> None:
    steps = [BaseHumanStep("h", assignee="alice"), BaseHumanStep("next")]
    instance = await waiting(engine, defn("claim_done", steps, [Edge("h", "next")]))
    [task] = (await engine.find_tasks(instance_id=instance.id)).items
    await engine.complete_human_task(instance.id, "h", "alice", {})
    await engine.wait(instance.id, timeout=5)
    assert instance.current_step == "next"  # still running: only the task is done
    before = snapshot(instance)
    for user in ("bob", "alice"):  # the assignee is refused like anyone else
        with pytest.raises(TaskAlreadyCompletedError, match="not pending any more"):
            await engine.claim_task(task.id, user)
    assert snapshot(instance) == before


async def test_a_task_is_never_reassigned_to_someone_who_may_not_complete_it(
    registry: WorkflowRegistry,
) -> None:
    class NotBob(AssigneeAuthorizer):
        async def can_act(self, task: HumanTask, user_id: str, action: TaskAction) -> bool:
            return user_id != "bob" and await super().can_act(task, user_id, action)

    async with LocalExecutionEngine(registry, authorizer=NotBob()) as engine:
        instance = await waiting(engine, defn("handover", [BaseHumanStep("h", assignee="alice")]))
        [task] = (await engine.find_tasks(instance_id=instance.id)).items
        before = snapshot(instance)
        with pytest.raises(
            UnauthorizedTaskError, match="cannot be reassigned to 'bob': they may not complete it"
        ):
            await engine.reassign_task(task.id, "bob", user_id="alice")
        assert snapshot(instance) == before
        assert (await engine.reassign_task(task.id, "carol", user_id="alice")).assignee_id == "carol"
        await engine.complete_human_task(instance.id, "h", "carol", {})
        assert (await engine.wait(instance.id, timeout=5)).status is WorkflowStatus.COMPLETED
        routed = await waiting(engine, defn("routed", [BaseHumanStep("h", assignee="bob")]))
        with pytest.raises(
            UnauthorizedTaskError, match="assigned to them, but the task authorizer refuses it"
        ):
            await engine.complete_human_task(routed.id, "h", "bob", {})


async def test_wait_timeout_leaves_the_instance_alone(engine: LocalExecutionEngine) -> None:
    instance = await waiting(engine, defn("slow", [BaseHumanStep("h")]))
    before = snapshot(instance)
    with pytest.raises(TimeoutError) as info:
        await engine.wait(instance.id, until=WorkflowStatus.COMPLETED, timeout=0.01)
    assert info.type is WaitTimeoutError
    assert (
        str(info.value)
        == f"instance {instance.id} did not reach completed within 0.01s; it is waiting at step 'h'"
    )
    assert (info.value.instance_id, info.value.until, info.value.status, info.value.step) == (
        instance.id,
        ("completed",),
        "waiting",
        "h",
    )
    assert snapshot(instance) == before
    await engine.complete_human_task(instance.id, "h", "u", {})
    assert (await engine.wait(instance.id, until=WorkflowStatus.COMPLETED, timeout=5)) is instance


@pytest.mark.parametrize(
    ("option", "value", "error", "says"),
    [
        ("idle_cache_size", -1, ValueError, "idle_cache_size must be 0 or more, not -1"),
        ("idle_cache_size", "10", TypeError, "idle_cache_size must be an integer, not str"),
        ("finished_cache_bytes", -5, ValueError, "finished_cache_bytes must be 0 or more, not -5"),
        ("finished_cache_bytes", 1.5, TypeError, "finished_cache_bytes must be an integer, not float"),
        ("finished_cache_bytes", True, TypeError, "finished_cache_bytes must be an integer, not bool"),
    ],
)
def test_cache_bounds_that_are_not_counts_are_refused_when_the_engine_is_built(
    registry: WorkflowRegistry, option: str, value: Any, error: type[Exception], says: str
) -> None:
    with pytest.raises(error, match=says):
        LocalExecutionEngine(registry, **{option: value})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Fn("a", timeout=-1), "step 'a': timeout must be a positive number of seconds, or None"),
        (lambda: Fn("a", timeout=0), "not 0"),
        (lambda: Fn("a", timeout="5"), "not '5'"),
        (lambda: Fn("a", timeout=True), "not True"),
        (lambda: TimerStep("t", -5), "timer 't': duration must not be negative, not -5"),
        (lambda: TimerStep("t", timedelta(seconds=-1)), "duration must not be negative"),
        (lambda: TimerStep("t", "5"), "duration must be seconds or a timedelta, not '5'"),
        (lambda: TimerStep("t", float("inf")), "not inf"),
    ],
)
def test_a_step_built_with_an_unusable_setting_is_refused_at_once(build: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


def test_unusable_settings_declared_on_a_class_are_definition_problems() -> None:
    class Slow(BaseMachineStep):
        timeout = -3

    class Late(BaseHumanStep):
        due_in = 5  # seconds were meant: a timedelta is needed
        reminder_at = "tomorrow"

    class Backwards(TimerStep):
        duration = timedelta(minutes=-1)

    error = refused(
        defn("settings", [Slow("a"), Late("b"), Backwards("c")], [Edge("a", "b"), Edge("b", "c")])
    )
    assert error.errors == [
        "step 'a': timeout must be a positive number of seconds, or None for no limit, not -3",
        "step 'b': due_in must be a timedelta, not 5",
        "step 'b': reminder_at must be a datetime, not 'tomorrow'",
        "step 'c': duration must not be negative, not datetime.timedelta(days=-1, seconds=86340)",
    ]
    assert defn("fine", [Fn("a", timeout=0.5), TimerStep("t", 0)], [Edge("a", "t")]).validate() == []


async def test_a_duration_computed_when_the_timer_runs(engine: LocalExecutionEngine) -> None:
    """A computed duration that has passed already (negative) continues at once; one of the wrong kind fails."""
    passed = TimerStep("wait", lambda context: context.get("left"))
    instance = await engine.start_workflow(
        defn("passed", [passed, Fn("after")], [Edge("wait", "after")]), {"left": -30}
    )
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.COMPLETED
    wrong = TimerStep("wait", lambda context: context.get("left"))
    instance = await engine.start_workflow(
        defn("wrong", [wrong, Fn("after")], [Edge("wait", "after")]), {"left": "soon"}
    )
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert instance.status is WorkflowStatus.FAILED
    assert "timer 'wait': duration must be seconds or a timedelta, not 'soon'" in (instance.error or "")


async def test_a_group_task_is_judged_by_the_groups_the_caller_passes() -> None:
    """Without ``groups_of``: groups given with the call decide; no groups given keeps the documented open rule."""
    calls: list[tuple[str, str]] = []

    class OldStyle:  # an authorizer written before ``groups`` existed still works
        async def can_act(self, task: HumanTask, user_id: str, action: TaskAction) -> bool:
            calls.append((user_id, action))
            return True

    class OldSubclass(AssigneeAuthorizer):  # the default's subclass from before: as strict as it
        async def can_act(self, task: HumanTask, user_id: str, action: TaskAction) -> bool:  # type: ignore[override]
            return await super().can_act(task, user_id, action)

    for authorizer, outsider_allowed in (
        (AssigneeAuthorizer(), False),
        (OldSubclass(), False),
        (OldStyle(), True),
    ):
        async with LocalExecutionEngine(WorkflowRegistry(), authorizer=authorizer) as engine:
            group_step = BaseHumanStep("h", assignee_group="ops")
            instance = await waiting(engine, defn(f"group_{type(authorizer).__name__}", [group_step]))
            if outsider_allowed:
                await engine.complete_human_task(instance.id, "h", "mallory", {}, groups=("sales",))
            else:
                with pytest.raises(UnauthorizedTaskError, match="may not complete"):
                    await engine.complete_human_task(instance.id, "h", "mallory", {}, groups=("sales",))
                [task] = (await engine.find_tasks(instance_id=instance.id)).items
                with pytest.raises(UnauthorizedTaskError, match="may not claim"):
                    await engine.claim_task(task.id, "mallory", groups=())
                await engine.complete_human_task(instance.id, "h", "olga", {}, groups=("ops",))
            assert (await engine.wait(instance.id, timeout=5)).status is WorkflowStatus.COMPLETED
    assert calls == [("mallory", "complete")]
    async with LocalExecutionEngine(WorkflowRegistry()) as engine:  # trusted code, groups unknown: open
        instance = await waiting(engine, defn("group_open", [BaseHumanStep("h", assignee_group="ops")]))
        await engine.complete_human_task(instance.id, "h", "anyone", {})
        assert (await engine.wait(instance.id, timeout=5)).status is WorkflowStatus.COMPLETED


@pytest.mark.parametrize(
    ("assignee", "says"),
    [
        ("ada\u200b", "invisible character (U+200B)"),
        ("\u202eada", "invisible character (U+202E)"),
        ("ada\n", "spaces around it"),
        (" ", "blank"),
        ("ada ", "spaces around it"),
    ],
)
async def test_a_task_is_not_handed_to_a_name_nobody_can_see(
    engine: LocalExecutionEngine, assignee: str, says: str
) -> None:
    instance = await waiting(
        engine, defn(f"hand_{abs(hash(assignee))}", [BaseHumanStep("h", assignee="bob")])
    )
    [task] = (await engine.find_tasks(instance_id=instance.id)).items
    with pytest.raises(ContextSerializationError, match=re.escape(says)):
        await engine.reassign_task(task.id, assignee, user_id="bob")
    [kept] = (await engine.find_tasks(instance_id=instance.id)).items
    assert kept.assignee_id == "bob"
    assert (
        await engine.reassign_task(task.id, "аda", user_id="bob")
    ).assignee_id == "аda"  # a Cyrillic а: a real name


class Budgeted(BaseHumanStep):
    """The Human Tasks guide's ``validate_submission``: rules a JSON Schema cannot state."""

    form_schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}
    seen: list[Any] = []

    async def validate_submission(self, context: WorkflowContext, data: dict[str, Any]) -> list[str]:
        self.seen.append((context.current_step, context.get("limit")))
        context.set("scribbled", True)  # a private copy: nothing of it reaches the instance
        errors = []
        if data.get("approved") and not data.get("budget_code"):
            errors.append("Budget code required for approvals")
        if data.get("amount", 0) > context.get("limit", 0):
            errors.append("Adjustment exceeds maximum allowed")
        return errors


async def test_validate_submission_refuses_what_it_names_and_changes_nothing(
    engine: LocalExecutionEngine,
) -> None:
    instance = await waiting(engine, defn("budget", [Budgeted("approve")]), {"limit": 10})
    before = snapshot(instance)
    with pytest.raises(TaskValidationError) as refused:
        await engine.complete_human_task(instance.id, "approve", "ann", {"approved": True, "amount": 50})
    assert refused.value.errors == [
        "Budget code required for approvals",
        "Adjustment exceeds maximum allowed",
    ]
    assert "the submission is refused: Budget code required" in str(refused.value)
    assert snapshot(instance) == before
    assert Budgeted.seen[-1] == ("approve", 10)
    await engine.complete_human_task(
        instance.id, "approve", "ann", {"approved": True, "budget_code": "B1", "amount": 5}
    )
    done = await engine.wait(instance.id, timeout=5)
    assert done.status is WorkflowStatus.COMPLETED
    assert "scribbled" not in done.data


async def test_validate_submission_returning_no_list_is_named(engine: LocalExecutionEngine) -> None:
    class Sloppy(BaseHumanStep):
        async def validate_submission(self, context: WorkflowContext, data: dict[str, Any]) -> Any:
            return "budget code missing"

    instance = await waiting(engine, defn("sloppy", [Sloppy("approve")]))
    with pytest.raises(TypeError, match="returned 'budget code missing', not a list of messages"):
        await engine.complete_human_task(instance.id, "approve", "ann", {})
    assert instance.status is WorkflowStatus.WAITING
