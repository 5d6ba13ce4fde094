"""What one interpreter step produced: the rows to write and the work to start."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.events import WorkflowEvent
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData


class Transition:
    """The outcome of applying one event to one instance.

    A store commits ``instance`` (status, context, version, runtime state), every execution in
    ``writes`` and every task in ``tasks`` in one transaction; only then does a driver start the
    executions in ``start`` (at their ``scheduled_for`` when set), arm the ``timers``, abandon
    the executions in ``cancel`` and publish ``events``.
    """

    __slots__ = ("cancel", "created", "events", "instance", "leased", "start", "tasks", "timers", "writes")

    def __init__(self, instance: WorkflowInstanceData, *, created: bool = False) -> None:
        # A plain __init__, and the rarely used lists start as a shared empty tuple: one
        # Transition is made per step, and every container allocated per step feeds the
        # cyclic garbage collector, which then dominates the cost of a transition.
        self.instance = instance
        self.created = created
        """True for the transition that creates the instance (an insert rather than an update)."""
        self.writes: list[StepExecution] = []
        self.start: list[StepExecution] = []
        self.timers: Sequence[StepExecution] = ()
        self.cancel: Sequence[StepExecution] = ()
        self.tasks: Sequence[HumanTask] = ()
        self.events: Sequence[WorkflowEvent] = ()
        self.leased: UUID | None = None
        """The execution whose outcome this records, run by this process: a durable store
        commits it only while this process still holds that execution's lease."""

    def add_timer(self, run: StepExecution) -> None:
        """Arm a timer for ``run`` (waiting until its ``scheduled_for``)."""
        self.timers = [*self.timers, run]

    def add_cancel(self, run: StepExecution) -> None:
        """Abandon whatever still runs for ``run``."""
        self.cancel = [*self.cancel, run]

    def add_task(self, task: HumanTask) -> None:
        """Write ``task`` (created or changed)."""
        self.tasks = [*self.tasks, task]

    def add_event(self, event: WorkflowEvent) -> None:
        """Publish ``event`` once the transition is committed."""
        if isinstance(self.events, list):
            self.events.append(event)
        else:
            self.events = [event]

    def __repr__(self) -> str:
        return (
            f"<Transition {self.instance.id} {self.instance.status} writes={len(self.writes)} "
            f"start={[r.step_name for r in self.start]}>"
        )


__all__ = ("Transition",)
