"""Typed events the engines emit on every transition, and the bus that delivers them.

Events are plain dataclasses with ``type`` (the class name), ``instance_id`` and ``timestamp``
(the only two positional fields, as in the reference package; every other field is a keyword).
They carry the reference's fields too (``status``, ``canceled_by``, ``form_data``...), with the
reference's names kept in step with this package's own where both say the same thing.
A subscriber that raises is logged and never breaks the workflow that emitted the event.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.context import utcnow

if TYPE_CHECKING:
    from datetime import datetime
    from typing import Protocol
    from uuid import UUID

    class _Emitter(Protocol):
        async def emit(self, event: WorkflowEvent) -> None: ...


logger = logging.getLogger("litestar_workflows.events")


@dataclass(slots=True)
class WorkflowEvent:
    """Base of every event."""

    instance_id: UUID
    timestamp: datetime = field(default_factory=utcnow)
    _: KW_ONLY
    workflow_name: str = ""

    @property
    def type(self) -> str:
        """The event's kind: its class name (e.g. ``"WorkflowFailed"``)."""
        return type(self).__name__


@dataclass(slots=True, kw_only=True)
class WorkflowStarted(WorkflowEvent):
    """An instance was created and its initial step scheduled."""

    workflow_version: str = ""
    tenant_id: str | None = None
    created_by: str | None = None
    initial_data: dict[str, Any] | None = None
    user_id: str | None = None


WorkflowStartedEvent = WorkflowStarted
"""Alias of :class:`WorkflowStarted` under the name the documentation's cookbook uses."""


@dataclass(slots=True, kw_only=True)
class WorkflowCompleted(WorkflowEvent):
    """No branch of the instance is active any more."""

    status: str = "completed"
    final_step: str | None = None
    duration_seconds: float | None = None


WorkflowCompletedEvent = WorkflowCompleted
"""Alias of :class:`WorkflowCompleted` under the name the documentation's cookbook uses."""


@dataclass(slots=True, kw_only=True)
class WorkflowFailed(WorkflowEvent):
    """A step failed after its retries; ``error`` names it."""

    error: str = ""
    failed_step: str | None = None
    error_type: str | None = None
    stack_trace: str | None = None


WorkflowFailedEvent = WorkflowFailed
"""Alias of :class:`WorkflowFailed` under the name the documentation's cookbook uses."""


@dataclass(slots=True, kw_only=True)
class WorkflowCanceled(WorkflowEvent):
    """The instance was canceled."""

    reason: str = ""
    canceled_by: str | None = None
    current_step: str | None = None


@dataclass(slots=True, kw_only=True)
class WorkflowPaused(WorkflowEvent):
    """The instance was paused: no new step starts until it is resumed."""

    reason: str | None = None
    paused_at_step: str | None = None


@dataclass(slots=True, kw_only=True)
class WorkflowResumed(WorkflowEvent):
    """A paused instance continues."""

    resumed_by: str | None = None
    resuming_at_step: str | None = None


@dataclass(slots=True, kw_only=True)
class WorkflowRetried(WorkflowEvent):
    """A failed instance was restarted from ``from_step``."""

    from_step: str = ""


@dataclass(slots=True, kw_only=True)
class StepEvent(WorkflowEvent):
    """Base of events about one step execution."""

    step_name: str = ""
    execution_id: UUID | None = None
    attempt: int = 1


@dataclass(slots=True, kw_only=True)
class StepStarted(StepEvent):
    """A step execution began running."""

    step_type: str | None = None
    input_data: dict[str, Any] | None = None


@dataclass(slots=True, kw_only=True)
class StepCompleted(StepEvent):
    """A step succeeded; ``result`` is what it returned."""

    result: Any = None
    status: str = "succeeded"
    output_data: dict[str, Any] | None = None
    duration_seconds: float | None = None


StepExecuted = StepCompleted
"""Alias of :class:`StepCompleted` under the name the documentation uses."""

StepCompletedEvent = StepCompleted
"""Alias of :class:`StepCompleted` under the name the documentation's cookbook uses."""


@dataclass(slots=True, kw_only=True)
class StepFailed(StepEvent):
    """A step attempt failed; ``will_retry`` tells whether another attempt is scheduled."""

    error: str = ""
    will_retry: bool = False
    error_type: str | None = None
    retry_count: int = 0


@dataclass(slots=True, kw_only=True)
class StepSkipped(StepEvent):
    """A step was skipped (``can_execute`` said no, or no live edge reached it)."""

    reason: str = ""


