"""A finished in-memory instance keeps its history packed until it is read, and reads the same.

The in-memory store packs the history of a finished instance nothing runs or waits for (plain
tuples the garbage collector stops tracking); reading ``step_history`` unpacks it. Nothing a user
can see may change: every field, the types of the enums and ids, retries of a failed instance.
"""

from __future__ import annotations

import copy
import dataclasses
import gc
import pickle
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson
import pytest

from litestar_workflows import (
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    StepStatus,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.context import StepExecution, pack_history, unpack_history
from litestar_workflows.core.ids import new_uuid7
from litestar_workflows.core.types import StepType
from step_kit import approval_registry, linear_registry, succeeded

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _every_field_set(index: int) -> StepExecution:
    return StepExecution(
        step_name=f"step {index}",
        status=list(StepStatus)[index % len(StepStatus)],
        result={"n": index, "nested": {"list": [1, 2.5, "ü"]}},
        error=f"ValueError: {index}",
        started_at=T0,
        completed_at=T0 + timedelta(seconds=index),
        input_data={"in": index},
        output_data={"out": [index]},
        id=new_uuid7(),
        step_type=list(StepType)[index % len(StepType)],
        attempt=index + 1,
        iteration=index,
        scheduled_for=T0 + timedelta(hours=1),
        assigned_to="ann",
        completed_by="bob",
        context_changes={"set": {"k": index}, "deleted": ["gone"]},
        error_type="ValueError",
        stack_trace="Traceback ...",
    )


def test_unpacking_gives_executions_equal_field_by_field() -> None:
    history = [_every_field_set(i) for i in range(12)] + [
        StepExecution("bare", StepStatus.PENDING, id=new_uuid7())
    ]
    packed = pack_history(history)
    assert packed is not None
    again = unpack_history(packed)
    assert [dataclasses.astuple(run) for run in again] == [dataclasses.astuple(run) for run in history]
    for old, new in zip(history, again, strict=True):
        assert new is not old
        assert type(new.status) is StepStatus and new.status is old.status
        assert type(new.step_type) is StepType and new.step_type is old.step_type
        assert new.id == old.id and str(new.id) == str(old.id) and hash(new.id) == hash(old.id)
        assert new.result == old.result and type(new.result) is type(old.result)


def test_the_packed_form_is_not_tracked_by_the_garbage_collector() -> None:
    packed = pack_history([_every_field_set(i) for i in range(3)])
    assert packed is not None
    # A tuple is untracked once what it holds is: the inner one in a first pass, then the outer.
    gc.collect()
    gc.collect()
    assert not gc.is_tracked(packed)


def test_a_history_no_engine_makes_is_left_as_it_is() -> None:
    by_hand = [StepExecution("typed", "succeeded")]  # type: ignore[arg-type] - text, as a user may write it
    context = WorkflowContext(step_history=by_hand)
    context.pack_step_history()
    assert context.step_history is by_hand
    assert pack_history([StepExecution("no id", StepStatus.SUCCEEDED)]) is None
    not_json = StepExecution("set", StepStatus.SUCCEEDED, result={1, 2}, id=new_uuid7())
    assert pack_history([not_json]) is None


def test_a_packed_context_reads_as_before() -> None:
    history = [_every_field_set(i) for i in range(3)]
    history[2].status = StepStatus.SUCCEEDED
    context = WorkflowContext(data={"a": 1}, step_history=history)
    expected = [dataclasses.astuple(run) for run in history]
    context.pack_step_history()
    assert type(context) is not WorkflowContext  # packed
    # Copies and pickles stay packed (the original too) and read the same.
    copies = [copy.copy(context), copy.deepcopy(context), pickle.loads(pickle.dumps(context))]
    assert type(context) is not WorkflowContext
    for duplicate in copies:
        assert type(duplicate) is type(context)
        assert duplicate.data == {"a": 1} and duplicate.instance_id == context.instance_id
        assert [dataclasses.astuple(run) for run in duplicate.step_history] == expected
        assert type(duplicate) is WorkflowContext
    context.pack_step_history()
    assert context.get("step 2.n") == 2
    assert context.get_last_execution("step 2").completed_at == T0 + timedelta(seconds=2)  # type: ignore[union-attr]
    assert [dataclasses.astuple(run) for run in context.step_history] == expected
    assert type(context) is WorkflowContext  # unpacked once, kept as a list again
    context.step_history.append(StepExecution("later", StepStatus.PENDING))
    assert context.step_history[-1].step_name == "later"
    assert type(copy.copy(context)) is WorkflowContext


def test_encoders_read_a_packed_context_as_the_plain_one() -> None:
    context = WorkflowContext(data={"a": 1}, step_history=[_every_field_set(i) for i in range(2)])
    plain, plain_msgspec = orjson.dumps(context), msgspec.json.encode(context)
    context.pack_step_history()
    assert orjson.dumps(context) == plain  # orjson looks for the fields in the class's own namespace
    context.pack_step_history()
    assert msgspec.json.encode(context) == plain_msgspec


@pytest.fixture
def switch_threads_often() -> Iterator[None]:
    """Threads take turns every microsecond, so that their reads interleave."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


@pytest.mark.usefixtures("switch_threads_often")
def test_threads_reading_a_packed_history_get_the_one_list() -> None:
    readers = 4
    for _ in range(300):
        context = WorkflowContext(step_history=[_every_field_set(i) for i in range(3)])
        context.pack_step_history()
        start = threading.Barrier(readers)
        seen: list[Any] = []

        def read(
            context: WorkflowContext = context, start: threading.Barrier = start, seen: list[Any] = seen
        ) -> None:
            start.wait()
            seen.append(context.step_history)

        threads = [threading.Thread(target=read) for _ in range(readers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(seen) == readers
        assert all(history is context.step_history for history in seen)


def test_a_packed_context_is_still_a_context_and_takes_a_new_history() -> None:
    context = WorkflowContext(step_history=[_every_field_set(0)])
    context.pack_step_history()
    assert isinstance(context, WorkflowContext)
    assert repr(context).startswith("WorkflowContext(")
    replaced = dataclasses.replace(context, current_step="elsewhere")
    assert type(replaced) is WorkflowContext and replaced.step_history[0].step_name == "step 0"
    context.pack_step_history()
    context.step_history = []
    assert type(context) is WorkflowContext and context.step_history == []


async def test_an_instance_that_waits_for_a_person_is_not_packed() -> None:
    engine = LocalExecutionEngine(approval_registry("packed_waiting"))
    instance = await engine.start_workflow("packed_waiting")
    assert (await engine.wait(instance.id)).status is WorkflowStatus.WAITING
    assert type(instance.context) is WorkflowContext  # not finished: its task's step is still active
    await engine.complete_human_task(instance.id, "approve", "ann", {})
    done = await engine.wait(instance.id)
    assert done.status is WorkflowStatus.COMPLETED
    assert type(done.context) is not WorkflowContext  # finished and released: packed
    assert succeeded(done) == ["begin", "approve", "done"]
    assert type(done.context) is WorkflowContext


async def test_a_finished_instance_holds_its_history_packed_until_read() -> None:
    engine = LocalExecutionEngine(linear_registry("packed_linear", 5))
    instance = await engine.start_workflow("packed_linear", {"i": 1})
    done = await engine.wait(instance.id)
    assert done.status is WorkflowStatus.COMPLETED
    assert type(done.context) is not WorkflowContext  # packed: nothing runs or waits for it any more
    ids = {run.id for run in done.step_history}
    assert succeeded(done) == [f"s{i}" for i in range(5)]
    assert len(ids) == 5 and None not in ids
    assert (await engine.get_instance(instance.id)).step_history is done.step_history
    assert done.data == {"i": 1, **{f"s{i}": i for i in range(5)}}


class _FailsOnce(BaseMachineStep):
    failures = 1

    async def execute(self, context: WorkflowContext) -> Any:
        if _FailsOnce.failures:
            _FailsOnce.failures -= 1
            raise RuntimeError("not yet")
        return {"ok": True}


async def test_a_failed_instance_is_not_packed_and_retries_on_the_same_history() -> None:
    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name="packed_retry",
            steps=[_FailsOnce("flaky"), _FailsOnce("after")],
            edges=[Edge("flaky", "after")],
            initial_step="flaky",
        )
    )
    _FailsOnce.failures = 1
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("packed_retry")
    failed = await engine.wait(instance.id)
    assert failed.status is WorkflowStatus.FAILED
    assert type(failed.context) is WorkflowContext  # it may be retried: a held record stays its own
    held = failed.step_history
    first_run = held[0]
    await engine.retry(instance.id)
    done = await engine.wait(instance.id)
    assert done.status is WorkflowStatus.COMPLETED
    assert [(run.step_name, run.status) for run in done.step_history] == [
        ("flaky", StepStatus.FAILED),
        ("flaky", StepStatus.SUCCEEDED),
        ("after", StepStatus.SUCCEEDED),
    ]
    # The list held from the failed instance is the one the retry went on with, complete; the
    # completed instance is packed, so its history reads as new records with the same fields.
    assert held[0] is first_run
    assert [dataclasses.astuple(run) for run in held] == [
        dataclasses.astuple(run) for run in done.step_history
    ]


@pytest.fixture
def collect_often() -> Iterator[None]:
    """The cyclic collector runs after every 100 objects made (the default is 700)."""
    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("collect_often")
def test_a_finalizer_reading_a_history_while_another_is_unpacked_does_not_hang() -> None:
    """A collection may run while a history is unpacked; a finalizer it runs may read another."""
    other = WorkflowContext(step_history=[_every_field_set(i) for i in range(3)])
    other.pack_step_history()
    read_by_finalizer: list[int] = []

    class Audit:  # an object in a reference cycle: only the cyclic collector frees it
        def __init__(self) -> None:
            self.itself = self

        def __del__(self) -> None:
            read_by_finalizer.append(len(other.step_history))

    target = WorkflowContext(step_history=[_every_field_set(i % 12) for i in range(500)])
    target.pack_step_history()
    Audit()
    assert len(target.step_history) == 500  # 500 records made: collections run meanwhile
    assert read_by_finalizer == [3]


def test_deleting_a_packed_history_unsets_it_as_on_a_plain_context() -> None:
    context = WorkflowContext(step_history=[_every_field_set(0)])
    context.pack_step_history()
    del context.step_history
    assert type(context) is WorkflowContext
    with pytest.raises(AttributeError):
        context.step_history  # noqa: B018
