"""What a step sees of its instance, and what it can leave behind.

A step reads the instance's ``metadata`` and ``step_history`` through read-only views (no copies):
writing raises ``TypeError`` and the instance keeps both intact, whether the step then fails or
not. A failing step leaves nothing of what ``execute`` wrote; what its ``on_failure`` hook writes
goes with the failure (in the runner's FAILED outcome), once the step fails for good.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import pytest

from litestar_workflows import (
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    RetryPolicy,
    SequentialGroup,
    StepStatus,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.context import ReadOnlyHistory, ReadOnlyMetadata, StepExecution
from litestar_workflows.runtime.interpreter import ContextChanges, Interpreter
from litestar_workflows.runtime.runner import FAILED, StepPlan, StepRunner, apply_outcome

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar_workflows import WorkflowContext, WorkflowInstanceData

T0 = datetime(2024, 1, 1, tzinfo=UTC)
TIMEOUT = 5.0


class Do(BaseMachineStep):
    """Runs ``fn(context)``; ``hook(context, error)`` is its ``on_failure`` when given."""

    def __init__(
        self,
        name: str,
        fn: Callable[[WorkflowContext], Any] | None = None,
        hook: Callable[[WorkflowContext, Exception], Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.fn = fn
        self.hook = hook

    async def execute(self, context: WorkflowContext) -> Any:
        return None if self.fn is None else self.fn(context)

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        if self.hook is not None:
            self.hook(context, error)


def chain(*steps: BaseMachineStep) -> WorkflowDefinition:
    names = [step.name for step in steps]
    return WorkflowDefinition(
        name="isolation",
        steps=list(steps),
        edges=[Edge(a, b) for a, b in itertools.pairwise(names)],
        initial_step=names[0],
        terminal_steps={names[-1]},
    )


async def run_to_end(
    definition: WorkflowDefinition, data: dict[str, Any] | None = None
) -> WorkflowInstanceData:
    registry = WorkflowRegistry()
    registry.register_definition(definition)
    async with LocalExecutionEngine(registry) as engine:
        started = await engine.start_workflow(
            definition.name, initial_data=data or {}, metadata={"correlation_id": "abc-123", "source": "api"}
        )
        return await engine.wait(started.id, timeout=TIMEOUT)


# ---------------------------------------------------------------------------------- the views


def test_metadata_view_reads_like_a_dict_and_refuses_every_write() -> None:
    backing = {"correlation_id": "abc", "n": 1}
    view = ReadOnlyMetadata(backing)

    assert view["correlation_id"] == "abc"
    assert view.get("missing", 7) == 7
    assert "n" in view
    assert len(view) == 2
    assert list(view) == ["correlation_id", "n"]
    assert dict(view) == backing == view
    assert {**view, "x": 1} == {"correlation_id": "abc", "n": 1, "x": 1}
    assert view | {"n": 2} == {"correlation_id": "abc", "n": 2}
    assert list(view.items()) == list(backing.items())
    copied = view.copy()
    copied["x"] = 1  # a plain dict of its own
    assert "x" not in backing

    writes: list[Callable[[], Any]] = [
        lambda: view.__setitem__("x", 1),
        lambda: view.__delitem__("n"),
        view.clear,
        lambda: view.pop("n"),
        view.popitem,
        lambda: view.update(x=1),
        lambda: view.setdefault("x", 1),
    ]
    for write in writes:
        with pytest.raises(TypeError, match="cannot change the instance's metadata"):
            write()
    with pytest.raises(TypeError, match="read-only in a step"):
        view |= {"x": 1}
    assert backing == {"correlation_id": "abc", "n": 1}


def test_history_view_reads_like_a_list_without_copying_and_refuses_every_write() -> None:
    first = StepExecution("a", StepStatus.SUCCEEDED)
    second = StepExecution("b", StepStatus.FAILED)
    backing = [first, second]
    view = ReadOnlyHistory(backing)

    assert len(view) == 2
    assert view[0] is first
    assert view[-1] is second
    assert view[:1] == [first]
    assert list(view) == backing == view
    assert list(reversed(view)) == [second, first]
    assert second in view
    assert view.index(second) == 1
    assert view.count(first) == 1
    backing.append(StepExecution("c", StepStatus.RUNNING))  # a view, not a copy: it follows the list
    assert [run.step_name for run in view] == ["a", "b", "c"]

    writes: list[Callable[[], Any]] = [
        lambda: view.append(first),
        lambda: view.extend([first]),
        lambda: view.insert(0, first),
        view.pop,
        lambda: view.remove(first),
        view.clear,
        view.sort,
        view.reverse,
        lambda: view.__setitem__(0, first),
        lambda: view.__delitem__(0),
    ]
    for write in writes:
        with pytest.raises(TypeError, match="cannot change the instance's step_history"):
            write()
    with pytest.raises(TypeError, match="read-only in a step"):
        view += [first]
    assert [run.step_name for run in backing] == ["a", "b", "c"]


# ------------------------------------------------------------ bug 1: metadata and step history


async def test_a_step_reads_metadata_and_history() -> None:
    seen: dict[str, Any] = {}

    def look(context: WorkflowContext) -> None:
        seen["metadata"] = dict(context.metadata)
        seen["correlation"] = context.metadata.get("correlation_id")
        seen["history"] = [(run.step_name, run.status) for run in context.step_history]
        seen["last"] = context.get_last_execution("first").step_name  # type: ignore[union-attr]
        seen["executed"] = context.has_step_executed("first")

    done = await run_to_end(chain(Do("first"), Do("look", look)))

    assert done.status is WorkflowStatus.COMPLETED
    assert seen == {
        "metadata": {"correlation_id": "abc-123", "source": "api"},
        "correlation": "abc-123",
        "history": [("first", StepStatus.SUCCEEDED), ("look", StepStatus.RUNNING)],
        "last": "first",
        "executed": True,
    }


async def test_a_step_writing_metadata_fails_with_a_clear_error_and_changes_nothing() -> None:
    def tamper(context: WorkflowContext) -> None:
        context.set("partial", True)
        context.metadata["hacked"] = True

    done = await run_to_end(chain(Do("first"), Do("tamper", tamper), Do("last")))

    assert done.status is WorkflowStatus.FAILED
    assert "TypeError: a step cannot change the instance's metadata" in (done.error or "")
    assert done.context.metadata == {"correlation_id": "abc-123", "source": "api"}
    assert "partial" not in done.context.data
    assert [(run.step_name, run.status) for run in done.step_history] == [
        ("first", StepStatus.SUCCEEDED),
        ("tamper", StepStatus.FAILED),
    ]


async def test_a_step_clearing_metadata_and_history_then_failing_leaves_both_intact() -> None:
    def wipe(context: WorkflowContext) -> None:
        for clear in (context.metadata.clear, context.step_history.clear):
            with contextlib.suppress(TypeError):
                clear()
        raise RuntimeError("fails after trying to wipe")

    done = await run_to_end(chain(Do("first"), Do("wipe", wipe), Do("last")))

    assert done.status is WorkflowStatus.FAILED
    assert done.error == "step 'wipe' failed: RuntimeError: fails after trying to wipe"
    assert done.context.metadata == {"correlation_id": "abc-123", "source": "api"}
    assert [(run.step_name, run.status) for run in done.step_history] == [
        ("first", StepStatus.SUCCEEDED),
        ("wipe", StepStatus.FAILED),
    ]


async def test_a_step_that_swallows_the_refusal_completes_with_metadata_and_history_intact() -> None:
    refused: list[str] = []

    def try_everything(context: WorkflowContext) -> None:
        writes: list[Callable[[], Any]] = [
            lambda: context.metadata.pop("source"),
            lambda: context.metadata.update(extra=1),
            lambda: context.step_history.append(context.step_history[0]),
            lambda: context.step_history.__delitem__(0),
        ]
        for write in writes:
            try:
                write()
            except TypeError as error:
                refused.append(str(error).split(" (", 1)[0])

    done = await run_to_end(chain(Do("first"), Do("try", try_everything), Do("last")))

    assert done.status is WorkflowStatus.COMPLETED
    assert (
        refused
        == ["a step cannot change the instance's metadata"] * 2
        + ["a step cannot change the instance's step_history"] * 2
    )
    assert done.context.metadata == {"correlation_id": "abc-123", "source": "api"}
    assert [run.step_name for run in done.step_history] == ["first", "try", "last"]


async def test_steps_inside_a_group_get_the_read_only_views_too() -> None:
    group = SequentialGroup("group", [Do("inner", lambda context: context.metadata.clear())])

    done = await run_to_end(chain(Do("first"), group))

    assert done.status is WorkflowStatus.FAILED
    assert "cannot change the instance's metadata" in (done.error or "")
    assert done.context.metadata == {"correlation_id": "abc-123", "source": "api"}


async def test_the_views_are_not_copies_and_follow_the_instance() -> None:
    """One view per instance, over the instance's own list: no per-step copy of the history."""
    seen: list[Any] = []
    done = await run_to_end(
        chain(*(Do(f"s{n}", lambda context: seen.append(context.step_history)) for n in range(3)))
    )

    assert done.status is WorkflowStatus.COMPLETED
    assert seen[0] is seen[1] is seen[2]  # made once for the instance
    assert [run.step_name for run in seen[0]] == ["s0", "s1", "s2"]  # and it shows the history as it grows