@dataclass(slots=True, kw_only=True)
class HumanTaskCreated(StepEvent):
    """A human task now waits for a person."""

    task_id: UUID | None = None
    assignee_id: str | None = None
    assignee_group: str | None = None
    title: str = ""
    assignee: str | None = None
    """The reference's name for ``assignee_id``; either one given fills both."""
    description: str | None = None
    due_at: datetime | None = None

    def __post_init__(self) -> None:
        self.assignee = self.assignee if self.assignee is not None else self.assignee_id
        self.assignee_id = self.assignee_id if self.assignee_id is not None else self.assignee

    @property
    def task_title(self) -> str:
        """The task's ``title``, under the name the documentation's cookbook reads (read-only).

        A property, not a field: the event's fields, and so its dict and JSON forms, are unchanged.
        """
        return self.title


HumanTaskCreatedEvent = HumanTaskCreated
"""Alias of :class:`HumanTaskCreated` under the name the documentation's cookbook uses."""


@dataclass(slots=True, kw_only=True)
class HumanTaskCompleted(StepEvent):
    """A person completed a human task."""

    task_id: UUID | None = None
    completed_by: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    form_data: dict[str, Any] | None = None
    """The reference's name for ``data``; either one given fills both."""
    comment: str | None = None

    def __post_init__(self) -> None:
        if self.form_data is None:
            self.form_data = self.data
        elif not self.data:
            self.data = self.form_data


@dataclass(slots=True, kw_only=True)
class HumanTaskReassigned(StepEvent):
    """A human task moved to another assignee."""

    task_id: UUID | None = None
    previous_assignee: str | None = None
    new_assignee: str | None = None
    reason: str | None = None
    from_assignee: str | None = None
    """The reference's name for ``previous_assignee`` (and ``to_assignee`` for ``new_assignee``)."""
    to_assignee: str | None = None
    reassigned_by: str | None = None

    def __post_init__(self) -> None:
        self.from_assignee = self.from_assignee if self.from_assignee is not None else self.previous_assignee
        self.previous_assignee = (
            self.previous_assignee if self.previous_assignee is not None else self.from_assignee
        )
        self.to_assignee = self.to_assignee if self.to_assignee is not None else self.new_assignee
        self.new_assignee = self.new_assignee if self.new_assignee is not None else self.to_assignee


@dataclass(slots=True, kw_only=True)
class HumanTaskReminder(StepEvent):
    """A pending task reached its ``reminder_at``: time to nudge whoever holds it (once per task)."""

    task_id: UUID | None = None
    assignee_id: str | None = None
    assignee_group: str | None = None
    title: str = ""
    reminder_at: datetime | None = None
    due_at: datetime | None = None


@dataclass(slots=True, kw_only=True)
class HumanTaskOverdue(StepEvent):
    """A pending task passed its ``due_at`` (once per task).

    ``escalated_to`` names where the step's ``escalate_to`` moved it (a user id, or
    ``"group:<name>"``); a :class:`HumanTaskReassigned` event follows in that case.
    """

    task_id: UUID | None = None
    assignee_id: str | None = None
    assignee_group: str | None = None
    title: str = ""
    due_at: datetime | None = None
    escalated_to: str | None = None


EventHandler = Callable[[WorkflowEvent], "Awaitable[None] | None"]


class EventBus:
    """Delivers events to subscribers; subclass and override :meth:`emit`, or subscribe handlers.

    Handlers may be sync or async. A handler that raises is logged with the event and the other
    handlers still run: observers never break workflows.
    """

    def __init__(self) -> None:
        self._handlers: list[tuple[EventHandler, tuple[type[WorkflowEvent], ...] | None]] = []

    def subscribe(
        self, handler: EventHandler, event_types: Iterable[type[WorkflowEvent]] | None = None
    ) -> Callable[[], None]:
        """Call ``handler`` for every event (or only ``event_types``); returns an unsubscribe function."""
        entry = (handler, tuple(event_types) if event_types is not None else None)
        self._handlers.append(entry)
        return lambda: self._handlers.remove(entry) if entry in self._handlers else None

    async def emit(self, event: WorkflowEvent) -> None:
        """Deliver ``event`` to every matching handler, isolating their failures."""
        for handler, types in list(self._handlers):
            if types is not None and not isinstance(event, types):
                continue
            try:
                outcome = handler(event)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                logger.exception("event handler %r failed on %s", handler, event.type)
            except asyncio.CancelledError:
                if cancel_requested():
                    raise
                logger.exception("event handler %r raised CancelledError on %s", handler, event.type)


