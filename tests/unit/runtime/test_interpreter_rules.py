"""The token rules of the pure :class:`Interpreter`, driven by hand (no asyncio, fake clock and ids)."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from litestar_workflows.core.definition import Edge, WorkflowDefinition
from litestar_workflows.core.errors import (
    InvalidTransitionError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    WorkflowAlreadyCompletedError,
)
from litestar_workflows.core.types import HumanTaskStatus, StepStatus, WorkflowStatus
from litestar_workflows.runtime.interpreter import ContextChanges, Interpreter, StaleOutcomeError
from litestar_workflows.steps import BaseHumanStep, BaseMachineStep, DelayStep, ExclusiveGateway, WebhookStep

if TYPE_CHECKING:
    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.runtime.transition import Transition

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def counter_ids() -> Any:
    counter = itertools.count(1)
    return lambda: UUID(int=next(counter))


def machine(*names: str) -> list[BaseMachineStep]:
    return [BaseMachineStep(name) for name in names]


def build(
    steps: list[Any], edges: list[Edge], initial: str | None = None, *, record_events: bool = True
) -> tuple[Interpreter, FakeClock]:
    definition = WorkflowDefinition(
        name="wf", steps=steps, edges=edges, initial_step=initial or steps[0].name
    )
    clock = FakeClock()
    return Interpreter(definition, clock, counter_ids(), record_events=record_events), clock


def active(instance: WorkflowInstanceData) -> list[StepExecution]:
    return list(instance.runtime.active.values())


def active_names(instance: WorkflowInstanceData) -> list[str]:
    return sorted(run.step_name for run in active(instance))


def run_of(instance: WorkflowInstanceData, name: str) -> StepExecution:
    runs = [run for run in active(instance) if run.step_name == name]
    assert len(runs) == 1, f"expected one active execution of {name!r}, got {runs}"
    return runs[0]


def succeed(interp: Interpreter, instance: WorkflowInstanceData, name: str, **kwargs: Any) -> Transition:
    return interp.step_succeeded(instance, run_of(instance, name).id, **kwargs)


def history(instance: WorkflowInstanceData) -> list[tuple[str, StepStatus]]:
    return [(run.step_name, run.status) for run in instance.step_history]


def count(instance: WorkflowInstanceData, name: str, status: StepStatus | None = StepStatus.SUCCEEDED) -> int:
    return len(instance.executions_of(name, status))


def event_types(tr: Transition) -> list[str]:
    return [event.type for event in tr.events]


def snapshot(instance: WorkflowInstanceData) -> tuple[Any, ...]:
    return (
        instance.status,
        instance.version,
        copy.deepcopy(instance.data),
        len(instance.step_history),
        sorted(str(run.id) for run in active(instance)),
        instance.error,
    )


# ---------------------------------------------------------------------------- basic flow


def test_linear_chain_runs_each_step_once_in_order() -> None:
    interp, _ = build(machine("a", "b", "c"), [Edge("a", "b"), Edge("b", "c")])
    tr = interp.create({"x": 1})
    instance = tr.instance
    assert tr.created
    assert instance.status is WorkflowStatus.RUNNING
    assert [run.step_name for run in tr.start] == ["a"]
    for current, following in (("a", ["b"]), ("b", ["c"])):
        tr = succeed(interp, instance, current)
        assert [run.step_name for run in tr.start] == following
        assert instance.status is WorkflowStatus.RUNNING
    tr = succeed(interp, instance, "c")
    assert tr.start == []
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.completed_at is not None
    assert history(instance) == [(n, StepStatus.SUCCEEDED) for n in "abc"]
    assert not instance.runtime.active
    assert instance.data == {"x": 1}


def test_changes_are_applied_at_completion() -> None:
    interp, _ = build(machine("a", "b"), [Edge("a", "b")])
    instance = interp.create({"keep": 1, "drop": 2}).instance
    succeed(interp, instance, "a", changes=ContextChanges({"new": [1, 2]}, deleted=["drop"]))
    assert instance.data == {"keep": 1, "new": [1, 2]}
    assert instance.executions_of("a")[0].context_changes == {"set": {"new": [1, 2]}, "deleted": ["drop"]}


@pytest.mark.parametrize("order", list(itertools.permutations("abc")))
def test_parallel_fan_out_join_fires_once_after_all_branches(order: tuple[str, ...]) -> None:
    steps = machine("s", "a", "b", "c", "j", "e")
    edges = [Edge("s", x) for x in "abc"] + [Edge(x, "j") for x in "abc"] + [Edge("j", "e")]
    interp, _ = build(steps, edges)
    instance = interp.create({}).instance
    tr = succeed(interp, instance, "s")
    assert sorted(run.step_name for run in tr.start) == ["a", "b", "c"]
    for index, branch in enumerate(order):
        tr = succeed(interp, instance, branch, changes=ContextChanges({branch: index}))
        if index < 2:
            assert "j" not in active_names(instance)
            assert tr.start == []
            assert instance.status is WorkflowStatus.RUNNING
        else:
            assert [run.step_name for run in tr.start] == ["j"]
    succeed(interp, instance, "j")
    succeed(interp, instance, "e")
    assert instance.status is WorkflowStatus.COMPLETED
    assert count(instance, "j", None) == 1
    assert instance.data == {"a": order.index("a"), "b": order.index("b"), "c": order.index("c")}


def test_parallel_branches_writing_same_key_later_completion_wins() -> None:
    interp, _ = build(
        machine("s", "a", "b", "j"), [Edge("s", "a"), Edge("s", "b"), Edge("a", "j"), Edge("b", "j")]
    )
    instance = interp.create({}).instance
    succeed(interp, instance, "s")
    succeed(interp, instance, "b", changes=ContextChanges({"k": "from b"}))
    succeed(interp, instance, "a", changes=ContextChanges({"k": "from a"}))
    assert instance.data == {"k": "from a"}


@pytest.mark.parametrize("flag", [True, False])
def test_exclusive_split_and_merge_dead_token_lets_join_fire_once(flag: bool) -> None:
    steps = machine("s", "yes", "no", "m")
    edges = [
        Edge("s", "yes", "context.get('flag') == True"),
        Edge("s", "no", "not context.get('flag')"),
        Edge("yes", "m"),
        Edge("no", "m"),
    ]
    interp, _ = build(steps, edges)
    instance = interp.create({"flag": flag}).instance
    tr = succeed(interp, instance, "s")
    taken, dead = ("yes", "no") if flag else ("no", "yes")
    assert [run.step_name for run in tr.start] == [taken]
    assert count(instance, dead, StepStatus.SKIPPED) == 1
    assert "m" not in active_names(instance)
    tr = succeed(interp, instance, taken)
    assert [run.step_name for run in tr.start] == ["m"]
    succeed(interp, instance, "m")
    assert instance.status is WorkflowStatus.COMPLETED
    assert count(instance, "m", None) == 1
    assert count(instance, dead, None) == 1


def test_exclusive_gateway_route_keeps_only_the_chosen_branch() -> None:
    steps = [ExclusiveGateway("g", condition=lambda ctx: "a"), *machine("a", "b", "m")]
    edges = [Edge("g", "a"), Edge("g", "b"), Edge("a", "m"), Edge("b", "m")]
    interp, _ = build(steps, edges)
    instance = interp.create({}).instance
    tr = succeed(interp, instance, "g", route=frozenset({"b"}))
    assert [run.step_name for run in tr.start] == ["b"]
    assert count(instance, "a", StepStatus.SKIPPED) == 1
    succeed(interp, instance, "b")
    succeed(interp, instance, "m")
    assert instance.status is WorkflowStatus.COMPLETED


def test_all_dead_join_is_skipped_and_passes_dead_tokens_on() -> None:
    steps = machine("s", "a", "b", "c", "j", "after_j", "k")
    edges = [
        Edge("s", "a", "context.get('x')"),
        Edge("s", "b", "context.get('x')"),
        Edge("s", "c", "not context.get('x')"),
        Edge("a", "j"),
        Edge("b", "j"),
        Edge("j", "after_j"),
        Edge("after_j", "k"),
        Edge("c", "k"),
    ]
    interp, _ = build(steps, edges)
    instance = interp.create({"x": False}).instance
    tr = succeed(interp, instance, "s")
    assert [run.step_name for run in tr.start] == ["c"]
    for name in ("a", "b", "j", "after_j"):
        assert history(instance).count((name, StepStatus.SKIPPED)) == 1, name
    skip_reasons = {e.step_name: e.reason for e in tr.events if e.type == "StepSkipped"}
    assert skip_reasons["j"] == "no live incoming edge"
    assert "k" not in active_names(instance)
    tr = succeed(interp, instance, "c")
    assert [run.step_name for run in tr.start] == ["k"]
    succeed(interp, instance, "k")
    assert instance.status is WorkflowStatus.COMPLETED
    assert count(instance, "k", None) == 1
    assert count(instance, "j", None) == 1


def test_all_dead_tail_completes_instance() -> None:
    # The only live path ends; the dead branch is skipped to its end and the instance completes.
    steps = machine("s", "a", "b")
    edges = [Edge("s", "a", "context.get('x')"), Edge("s", "b", "not context.get('x')")]
    interp, _ = build(steps, edges)
    instance = interp.create({"x": True}).instance
    succeed(interp, instance, "s")
    succeed(interp, instance, "a")
    assert instance.status is WorkflowStatus.COMPLETED
    assert history(instance) == [
        ("s", StepStatus.SUCCEEDED),
        ("a", StepStatus.SUCCEEDED),
        ("b", StepStatus.SKIPPED),
    ]


# ---------------------------------------------------------------------------- loops


def test_review_revise_loop_with_exit_edge() -> None:
    steps = machine("submit", "review", "revise", "publish")
    edges = [
        Edge("submit", "review"),
        Edge("review", "revise", "not context.get('approved')"),
        Edge("revise", "review"),
        Edge("review", "publish", "context.get('approved') == True"),
    ]
    interp, _ = build(steps, edges)
    assert interp.graph.back_edges == frozenset({("revise", "review")})
    instance = interp.create({}).instance
    succeed(interp, instance, "submit")
    for round_ in range(3):
        approved = round_ == 2
        tr = succeed(
            interp, instance, "review", changes=ContextChanges({"approved": approved, "round": round_})
        )
        if not approved:
            assert [run.step_name for run in tr.start] == ["revise"]
            tr = succeed(interp, instance, "revise")
            assert [run.step_name for run in tr.start] == ["review"]
        else:
            assert [run.step_name for run in tr.start] == ["publish"]
    succeed(interp, instance, "publish")
    assert instance.status is WorkflowStatus.COMPLETED
    assert count(instance, "review") == 3
    assert count(instance, "revise") == 2
    assert count(instance, "publish") == 1
    assert count(instance, "publish", None) == 1, "no dead token leaves a loop that still iterates"
    assert [run.iteration for run in instance.executions_of("review")] == [0, 1, 2]
    assert instance.data == {"approved": True, "round": 2}


def test_loop_clears_join_state_of_its_body() -> None:
    steps = machine("start", "fork", "a", "b", "j", "end")
    edges = [
        Edge("start", "fork"),
        Edge("fork", "a"),
        Edge("fork", "b"),
        Edge("a", "j"),
        Edge("b", "j"),
        Edge("j", "fork", "context.get('n') < 3"),
        Edge("j", "end", "context.get('n') >= 3"),
    ]
    interp, _ = build(steps, edges)
    instance = interp.create({"n": 0}).instance
    succeed(interp, instance, "start")
    for n in range(1, 4):
        succeed(interp, instance, "fork")
        succeed(interp, instance, "b")
        assert "j" not in active_names(instance), "join fired before its second branch arrived"
        succeed(interp, instance, "a")
        assert active_names(instance) == ["j"]
        succeed(interp, instance, "j", changes=ContextChanges({"n": n}))
    succeed(interp, instance, "end")
    assert instance.status is WorkflowStatus.COMPLETED
    for name in ("fork", "a", "b", "j"):
        assert count(instance, name) == 3, name
    assert count(instance, "end") == 1


def test_join_after_loop_exit_fires_once() -> None:
    steps = machine("s", "side", "l1", "l2", "j")
    edges = [
        Edge("s", "side"),
        Edge("s", "l1"),
        Edge("l1", "l2"),
        Edge("l2", "l1", "context.get('n') < 3"),
        Edge("l2", "j", "context.get('n') >= 3"),
        Edge("side", "j"),
    ]
    interp, _ = build(steps, edges)
    instance = interp.create({"n": 0}).instance
    succeed(interp, instance, "s")
    succeed(interp, instance, "side")
    for n in range(1, 4):
        succeed(interp, instance, "l1", changes=ContextChanges({"n": n}))
        succeed(interp, instance, "l2")
        if n < 3:
            assert "j" not in active_names(instance), f"join fired during loop iteration {n}"
    succeed(interp, instance, "j")
    assert instance.status is WorkflowStatus.COMPLETED
    assert count(instance, "j") == 1


def _loop_with_two_exits() -> tuple[Interpreter, WorkflowInstanceData]:
    steps = machine("start", "review", "revise", "publish", "give_up", "end")
    edges = [
        Edge("start", "review"),
        Edge("review", "revise", "not context.get('approved')"),
        Edge("review", "publish", "context.get('approved') == True"),
        Edge("revise", "review", "context.get('tries') < 2"),
        Edge("revise", "give_up", "context.get('tries') >= 2"),
        Edge("publish", "end"),
        Edge("give_up", "end"),
    ]
    interp, _ = build(steps, edges)
    return interp, interp.create({"tries": 0}).instance


@pytest.mark.parametrize("approved_in_round", [0, 1, None])
def test_loop_left_through_one_of_two_exits_still_runs_the_join_after_them(
    approved_in_round: int | None,
) -> None:
    interp, instance = _loop_with_two_exits()
    succeed(interp, instance, "start")
    for round_ in range(2):
        approved = round_ == approved_in_round
        succeed(interp, instance, "review", changes=ContextChanges({"approved": approved}))
        if approved:
            break
        succeed(interp, instance, "revise", changes=ContextChanges({"tries": round_ + 1}))
    exit_step = "give_up" if approved_in_round is None else "publish"
    assert active_names(instance) == [exit_step]
    succeed(interp, instance, exit_step)
    assert active_names(instance) == ["end"], "the join after the loop's exits did not fire"
    succeed(interp, instance, "end")
    assert instance.status is WorkflowStatus.COMPLETED
    assert count(instance, "end") == 1


# ---------------------------------------------------------------------------- skipping and routing failures


def test_step_skipped_continues_along_its_edges() -> None:
    steps = machine("a", "b", "c", "d")
    edges = [Edge("a", "b"), Edge("b", "c", "context.get('x')"), Edge("b", "d", "not context.get('x')")]
    interp, _ = build(steps, edges)
    instance = interp.create({"x": True}).instance
    succeed(interp, instance, "a")
    tr = interp.step_skipped(instance, run_of(instance, "b").id, "can_execute() returned False")
    assert [run.step_name for run in tr.start] == ["c"]
    assert event_types(tr)[0] == "StepSkipped"
    assert tr.events[0].reason == "can_execute() returned False"
    succeed(interp, instance, "c")
    assert instance.status is WorkflowStatus.COMPLETED
    assert sorted(history(instance)) == [
        ("a", StepStatus.SUCCEEDED),
        ("b", StepStatus.SKIPPED),
        ("c", StepStatus.SUCCEEDED),
        ("d", StepStatus.SKIPPED),
    ]


def test_skipped_step_without_live_edge_fails_too() -> None:
    interp, _ = build(machine("a", "b"), [Edge("a", "b", "context.get('go') == True")])
    instance = interp.create({}).instance
    interp.step_skipped(instance, run_of(instance, "a").id)
    assert instance.status is WorkflowStatus.FAILED
    assert "'a'" in (instance.error or "")


def test_no_live_outgoing_edge_fails_naming_the_step() -> None:
    steps = machine("a", "b", "c")
    edges = [Edge("a", "b", "context.get('go') == True"), Edge("a", "c", "context.get('go') == 'other'")]
    interp, _ = build(steps, edges)
    instance = interp.create({}).instance
    tr = succeed(interp, instance, "a")
    assert instance.status is WorkflowStatus.FAILED
    assert "'a'" in (instance.error or "")
    assert "no outgoing edge" in (instance.error or "")
    assert instance.runtime.failed_step == "a"
    assert tr.start == []
    assert not instance.runtime.active
    failed = [e for e in tr.events if e.type == "WorkflowFailed"]
    assert len(failed) == 1
    assert failed[0].failed_step == "a"


def test_gateway_route_to_a_non_successor_fails_naming_the_branch() -> None:
    steps = [ExclusiveGateway("g", condition=lambda ctx: "x"), *machine("a", "b")]
    interp, _ = build(steps, [Edge("g", "a"), Edge("g", "b")])
    instance = interp.create({}).instance
    succeed(interp, instance, "g", route=frozenset({"nowhere"}))
    assert instance.status is WorkflowStatus.FAILED
    assert "nowhere" in (instance.error or "")
    assert "'g'" in (instance.error or "")
    assert not instance.runtime.active


def test_gateway_choosing_nothing_fails() -> None:
    steps = [ExclusiveGateway("g", condition=lambda ctx: None), *machine("a", "b")]
    interp, _ = build(steps, [Edge("g", "a"), Edge("g", "b")])
    instance = interp.create({}).instance
    succeed(interp, instance, "g", route=frozenset())
    assert instance.status is WorkflowStatus.FAILED
    assert "'g'" in (instance.error or "")


def test_condition_that_raises_fails_the_instance() -> None:
    interp, _ = build(machine("a", "b"), [Edge("a", "b", "context.get('n') / 0 > 1")])
    instance = interp.create({"n": 1}).instance
    succeed(interp, instance, "a")
    assert instance.status is WorkflowStatus.FAILED
    assert "ZeroDivisionError" in (instance.error or "")


# ---------------------------------------------------------------------------- failures and retry


def test_step_failed_with_retry_at_schedules_next_attempt_of_same_execution() -> None:
    interp, clock = build(machine("a", "b"), [Edge("a", "b")])
    instance = interp.create({}).instance
    run = run_of(instance, "a")
    before = len(instance.step_history)
    retry_at = clock() + timedelta(seconds=30)
    tr = interp.step_failed(instance, run.id, "ValueError: boom", retry_at=retry_at)
    assert instance.status is WorkflowStatus.RUNNING
    assert tr.start == [run]
    again = run_of(instance, "a")
    assert again.id == run.id
    assert again.attempt == 2
    assert again.status is StepStatus.SCHEDULED
    assert again.scheduled_for == retry_at
    assert again.error == "ValueError: boom"
    assert len(instance.step_history) == before
    assert event_types(tr) == ["StepFailed"]
    assert tr.events[0].will_retry is True
    succeed(interp, instance, "a")
    succeed(interp, instance, "b")
    assert instance.status is WorkflowStatus.COMPLETED


def _parallel_with_human() -> tuple[Interpreter, WorkflowInstanceData]:
    steps = [*machine("s", "a", "j"), BaseHumanStep("h")]
    edges = [Edge("s", "a"), Edge("s", "h"), Edge("a", "j"), Edge("h", "j")]
    interp, _ = build(steps, edges)
    instance = interp.create({"amount": 5}).instance
    succeed(interp, instance, "s")
    interp.step_waiting(instance, run_of(instance, "h").id, task={"title": "Approve", "assignee_id": "alice"})
    return interp, instance


def test_final_failure_cancels_sibling_branches_and_pending_tasks() -> None:
    interp, instance = _parallel_with_human()
    human_run = run_of(instance, "h")
    [task] = instance.runtime.pending_tasks.values()
    assert instance.status is WorkflowStatus.RUNNING
    tr = interp.step_failed(instance, run_of(instance, "a").id, "RuntimeError: broken")
    assert instance.status is WorkflowStatus.FAILED
    assert "'a'" in (instance.error or "")
    assert "RuntimeError: broken" in (instance.error or "")
    assert human_run.status is StepStatus.CANCELED
    assert tr.cancel == [human_run]
    assert task.status is HumanTaskStatus.CANCELED
    assert task in tr.tasks
    assert not instance.runtime.pending_tasks
    assert not instance.runtime.active
    assert tr.start == []
    assert event_types(tr) == ["StepFailed", "WorkflowFailed"]
    assert instance.executions_of("a")[0].status is StepStatus.FAILED


def test_retry_restarts_failed_step_and_canceled_siblings_with_context_unchanged() -> None:
    interp, instance = _parallel_with_human()
    interp.step_failed(instance, run_of(instance, "a").id, "RuntimeError: broken")
    data_before = copy.deepcopy(instance.data)
    version = instance.version
    tr = interp.retry(instance)
    assert instance.status is WorkflowStatus.RUNNING
    assert instance.error is None
    assert instance.completed_at is None
    assert instance.version == version + 1
    assert instance.data == data_before
    assert sorted(run.step_name for run in tr.start) == ["a", "h"]
    assert active_names(instance) == ["a", "h"]
    assert all(run.iteration == 1 for run in active(instance))
    assert event_types(tr) == ["WorkflowRetried"]
    assert tr.events[0].from_step == "a"
    # The restarted human step gets a fresh task; the flow then joins and completes.
    interp.step_waiting(instance, run_of(instance, "h").id, task={"title": "Approve"})
    [task] = instance.runtime.pending_tasks.values()
    succeed(interp, instance, "a")
    interp.task_completed(instance, task.id, "alice", {"ok": True})
    succeed(interp, instance, "j")
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.data == {"amount": 5, "ok": True}
    assert count(instance, "j") == 1


def test_retry_from_an_earlier_step_reruns_the_body_once() -> None:
    interp, _ = build(machine("a", "b", "c"), [Edge("a", "b"), Edge("b", "c")])
    instance = interp.create({}).instance
    succeed(interp, instance, "a")
    interp.step_failed(instance, run_of(instance, "b").id, "boom")
    tr = interp.retry(instance, from_step="a")
    assert [run.step_name for run in tr.start] == ["a"]
    for name in "abc":
        succeed(interp, instance, name)
    assert instance.status is WorkflowStatus.COMPLETED
    assert count(instance, "a") == 2
    assert count(instance, "b") == 1
    assert count(instance, "b", StepStatus.FAILED) == 1


@pytest.mark.parametrize("state", ["running", "waiting", "completed", "canceled"])
def test_retry_of_a_non_failed_instance_is_rejected_and_changes_nothing(state: str) -> None:
    steps = [*machine("a"), BaseHumanStep("h")]
    interp, _ = build(steps, [Edge("a", "h")])
    instance = interp.create({"k": [1, {"x": 2}]}).instance
    if state in ("waiting", "completed"):
        succeed(interp, instance, "a")
        interp.step_waiting(instance, run_of(instance, "h").id, task={"title": "t"})
    if state == "completed":
        [task] = instance.runtime.pending_tasks.values()
        interp.task_completed(instance, task.id, "bob", {})
    if state == "canceled":
        interp.cancel(instance, "stop")
    assert instance.status == state
    before = snapshot(instance)
    with pytest.raises(InvalidTransitionError, match="only a failed instance can be retried"):
        interp.retry(instance)
    assert snapshot(instance) == before


def test_retry_from_unknown_step_is_rejected_and_changes_nothing() -> None:
    interp, _ = build(machine("a"), [])
    instance = interp.create({}).instance
    interp.step_failed(instance, run_of(instance, "a").id, "boom")
    before = snapshot(instance)
    with pytest.raises(InvalidTransitionError, match="nope"):
        interp.retry(instance, from_step="nope")
    assert snapshot(instance) == before


def test_retry_from_before_a_loop_forgets_its_held_back_exit_tokens() -> None:
    steps = machine("start", "side", "review", "revise", "publish", "j")
    edges = [
        Edge("start", "side"),
        Edge("start", "review"),
        Edge("review", "revise", "not context.get('approved')"),
        Edge("review", "publish", "context.get('approved') == True"),
        Edge("revise", "review"),
        Edge("publish", "j"),
        Edge("side", "j"),
    ]
    interp, _ = build(steps, edges)
    instance = interp.create({}).instance
    succeed(interp, instance, "start")
    succeed(interp, instance, "side")
    succeed(interp, instance, "review", changes=ContextChanges({"approved": False}))
    succeed(interp, instance, "revise")
    interp.step_failed(instance, run_of(instance, "review").id, "boom")  # fails in its second round
    tr = interp.retry(instance, from_step="start")
    assert [run.step_name for run in tr.start] == ["start"]
    assert not [e for e in tr.events if e.type == "StepSkipped"], "retry skipped steps after the loop"
    succeed(interp, instance, "start")
    succeed(interp, instance, "side")
    assert active_names(instance) == ["review"], "the join fired while the loop runs again"
    succeed(interp, instance, "review", changes=ContextChanges({"approved": True}))
    succeed(interp, instance, "publish")
    succeed(interp, instance, "j")
    assert instance.status is WorkflowStatus.COMPLETED
    assert len(instance.executions_of("j")) == 1


# ---------------------------------------------------------------------------- cancel, pause, stale outcomes


def test_cancel_of_a_completed_instance_raises_and_changes_nothing() -> None:
    interp, _ = build(machine("a"), [])
    instance = interp.create({}).instance
    succeed(interp, instance, "a")
    assert instance.status is WorkflowStatus.COMPLETED
    before = snapshot(instance)
    with pytest.raises(WorkflowAlreadyCompletedError):
        interp.cancel(instance, "too late")
    assert snapshot(instance) == before


def test_cancel_cancels_active_runs_and_tasks() -> None:
    interp, instance = _parallel_with_human()
    [task] = instance.runtime.pending_tasks.values()
    runs = active(instance)
    tr = interp.cancel(instance, "no longer needed")
    assert instance.status is WorkflowStatus.CANCELED
    assert instance.error == "no longer needed"
    assert sorted(tr.cancel, key=id) == sorted(runs, key=id)
    assert all(run.status is StepStatus.CANCELED for run in runs)
    assert task.status is HumanTaskStatus.CANCELED
    assert event_types(tr) == ["WorkflowCanceled"]


def test_pause_holds_new_activations_until_resume() -> None:
    interp, _ = build(machine("a", "b", "c"), [Edge("a", "b"), Edge("b", "c")])
    instance = interp.create({}).instance
    tr = interp.pause(instance)
    assert instance.status is WorkflowStatus.PAUSED
    assert event_types(tr) == ["WorkflowPaused"]
    # The running step may finish, but its successor does not start.
    tr = succeed(interp, instance, "a")
    assert tr.start == []
    assert active_names(instance) == ["b"]
    assert instance.status is WorkflowStatus.PAUSED
    with pytest.raises(InvalidTransitionError):
        interp.pause(instance)
    tr = interp.resume(instance)
    assert instance.status is WorkflowStatus.RUNNING
    assert [run.step_name for run in tr.start] == ["b"]
    assert event_types(tr) == ["WorkflowResumed"]
    with pytest.raises(InvalidTransitionError):
        interp.resume(instance)
    succeed(interp, instance, "b")
    succeed(interp, instance, "c")
    assert instance.status is WorkflowStatus.COMPLETED


def test_retry_attempt_scheduled_while_paused_is_held() -> None:
    interp, clock = build(machine("a"), [])
    instance = interp.create({}).instance
    interp.pause(instance)
    tr = interp.step_failed(instance, run_of(instance, "a").id, "boom", retry_at=clock())
    assert tr.start == []
    tr = interp.resume(instance)
    assert [run.step_name for run in tr.start] == ["a"]
    assert tr.start[0].attempt == 2


def test_paused_waiting_instance_rejects_task_completion_until_resumed() -> None:
    interp, _ = build([BaseHumanStep("h")], [])
    instance = interp.create({}).instance
    interp.step_waiting(instance, run_of(instance, "h").id, task={"title": "t"})
    assert instance.status is WorkflowStatus.WAITING
    interp.pause(instance)
    [task] = instance.runtime.pending_tasks.values()
    before = snapshot(instance)
    with pytest.raises(InvalidTransitionError, match="paused"):
        interp.task_completed(instance, task.id, "bob", {})
    assert snapshot(instance) == before
    interp.resume(instance)
    assert instance.status is WorkflowStatus.WAITING
    interp.task_completed(instance, task.id, "bob", {})
    assert instance.status is WorkflowStatus.COMPLETED


def test_stale_outcome_after_cancel_is_rejected() -> None:
    interp, clock = build(machine("a", "b"), [Edge("a", "b")])
    instance = interp.create({}).instance
    run = run_of(instance, "a")
    interp.cancel(instance, "")
    before = snapshot(instance)
    with pytest.raises(StaleOutcomeError):
        interp.step_succeeded(instance, run.id)
    with pytest.raises(StaleOutcomeError):
        interp.step_failed(instance, run.id, "late", retry_at=clock())
    with pytest.raises(StaleOutcomeError):
        interp.step_skipped(instance, run.id)
    with pytest.raises(StaleOutcomeError):
        interp.step_waiting(instance, run.id, wake_at=clock())
    assert snapshot(instance) == before
    assert instance.status is WorkflowStatus.CANCELED


def test_outcome_of_a_finished_execution_is_stale() -> None:
    interp, _ = build(machine("a", "b"), [Edge("a", "b")])
    instance = interp.create({}).instance
    run = run_of(instance, "a")
    interp.step_succeeded(instance, run.id)
    with pytest.raises(StaleOutcomeError):
        interp.step_succeeded(instance, run.id)
    assert count(instance, "b", None) == 1


# ---------------------------------------------------------------------------- waiting steps


def test_timer_waits_then_fires() -> None:
    interp, clock = build([DelayStep("wait", 5), *machine("after")], [Edge("wait", "after")])
    instance = interp.create({}).instance
    run = run_of(instance, "wait")
    with pytest.raises(StaleOutcomeError):
        interp.timer_fired(instance, run.id)  # not waiting yet
    wake = clock() + timedelta(seconds=5)
    tr = interp.step_waiting(instance, run.id, wake_at=wake)
    assert tr.timers == [run]
    assert run.status is StepStatus.WAITING
    assert instance.status is WorkflowStatus.WAITING
    tr = interp.timer_fired(instance, run.id)
    assert [r.step_name for r in tr.start] == ["after"]
    succeed(interp, instance, "after")
    assert instance.status is WorkflowStatus.COMPLETED


def test_webhook_received_stores_payload_and_continues() -> None:
    interp, _ = build([WebhookStep("hook"), *machine("after")], [Edge("hook", "after")])
    instance = interp.create({}).instance
    with pytest.raises(InvalidTransitionError):
        interp.webhook_received(instance, "hook", "hook", {"a": 1})
    interp.step_waiting(instance, run_of(instance, "hook").id)
    with pytest.raises(InvalidTransitionError):
        interp.webhook_received(instance, "after", "after", {"a": 1})
    interp.webhook_received(instance, "hook", "payload", {"a": 1})
    assert instance.data == {"payload": {"a": 1}}
    succeed(interp, instance, "after")
    assert instance.status is WorkflowStatus.COMPLETED
    with pytest.raises(WorkflowAlreadyCompletedError):
        interp.webhook_received(instance, "hook", "payload", {"a": 2})


# ---------------------------------------------------------------------------- human tasks


def test_human_task_create_reassign_complete_and_double_completion() -> None:
    steps = [BaseHumanStep("approve"), *machine("after")]
    interp, _ = build(steps, [Edge("approve", "after")])
    instance = interp.create({"amount": 10}).instance
    run = run_of(instance, "approve")
    tr = interp.step_waiting(
        instance, run.id, task={"title": "Approve it", "assignee_id": "alice", "assignee_group": "managers"}
    )
    assert instance.status is WorkflowStatus.WAITING
    [task] = tr.tasks
    assert task.is_pending
    assert task.step_name == "approve"
    assert task.step_execution_id == run.id
    assert task.instance_id == instance.id
    assert task.assignee_id == "alice"
    assert run.assigned_to == "alice"
    assert interp.find_pending_task(instance, "approve") is task
    assert event_types(tr) == ["HumanTaskCreated"]

    tr = interp.task_reassigned(instance, task.id, "bob", "vacation")
    assert task.assignee_id == "bob"
    assert run.assigned_to == "bob"
    assert event_types(tr) == ["HumanTaskReassigned"]
    assert tr.events[0].previous_assignee == "alice"
    assert tr.events[0].new_assignee == "bob"

    tr = interp.task_completed(instance, task.id, "bob", {"approved": True})
    assert task.status is HumanTaskStatus.COMPLETED
    assert task.completed_by == "bob"
    assert task.data == {"approved": True}
    assert instance.data == {"amount": 10, "approved": True}
    assert run.status is StepStatus.SUCCEEDED
    assert run.completed_by == "bob"
    assert [r.step_name for r in tr.start] == ["after"]
    assert event_types(tr) == ["HumanTaskCompleted", "StepCompleted"]
    assert not instance.runtime.pending_tasks

    before = snapshot(instance)
    with pytest.raises(TaskAlreadyCompletedError):
        interp.task_completed(instance, task.id, "bob", {"approved": False})
    with pytest.raises(TaskAlreadyCompletedError):
        interp.find_pending_task(instance, "approve")
    with pytest.raises(TaskAlreadyCompletedError):
        interp.task_reassigned(instance, task.id, "carol")
    assert snapshot(instance) == before
    assert task.assignee_id == "bob"


def test_find_pending_task_explains_why_there_is_none() -> None:
    steps = [BaseHumanStep("first"), BaseHumanStep("second")]
    interp, _ = build(steps, [Edge("first", "second")])
    instance = interp.create({}).instance
    with pytest.raises(TaskNotFoundError, match="nope"):
        interp.find_pending_task(instance, "nope")
    with pytest.raises(InvalidTransitionError, match="not waiting at 'second'"):
        interp.find_pending_task(instance, "second")


def test_completed_task_of_a_finished_instance_reports_task_already_completed() -> None:
    interp, _ = build([BaseHumanStep("approve")], [])
    instance = interp.create({}).instance
    interp.step_waiting(instance, run_of(instance, "approve").id, task={"title": "t"})
    [task] = instance.runtime.pending_tasks.values()
    interp.task_completed(instance, task.id, "bob", {})
    assert instance.status is WorkflowStatus.COMPLETED
    with pytest.raises(TaskAlreadyCompletedError):
        interp.find_pending_task(instance, "approve")


# ---------------------------------------------------------------------------- events and versions


def _drive_everything(interp: Interpreter) -> tuple[WorkflowInstanceData, list[list[str]]]:
    """Run a workflow through every kind of transition, returning the event types of each."""
    instance_tr = interp.create({"n": 0})
    instance = instance_tr.instance
    trs: list[Transition] = [instance_tr]
    trs.append(succeed(interp, instance, "s"))
    trs.append(interp.step_failed(instance, run_of(instance, "a").id, "flaky", retry_at=interp.clock()))
    trs.append(interp.pause(instance))
    trs.append(succeed(interp, instance, "a"))
    trs.append(interp.resume(instance))
    trs.append(
        interp.step_waiting(instance, run_of(instance, "h").id, task={"title": "t", "assignee_id": "al"})
    )
    [task] = instance.runtime.pending_tasks.values()
    trs.append(interp.task_reassigned(instance, task.id, "bo"))
    trs.append(interp.task_completed(instance, task.id, "bo", {"ok": 1}))
    trs.append(interp.step_skipped(instance, run_of(instance, "j").id))
    return instance, [event_types(tr) for tr in trs]


def _everything_interpreter(record_events: bool) -> Interpreter:
    steps = [*machine("s", "a", "j"), BaseHumanStep("h")]
    edges = [Edge("s", "a"), Edge("s", "h"), Edge("a", "j"), Edge("h", "j")]
    interp, _ = build(steps, edges, record_events=record_events)
    return interp


def test_events_are_emitted_in_order_when_recorded() -> None:
    instance, types = _drive_everything(_everything_interpreter(True))
    assert instance.status is WorkflowStatus.COMPLETED
    assert types == [
        ["WorkflowStarted"],
        ["StepCompleted"],
        ["StepFailed"],
        ["WorkflowPaused"],
        ["StepCompleted"],
        ["WorkflowResumed"],
        ["HumanTaskCreated"],
        ["HumanTaskReassigned"],
        ["HumanTaskCompleted", "StepCompleted"],
        ["StepSkipped", "WorkflowCompleted"],
    ]


def test_no_events_when_not_recorded() -> None:
    instance, types = _drive_everything(_everything_interpreter(False))
    assert instance.status is WorkflowStatus.COMPLETED
    assert all(t == [] for t in types)


def test_failure_and_cancel_events() -> None:
    interp, _ = build(machine("a", "b"), [Edge("a", "b")])
    instance = interp.create({}).instance
    tr = interp.step_failed(instance, run_of(instance, "a").id, "bad")
    assert event_types(tr) == ["StepFailed", "WorkflowFailed"]
    assert tr.events[0].will_retry is False
    assert tr.events[1].failed_step == "a"
    tr = interp.retry(instance)
    assert event_types(tr) == ["WorkflowRetried"]
    tr = interp.cancel(instance, "bye")
    assert event_types(tr) == ["WorkflowCanceled"]
    assert tr.events[0].reason == "bye"


def test_version_increments_once_per_transition() -> None:
    interp = _everything_interpreter(True)
    tr = interp.create({})
    instance = tr.instance
    assert instance.version == 1

    def step(action: Any) -> None:
        before = instance.version
        action()
        assert instance.version == before + 1

    step(lambda: succeed(interp, instance, "s"))
    step(lambda: interp.step_failed(instance, run_of(instance, "a").id, "flaky", retry_at=interp.clock()))
    step(lambda: interp.pause(instance))
    step(lambda: succeed(interp, instance, "a"))
    step(lambda: interp.resume(instance))
    step(lambda: interp.step_waiting(instance, run_of(instance, "h").id, task={"title": "t"}))
    [task] = instance.runtime.pending_tasks.values()
    step(lambda: interp.task_reassigned(instance, task.id, "x"))
    step(lambda: interp.cancel(instance, "stop"))
    # Rejected events do not count.
    before = instance.version
    with pytest.raises(WorkflowAlreadyCompletedError):
        interp.cancel(instance, "again")
    with pytest.raises(InvalidTransitionError):
        interp.retry(instance)
    assert instance.version == before


def test_version_increments_once_for_failure_and_retry() -> None:
    interp, _ = build(machine("a", "b"), [Edge("a", "b", "context.get('go')")])
    instance = interp.create({}).instance
    assert instance.version == 1
    succeed(interp, instance, "a")  # no live edge: fails
    assert instance.status is WorkflowStatus.FAILED
    assert instance.version == 2
    interp.retry(instance)
    assert instance.version == 3
    interp.step_failed(instance, run_of(instance, "a").id, "x")
    assert instance.version == 4