async def test_views_are_made_anew_when_the_instance_holds_other_metadata_or_history() -> None:
    seen: list[tuple[dict[str, Any], int]] = []
    step = Do("look", lambda context: seen.append((dict(context.metadata), len(context.step_history))))
    definition = WorkflowDefinition(name="one", steps=[step], edges=[], initial_step="look")
    interpreter = Interpreter(definition, FakeClock(), counter_ids())
    created = interpreter.create({}, metadata={"a": 1})
    [run] = created.start
    runner = StepRunner(FakeClock())
    plan = StepPlan(step)

    await runner.run(plan, created.instance, run)
    created.instance.context.metadata = {"b": 2}
    created.instance.context.step_history = []
    await runner.run(plan, created.instance, run)

    assert seen == [({"a": 1}, 1), ({"b": 2}, 0)]


# ------------------------------------------------ bug 2: what on_failure writes, in the outcome


class FakeClock:
    def __call__(self) -> datetime:
        return T0


def counter_ids() -> Callable[[], UUID]:
    counter = itertools.count(1)
    return lambda: UUID(int=next(counter))


async def fail_once(
    step: BaseMachineStep, data: dict[str, Any] | None = None
) -> tuple[tuple[Any, ...], Interpreter, WorkflowInstanceData]:
    """Run ``step`` (the only step of a definition) once through the runner; its outcome."""
    definition = WorkflowDefinition(name="one", steps=[step], edges=[], initial_step=step.name)
    interpreter = Interpreter(definition, FakeClock(), counter_ids())
    created = interpreter.create(dict(data or {}))
    [run] = created.start
    outcome = await StepRunner(FakeClock()).run(StepPlan(step), created.instance, run)
    assert outcome[0] is FAILED
    return outcome, interpreter, created.instance