LEGACY_EVENT_NAMES: dict[type[WorkflowEvent], str] = {
    WorkflowStarted: "workflow.started",
    HumanTaskCreated: "workflow.waiting",
    WorkflowCompleted: "workflow.completed",
    WorkflowFailed: "workflow.failed",
    WorkflowCanceled: "workflow.canceled",
}
"""The events the reference package's engines announce by name, and the names they use."""


def legacy_call(event: WorkflowEvent) -> tuple[str, dict[str, Any]] | None:
    """The reference engines' ``emit(name, **fields)`` arguments for ``event``, if they announce it.

    Only the five announcements those engines make, with exactly their keywords: ``instance_id``,
    plus ``step_name`` when waiting for a human task and ``reason`` when canceled.
    """
    name = LEGACY_EVENT_NAMES.get(type(event))
    if name is None:
        return None
    fields: dict[str, Any] = {"instance_id": event.instance_id}
    if isinstance(event, HumanTaskCreated):
        fields["step_name"] = event.step_name
    elif isinstance(event, WorkflowCanceled):
        fields["reason"] = event.reason
    return name, fields


def takes_named_events(bus: object) -> bool:
    """Tell whether ``bus`` is written for the reference engines' ``emit("workflow.started", **fields)``.

    That is a bus which is not an :class:`EventBus` and whose ``emit`` accepts keyword arguments
    (``**kwargs``): the documented form, ``emit(event)``, never passes any, so a bus that declares
    them expects the name-and-keywords calls. Every other bus receives the event objects.
    """
    if isinstance(bus, EventBus):
        return False
    if "emit" in getattr(bus, "__dict__", ()):  # set on the object itself (a mock): ask every time
        return _emit_takes_keywords(bus)
    kind = type(bus)
    answer = _NAMED_BY_CLASS.get(kind)
    if answer is None:  # a class's emit does not change: inspect it once (signature() is slow)
        answer = _NAMED_BY_CLASS[kind] = _emit_takes_keywords(bus)
    return answer


_NAMED_BY_CLASS: weakref.WeakKeyDictionary[type, bool] = weakref.WeakKeyDictionary()


def _emit_takes_keywords(bus: object) -> bool:
    try:
        parameters = inspect.signature(bus.emit).parameters.values()  # type: ignore[attr-defined]
    except (AttributeError, TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


async def deliver(bus: _Emitter, event: WorkflowEvent) -> None:
    """Emit through a user-supplied bus without ever letting its errors reach the workflow.

    A bus written for the reference engines (see :func:`takes_named_events`) gets their
    ``emit(name, **fields)`` calls for the events they announce, and nothing for the others.
    """
    try:
        if takes_named_events(bus):
            call = legacy_call(event)
            if call is not None:
                await bus.emit(call[0], **call[1])  # type: ignore[arg-type]
            return
        await bus.emit(event)
    except Exception:
        logger.exception("event bus %r failed on %s for instance %s", bus, event.type, event.instance_id)
    except asyncio.CancelledError:
        if cancel_requested():
            raise  # the caller's task is being cancelled: that is not the bus's to swallow
        logger.exception(
            "event bus %r raised CancelledError on %s for instance %s", bus, event.type, event.instance_id
        )


def cancel_requested() -> bool:
    """Tell whether the current task was asked to cancel, rather than code raising ``CancelledError``.

    ``Task.cancel()`` counts in ``Task.cancelling()``; a ``CancelledError`` that user code raises
    (or that comes from awaiting something else that was cancelled) does not. Only the former
    is the engine's (or its caller's) business; the latter is an error of that code.
    """
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


InMemoryEventBus = EventBus

__all__ = (
    "EventBus",
    "EventHandler",
    "HumanTaskCompleted",
    "HumanTaskCreated",
    "HumanTaskCreatedEvent",
    "HumanTaskOverdue",
    "HumanTaskReassigned",
    "HumanTaskReminder",
    "InMemoryEventBus",
    "StepCompleted",
    "StepCompletedEvent",
    "StepEvent",
    "StepExecuted",
    "StepFailed",
    "StepSkipped",
    "StepStarted",
    "WorkflowCanceled",
    "WorkflowCompleted",
    "WorkflowCompletedEvent",
    "WorkflowEvent",
    "WorkflowFailed",
    "WorkflowFailedEvent",
    "WorkflowPaused",
    "WorkflowResumed",
    "WorkflowRetried",
    "WorkflowStarted",
    "WorkflowStartedEvent",
)
