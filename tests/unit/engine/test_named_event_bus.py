"""Event buses written for the reference engines' ``emit("workflow.started", instance_id=...)`` calls.

A bus whose ``emit`` takes ``**kwargs`` (and is not an ``EventBus``) gets the reference's five
named announcements with exactly their keywords; every other bus gets the documented event objects.
"""

from __future__ import annotations

from typing import Any
from unittest.mock import AsyncMock
from uuid import UUID

import pytest

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    EventBus,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.events import WorkflowEvent, WorkflowStarted, takes_named_events
from step_kit import FINISHED, Fn


class NamedBus:
    """The reference suite's kind of bus: a name and keyword fields per call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def emit(self, event_type: str, **fields: Any) -> None:
        self.calls.append((event_type, fields))


class ObjectBus:
    """A duck-typed bus of the documented form: one event object per call."""

    def __init__(self) -> None:
        self.events: list[WorkflowEvent] = []

    async def emit(self, event: WorkflowEvent) -> None:
        self.events.append(event)


class KeywordEventBus(EventBus):
    """An ``EventBus`` subclass stays on event objects even if its ``emit`` accepts keywords."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    async def emit(self, event: WorkflowEvent, **extra: Any) -> None:  # type: ignore[override]
        self.events.append(event)


def _fail(_context: Any) -> None:
    raise RuntimeError("boom")


def approval() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="named_events",
        steps=[Fn("submit"), BaseHumanStep("approve"), Fn("done")],
        edges=[Edge("submit", "approve"), Edge("approve", "done")],
        initial_step="submit",
    )


def failing() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="named_failure", steps=[Fn("explode", _fail)], edges=[], initial_step="explode"
    )


def engine_with(bus: object) -> LocalExecutionEngine:
    registry = WorkflowRegistry()
    registry.register_definition(approval())
    registry.register_definition(failing())
    return LocalExecutionEngine(registry, event_bus=bus)


async def test_a_named_bus_gets_started_waiting_and_completed_with_the_reference_keywords() -> None:
    bus = NamedBus()
    engine = engine_with(bus)
    instance = await engine.start_workflow("named_events", {"amount": 5})
    await engine.wait(instance.id, until=WorkflowStatus.WAITING, timeout=5)
    assert bus.calls == [
        ("workflow.started", {"instance_id": instance.id}),
        ("workflow.waiting", {"instance_id": instance.id, "step_name": "approve"}),
    ]
    await engine.complete_human_task(instance.id, "approve", "alice", {"ok": True})
    done = await engine.wait(instance.id, until=FINISHED, timeout=5)
    assert done.status is WorkflowStatus.COMPLETED
    assert bus.calls[2:] == [("workflow.completed", {"instance_id": instance.id})]


async def test_a_named_bus_hears_failure_and_cancellation() -> None:
    bus = NamedBus()
    engine = engine_with(bus)
    failed = await engine.start_workflow("named_failure")
    assert (await engine.wait(failed.id, until=FINISHED, timeout=5)).status is WorkflowStatus.FAILED
    waiting = await engine.start_workflow("named_events")
    await engine.wait(waiting.id, until=WorkflowStatus.WAITING, timeout=5)
    await engine.cancel_workflow(waiting.id, "no longer needed")
    names = [(name, fields["instance_id"]) for name, fields in bus.calls]
    assert ("workflow.failed", failed.id) in names
    assert ("workflow.canceled", {"instance_id": waiting.id, "reason": "no longer needed"}) in bus.calls
    assert all(
        isinstance(name, str) and isinstance(fields["instance_id"], UUID) for name, fields in bus.calls
    )


@pytest.mark.parametrize("bus_type", [ObjectBus, KeywordEventBus])
async def test_documented_buses_keep_getting_event_objects(
    bus_type: type[ObjectBus | KeywordEventBus],
) -> None:
    bus = bus_type()
    engine = engine_with(bus)
    instance = await engine.start_workflow("named_events")
    await engine.wait(instance.id, until=WorkflowStatus.WAITING, timeout=5)
    assert bus.events, "the bus received nothing"
    assert all(isinstance(event, WorkflowEvent) for event in bus.events)
    assert isinstance(bus.events[0], WorkflowStarted)
    assert bus.events[0].instance_id == instance.id


async def test_a_mock_bus_gets_the_named_calls() -> None:
    bus = AsyncMock()
    engine = engine_with(bus)
    instance = await engine.start_workflow("named_failure")
    await engine.wait(instance.id, until=FINISHED, timeout=5)
    bus.emit.assert_any_await("workflow.started", instance_id=instance.id)
    bus.emit.assert_any_await("workflow.failed", instance_id=instance.id)


def test_an_emit_set_on_the_object_is_inspected_each_time() -> None:
    bus = ObjectBus()
    assert not takes_named_events(bus)
    bus.emit = NamedBus().emit  # type: ignore[method-assign]
    assert takes_named_events(bus)
    assert not takes_named_events(ObjectBus())  # the class's own emit is unchanged


def test_which_buses_take_named_events() -> None:
    assert takes_named_events(NamedBus())
    assert not takes_named_events(ObjectBus())
    assert not takes_named_events(KeywordEventBus())
    assert not takes_named_events(EventBus())
    assert not takes_named_events(object())  # no emit at all: left to the usual error path