def boom(context: WorkflowContext) -> None:
    context.set("from_execute", "discarded")
    context.get("items").append("from execute")
    raise RuntimeError("boom")


async def test_the_failed_outcome_carries_what_on_failure_wrote_and_nothing_execute_wrote() -> None:
    def record(context: WorkflowContext, error: Exception) -> None:
        context.set("failed_at", "process")
        context.set("failure_reason", str(error))
        context.data.pop("obsolete")
        context.get("items").append("from on_failure")

    outcome, _, instance = await fail_once(
        Do("process", boom, record), {"obsolete": 1, "items": ["given"], "kept": "x"}
    )

    assert len(outcome) == 7
    changes = outcome[6]
    assert isinstance(changes, ContextChanges)
    assert changes.set == {
        "failed_at": "process",
        "failure_reason": "boom",
        # the list as on_failure left it: execute's in-place edit comes with it, being part of the value
        "items": ["given", "from execute", "from on_failure"],
    }
    assert changes.deleted == ["obsolete"]
    assert instance.context.data == {"obsolete": 1, "items": ["given"], "kept": "x"}  # not applied yet


async def test_on_failure_that_writes_nothing_or_only_what_execute_already_had_adds_no_changes() -> None:
    def same(context: WorkflowContext, error: Exception) -> None:
        context.set("from_execute", "discarded")  # the value execute left: not a change of the hook's

    outcome, _, _ = await fail_once(Do("process", boom, same), {"items": []})
    assert outcome[6] is None
    outcome, _, _ = await fail_once(Do("process", boom), {"items": []})  # the default hook
    assert outcome[6] is None


