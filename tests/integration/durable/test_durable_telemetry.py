"""OpenTelemetry spans and metrics of an engine, on the memory store, SQLite and PostgreSQL.

Recorded with the SDK's in-memory exporter and reader: a ``workflow.start`` span in the caller's
trace whose context the instance keeps in its metadata, a ``workflow.step`` span per execution
(retries as separate attempts, errors recorded) and a ``workflow.task`` span per human-task wait,
all children of the start span, in this engine or in one started later on the same database.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored
from opentelemetry.trace import StatusCode

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    RetryPolicy,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.observability.otel import format_traceparent
from otel_kit import Recorder, parent_id, span_id, trace_id
from step_kit import Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

NO_DELAY: dict[str, Any] = {"initial_delay": 0, "jitter": 0}


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


def flaky_charge(failures: int) -> Fn:
    """A step that raises ``ConnectionError("gateway down")`` on its first ``failures`` attempts."""

    def charge(context: WorkflowContext) -> str:
        if context.attempt <= failures:
            raise ConnectionError("gateway down")
        return "charged"

    return Fn("charge", charge, retry_policy=RetryPolicy(max_attempts=3, **NO_DELAY))


def payment(failures: int) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="payment",
            version="2.0",
            steps={"check": Fn("check", lambda ctx: None), "charge": flaky_charge(failures)},
            edges=[Edge("check", "charge")],
            initial_step="check",
        )
    )
    return registry


def approval(due_in: timedelta | None = None) -> WorkflowRegistry:
    approve = BaseHumanStep("approve", title="Approve", assignee_group="managers")
    if due_in is not None:
        approve.due_in = due_in
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="approval",
            steps={
                "submit": Fn("submit", lambda ctx: None),
                "approve": approve,
                "book": Fn("book", lambda ctx: None),
            },
            edges=[Edge("submit", "approve"), Edge("approve", "book")],
            initial_step="submit",
        )
    )
    return registry


async def test_step_spans_are_children_of_the_instance_span_in_the_callers_trace(
    database: ScratchDatabase | None,
) -> None:
    recorder = Recorder()
    caller = recorder.tracer_provider.get_tracer("test")
    async with engine_for(database, payment(failures=1), telemetry=recorder.telemetry()) as engine:
        with caller.start_as_current_span("POST /orders") as request:
            instance = await engine.start_workflow("payment", {"order": 7})
        done = await engine.wait(instance.id, timeout=30)
        assert done.status is WorkflowStatus.COMPLETED
        kept = (await stored(engine, instance.id)).context.metadata["traceparent"]

    (start,) = recorder.spans("workflow.start")
    assert start.name == "workflow.start payment"
    assert parent_id(start) == request.get_span_context().span_id
    assert trace_id(start) == request.get_span_context().trace_id
    assert dict(start.attributes or {}) == {
        "workflow.name": "payment",
        "workflow.version": "2.0",
        "workflow.instance_id": str(instance.id),
    }
    assert kept == format_traceparent(start.get_span_context())  # durable: the store has it

    steps = recorder.spans("workflow.step")
    assert [s.name for s in steps] == ["workflow.step check", "workflow.step charge", "workflow.step charge"]
    assert {parent_id(s) for s in steps} == {span_id(start)}
    assert {trace_id(s) for s in steps} == {trace_id(start)}
    first, second = steps[1:]
    attributes = dict(first.attributes or {})
    assert attributes["workflow.name"] == "payment"
    assert attributes["workflow.version"] == "2.0"
    assert attributes["workflow.instance_id"] == str(instance.id)
    assert attributes["workflow.step.type"] == "machine"
    assert attributes["workflow.step.execution_id"] == second.attributes["workflow.step.execution_id"]  # type: ignore[index]
    assert [s.attributes["workflow.step.attempt"] for s in (first, second)] == [1, 2]  # type: ignore[index]
    assert [s.attributes["workflow.step.outcome"] for s in (first, second)] == ["retried", "succeeded"]  # type: ignore[index]
    assert first.status.status_code is StatusCode.ERROR
    assert first.status.description == "ConnectionError: gateway down"
    (event,) = first.events
    assert event.name == "exception"
    assert event.attributes is not None
    assert event.attributes["exception.type"].endswith("ConnectionError")  # type: ignore[union-attr]
    assert event.attributes["exception.message"] == "gateway down"
    assert "ConnectionError: gateway down" in event.attributes["exception.stacktrace"]  # type: ignore[operator]
    assert second.status.status_code is StatusCode.UNSET

    assert recorder.by("workflow.steps.started", "workflow.step.name") == {"check": 1, "charge": 2}
    assert recorder.by("workflow.steps.succeeded", "workflow.step.name") == {"check": 1, "charge": 1}
    assert recorder.by("workflow.steps.retried", "workflow.step.name") == {"charge": 1}
    assert recorder.by("workflow.steps.failed", "workflow.step.name") == {}
    assert recorder.by("workflow.step.duration", "workflow.step.outcome") == {"succeeded": 2, "retried": 1}
    assert recorder.by("workflow.step.queue_lag", "workflow.step.name") == {"check": 1, "charge": 2}


async def test_a_step_that_fails_for_good_records_its_error_and_counts_the_failed_instance(
    database: ScratchDatabase | None,
) -> None:
    recorder = Recorder()
    async with engine_for(database, payment(failures=5), telemetry=recorder.telemetry()) as engine:
        instance = await engine.start_workflow("payment", {})
        failed = await engine.wait(instance.id, timeout=30)
        assert failed.status is WorkflowStatus.FAILED
        await engine.telemetry.refresh()  # type: ignore[union-attr]
        instances = recorder.by("workflow.instances", "workflow.status")

    charges = recorder.spans("workflow.step charge")
    assert [s.attributes["workflow.step.outcome"] for s in charges] == ["retried", "retried", "failed"]  # type: ignore[index]
    assert all(s.status.status_code is StatusCode.ERROR for s in charges)
    assert [len(s.events) for s in charges] == [1, 1, 1]
    assert recorder.by("workflow.steps.failed", "workflow.step.name") == {"charge": 1}
    assert recorder.by("workflow.steps.retried", "workflow.step.name") == {"charge": 2}
    assert instances["failed"] == 1
    assert sum(instances.values()) == 1
    assert set(instances) == {status.value for status in WorkflowStatus}  # zeros are reported too


async def test_a_human_task_wait_is_a_span_from_creation_to_completion(
    database: ScratchDatabase | None,
) -> None:
    recorder = Recorder()
    async with engine_for(
        database, approval(due_in=timedelta(seconds=-60)), telemetry=recorder.telemetry()
    ) as engine:
        instance = await engine.start_workflow("approval", {"amount": 10})
        await engine.wait(instance.id, timeout=30)
        telemetry = engine.telemetry
        assert telemetry is not None
        await telemetry.refresh()
        assert recorder.by("workflow.tasks.open", "") == {None: 1}
        assert recorder.by("workflow.tasks.overdue", "") == {None: 1}  # due a minute ago
        assert recorder.by("workflow.instances", "workflow.status")["waiting"] == 1
        assert recorder.spans("workflow.task") == []  # still open: recorded when it ends
        await engine.complete_human_task(instance.id, "approve", "ann", {"approved": True})
        done = await engine.wait(instance.id, timeout=30)
        assert done.status is WorkflowStatus.COMPLETED
        (task,) = (await engine.find_tasks(instance_id=instance.id)).items
        await telemetry.refresh()
        assert recorder.by("workflow.tasks.open", "") == {None: 0}
        assert recorder.by("workflow.tasks.overdue", "") == {None: 0}

    (start,) = recorder.spans("workflow.start")
    waits = recorder.spans("workflow.task")
    assert len(waits) == 1, [(s.name, dict(s.attributes or {})) for s in waits]
    wait = waits[0]
    assert wait.name == "workflow.task approve"
    assert parent_id(wait) == span_id(start)
    assert wait.start_time == int(task.created_at.timestamp() * 1e9)
    assert task.completed_at is not None
    assert wait.end_time == int(task.completed_at.timestamp() * 1e9)
    attributes = dict(wait.attributes or {})
    assert attributes["workflow.task.id"] == str(task.id)
    assert attributes["workflow.task.status"] == "completed"
    assert attributes["workflow.task.completed_by"] == "ann"
    assert attributes["workflow.task.group"] == "managers"
    assert attributes["workflow.instance_id"] == str(instance.id)
    assert [s.name for s in recorder.spans("workflow.step")] == [
        "workflow.step submit",
        "workflow.step approve",
        "workflow.step book",
    ]
    assert recorder.spans("workflow.step approve")[0].attributes["workflow.step.outcome"] == "waiting"  # type: ignore[index]
    assert recorder.by("workflow.task.wait", "workflow.task.status") == {"completed": 1}


async def test_a_canceled_instance_ends_its_task_span_as_canceled(database: ScratchDatabase | None) -> None:
    recorder = Recorder()
    async with engine_for(database, approval(), telemetry=recorder.telemetry()) as engine:
        instance = await engine.start_workflow("approval", {})
        await engine.wait(instance.id, timeout=30)
        await engine.cancel_workflow(instance.id, "withdrawn")

    (wait,) = recorder.spans("workflow.task")
    assert wait.attributes["workflow.task.status"] == "canceled"  # type: ignore[index]
    assert "workflow.task.completed_by" not in (wait.attributes or {})
    assert recorder.by("workflow.task.wait", "workflow.task.status") == {"canceled": 1}


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
async def test_an_engine_started_later_continues_the_instances_trace(
    database: ScratchDatabase | None,
) -> None:
    before, after = Recorder(), Recorder()
    async with engine_for(database, approval(), telemetry=before.telemetry()) as engine:
        instance = await engine.start_workflow("approval", {})
        await engine.wait(instance.id, timeout=30)
    async with engine_for(database, approval(), telemetry=after.telemetry()) as engine:
        await engine.complete_human_task(instance.id, "approve", "bob", {})
        assert (await engine.wait(instance.id, timeout=30)).status is WorkflowStatus.COMPLETED

    (start,) = before.spans("workflow.start")
    later = after.spans()
    assert [s.name for s in later] == ["workflow.task approve", "workflow.step book"]
    assert {trace_id(s) for s in later} == {trace_id(start)}
    assert {parent_id(s) for s in later} == {span_id(start)}


async def test_a_caller_given_traceparent_is_the_parent_of_the_instance_span() -> None:
    recorder = Recorder()
    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with engine_for(None, payment(failures=0), telemetry=recorder.telemetry()) as engine:
        instance = await engine.start_workflow("payment", {}, metadata={"traceparent": given})
        await engine.wait(instance.id, timeout=30)

    (start,) = recorder.spans("workflow.start")
    assert trace_id(start) == 0x0AF7651916CD43DD8448EB211C80319C
    assert parent_id(start) == 0xB7AD6B7169203331
    assert instance.context.metadata["traceparent"] == format_traceparent(start.get_span_context())


async def test_spans_the_steps_own_code_makes_are_children_of_its_step_span(
    database: ScratchDatabase | None,
) -> None:
    recorder = Recorder()
    library = recorder.tracer_provider.get_tracer("http-client")

    def call_gateway(context: WorkflowContext) -> None:
        with library.start_as_current_span("POST /charges"):
            pass

    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(name="pay", steps={"pay": Fn("pay", call_gateway)}, initial_step="pay")
    )
    async with engine_for(database, registry, telemetry=recorder.telemetry()) as engine:
        await engine.wait((await engine.start_workflow("pay", {})).id, timeout=30)

    (step,) = recorder.spans("workflow.step")
    (call,) = recorder.spans("POST /charges")
    assert parent_id(call) == span_id(step)
    assert trace_id(call) == trace_id(step)
