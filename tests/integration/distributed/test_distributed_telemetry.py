"""The instance's trace context crosses the broker: workers' step spans join the client's trace.

A client engine and two worker engines (in-process broker, PostgreSQL), each with its own
OpenTelemetry providers as separate processes would have: the client records only the
``workflow.start`` span, the published messages carry its ``traceparent`` and the time each step
became ready, and every step span the workers record is a child of the client's span.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from inprocess_broker import inprocess_cluster
from inprocess_workers import BROKER_KINDS, broker_cluster, skip_without_redis
from litestar_workflows import Edge, WorkflowDefinition, WorkflowRegistry, WorkflowStatus
from otel_kit import Recorder, parent_id, span_id, trace_id
from step_kit import Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase

pytestmark = pytest.mark.postgres


def fan_out() -> WorkflowRegistry:
    registry = WorkflowRegistry()
    steps = {name: Fn(name, lambda ctx: None) for name in ("fork", "left", "right", "join")}
    edges = [Edge("fork", "left"), Edge("fork", "right"), Edge("left", "join"), Edge("right", "join")]
    registry.register_definition(
        WorkflowDefinition(name="fan", steps=steps, edges=edges, initial_step="fork")
    )
    return registry


async def test_worker_step_spans_are_children_of_the_clients_instance_span(
    scratch_postgres: ScratchDatabase,
) -> None:
    client_side = Recorder()
    worker_side = [Recorder(), Recorder()]
    async with inprocess_cluster(scratch_postgres, fan_out(), workers=2) as cluster:
        cluster.client.telemetry = client_side.telemetry().bind(cluster.client)
        for worker, recorder in zip(cluster.workers, worker_side, strict=True):
            worker.telemetry = recorder.telemetry().bind(worker)
        instance = await cluster.client.start_workflow("fan", {})
        done = await cluster.client.wait(instance.id, timeout=30)
        assert done.status is WorkflowStatus.COMPLETED
        traceparent = instance.context.metadata["traceparent"]

    (start,) = client_side.spans()
    assert start.name == "workflow.start fan"
    published = cluster.transport.published
    assert published  # at least the first step and one branch went through the broker
    assert {message.traceparent for message in published} == {traceparent}
    assert all(message.scheduled_at is not None for message in published)

    steps = [span for recorder in worker_side for span in recorder.spans("workflow.step")]
    assert sorted(span.name for span in steps) == [
        "workflow.step fork",
        "workflow.step join",
        "workflow.step left",
        "workflow.step right",
    ]
    assert {trace_id(span) for span in steps} == {trace_id(start)}
    assert {parent_id(span) for span in steps} == {span_id(start)}
    lags: dict[str, int] = {}
    for recorder in worker_side:
        for step, count in recorder.by("workflow.step.queue_lag", "workflow.step.name").items():
            lags[step] = lags.get(step, 0) + count
    assert lags["fork"] == 1  # published by the client: the worker read when it became ready from the message
    assert set(lags) <= {"fork", "left", "right", "join"}


@pytest.mark.redis
@pytest.mark.parametrize("broker", BROKER_KINDS)
async def test_the_trace_crosses_a_real_broker(scratch_postgres: ScratchDatabase, broker: str) -> None:
    """SAQ jobs and Celery tasks through Redis carry the trace fields as JSON to the backends' workers."""
    skip_without_redis()
    recorder = Recorder()  # one set of providers for the client and its in-process workers
    async with broker_cluster(broker, scratch_postgres, fan_out(), telemetry=recorder.telemetry()) as client:
        instance = await client.start_workflow("fan", {})
        assert (await client.wait(instance.id, timeout=60)).status is WorkflowStatus.COMPLETED

    (start,) = recorder.spans("workflow.start")
    steps = recorder.spans("workflow.step")
    assert sorted(span.name.split()[1] for span in steps) == ["fork", "join", "left", "right"]
    assert {parent_id(span) for span in steps} == {span_id(start)}
    assert {trace_id(span) for span in steps} == {trace_id(start)}
    assert recorder.by("workflow.step.queue_lag", "workflow.step.name")["fork"] == 1