async def test_a_retried_attempt_carries_no_changes() -> None:
    def record(context: WorkflowContext, error: Exception) -> None:
        context.set("failed_at", "process")

    step = Do("process", boom, record, retry_policy=RetryPolicy(max_attempts=2, initial_delay=0, jitter=0))
    outcome, _, _ = await fail_once(step, {"items": []})

    assert outcome[3] is not None  # retried
    assert outcome[6] is None


async def test_on_failure_storing_a_value_that_is_not_json_is_the_hooks_failure() -> None:
    def store_the_error(context: WorkflowContext, error: Exception) -> None:
        context.set("error", error)

    step = Do("process", boom, store_the_error, retry_policy=RetryPolicy(max_attempts=3, initial_delay=0))
    outcome, _, _ = await fail_once(step, {"items": []})

    assert outcome[2].startswith("NonRetryableError: RuntimeError: boom; on_failure hook raised ")
    assert "ContextSerializationError" in outcome[2]
    assert "'error'" in outcome[2]
    assert outcome[3] is None  # not retried
    assert outcome[6] is None


async def test_on_failure_that_raises_leaves_nothing() -> None:
    def write_then_raise(context: WorkflowContext, error: Exception) -> None:
        context.set("failed_at", "process")
        raise ValueError("hook broke")

    outcome, _, _ = await fail_once(Do("process", boom, write_then_raise), {"items": []})

    assert (
        outcome[2] == "NonRetryableError: RuntimeError: boom; on_failure hook raised ValueError: hook broke"
    )
    assert outcome[6] is None


async def test_a_failed_outcome_with_changes_is_applied_by_the_interpreter() -> None:
    """What the hook wrote is in the failed instance's data and in the failed step's record."""

    def record(context: WorkflowContext, error: Exception) -> None:
        context.set("failed_at", "process")

    outcome, interpreter, instance = await fail_once(Do("process", boom, record), {"items": []})
    apply_outcome(interpreter, instance, outcome)

    assert instance.status is WorkflowStatus.FAILED
    assert instance.context.data == {"items": [], "failed_at": "process"}
    assert instance.step_history[-1].context_changes == {"set": {"failed_at": "process"}, "deleted": []}


async def test_a_step_uses_the_metadata_as_the_dict_it_was() -> None:
    """JSON encoders, ``isinstance`` checks and the step's own data take the view as the dict it was."""
    seen: dict[str, Any] = {}

    class Probe(BaseMachineStep):
        async def execute(self, context: WorkflowContext) -> None:
            seen["json"] = json.dumps(context.metadata)
            seen["dict"] = isinstance(context.metadata, dict)
            seen["copies"] = [type(copy.deepcopy(context.metadata)), type(context.metadata.copy())]
            seen["history"] = [run.step_name for run in context.step_history + []]
            context.set("meta", context.metadata)

    engine = LocalExecutionEngine(WorkflowRegistry())
    definition = WorkflowDefinition(name="probe", steps=[Probe("probe")], edges=[], initial_step="probe")
    instance = await engine.start_workflow(definition, {}, metadata={"correlation_id": "abc"})
    done = await engine.wait(instance.id, timeout=5)
    assert done.status is WorkflowStatus.COMPLETED, done.error
    assert seen == {
        "json": '{"correlation_id": "abc"}',
        "dict": True,
        "copies": [dict, dict],
        "history": ["probe"],
    }
    assert done.context.data == {"meta": {"correlation_id": "abc"}}
