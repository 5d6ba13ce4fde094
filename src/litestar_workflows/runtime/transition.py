"""What one interpreter step produced: the rows to write and the work to start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.events import WorkflowEvent
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData


@dataclass(slots=True, eq=False)
class Transition:
    """The outcome of applying one event to one instance.

    A store commits ``instance`` (status, context, version, runtime state), every execution in
    ``writes`` and every task in ``tasks`` in one transaction; only then does a driver start the
    executions in ``start`` (at their ``scheduled_for`` when set), arm the ``timers``, abandon
    the executions in ``cancel`` and publish ``events``.
    """

    instance: WorkflowInstanceData
    writes: list[StepExecution] = field(default_factory=list)
    start: list[StepExecution] = field(default_factory=list)
    timers: list[StepExecution] = field(default_factory=list)
    cancel: list[StepExecution] = field(default_factory=list)
    tasks: list[HumanTask] = field(default_factory=list)
    events: list[WorkflowEvent] = field(default_factory=list)
    created: bool = False
    """True for the transition that creates the instance (an insert rather than an update)."""


__all__ = ("Transition",)
