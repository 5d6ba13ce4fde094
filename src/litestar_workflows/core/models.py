"""The state of workflow instances and human tasks, as engines hand it to users and stores."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.context import StepExecution, WorkflowContext, utcnow
from litestar_workflows.core.types import (
    TERMINAL_WORKFLOW_STATUSES,
    HumanTaskStatus,
    StepStatus,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID


_FINISHED = TERMINAL_WORKFLOW_STATUSES


@dataclass(slots=True, eq=False)
class HumanTask:
    """A piece of work waiting for a person: what to fill in, who may do it, by when."""

    id: UUID
    instance_id: UUID
    step_execution_id: UUID
    step_name: str
    title: str
    description: str | None = None
    form_schema: dict[str, Any] | None = None
    assignee_id: str | None = None
    assignee_group: str | None = None
    due_at: datetime | None = None
    reminder_at: datetime | None = None
    status: HumanTaskStatus = HumanTaskStatus.PENDING
    created_at: datetime = field(default_factory=utcnow)
    completed_at: datetime | None = None
    completed_by: str | None = None
    data: dict[str, Any] | None = None
    workflow_name: str = ""
    tenant_id: str | None = None

    @property
    def is_pending(self) -> bool:
        """Tell whether the task still waits for someone."""
        return self.status is HumanTaskStatus.PENDING


@dataclass(slots=True, eq=False)
class RuntimeState:
    """The interpreter's bookkeeping for one instance; owned and changed by the interpreter only.

    ``arrivals`` maps a join step to the tokens its forward incoming edges delivered (source name
    -> alive?). ``activations`` counts how often each step was activated (its next iteration).
    ``interrupted`` remembers the branches a failure canceled so that ``retry`` restarts them.
    ``held`` are executions created while paused; they start on resume.
    """

    active: dict[int, StepExecution] = field(default_factory=dict)
    """Executions not finished yet, keyed by ``id.int`` (hashing an int is cheaper than a UUID)."""
    arrivals: dict[str, dict[str, bool]] = field(default_factory=dict)
    activations: dict[str, int] = field(default_factory=dict)
    pending_tasks: dict[int, HumanTask] = field(default_factory=dict)
    """Tasks waiting for a person, keyed by ``id.int`` like ``active``."""
    failed_step: str | None = None
    # Tuples, empty by default: most instances never need them, and a shared empty tuple costs
    # nothing, where two empty lists per instance are two more objects for the cyclic GC to scan.
    interrupted: tuple[str, ...] = ()
    held: tuple[UUID, ...] = ()
    paused_from: WorkflowStatus | None = None
    deferred: dict[tuple[str, str], None] = field(default_factory=dict)
    """Dead tokens of loop exits held back until their loop has nothing active (ordered set)."""
    stale: bool = False
    """Set by a store when this copy of the instance lost a write race: reload before using it."""

    @classmethod
    def fresh(cls) -> RuntimeState:
        """A new, empty state (positional construction: one per started instance, so it counts)."""
        return cls({}, {}, {}, {}, None, (), (), None, {}, False)

    def to_json(self) -> dict[str, Any]:
        """The part a store must keep beside the executions and tasks rows (a fresh JSON copy)."""
        return {
            "arrivals": {target: dict(tokens) for target, tokens in self.arrivals.items()},
            "activations": dict(self.activations),
            "failed_step": self.failed_step,
            "interrupted": list(self.interrupted),
            "held": [str(run_id) for run_id in self.held],
            "paused_from": None if self.paused_from is None else str(self.paused_from),
            "deferred": [list(edge) for edge in self.deferred],
        }


@dataclass(slots=True, eq=False)
class WorkflowInstanceData:
    """One instance of a workflow: its status, its context and where it stands.

    The local engine returns the live object, so ``instance.status`` always shows the current
    status; engines backed by a database return the copy they hold, current when returned
    (another process's changes show on the next ``get_instance``). Treat it as read-only.
    """

    id: UUID
    workflow_name: str
    workflow_version: str
    status: WorkflowStatus
    context: WorkflowContext
    current_step: str | None = None
    error: str | None = None
    started_at: datetime = field(default_factory=utcnow)
    completed_at: datetime | None = None
    tenant_id: str | None = None
    created_by: str | None = None
    version: int = 0
    """Optimistic concurrency counter: incremented by every committed transition."""
    runtime: RuntimeState = field(default_factory=RuntimeState, repr=False)
    key: str | None = None
    """The key it was started with (``start_workflow(..., key=...)``): at most one instance of a
    workflow has a given key, and starting again with it returns that instance."""

    @property
    def data(self) -> dict[str, Any]:
        """The instance's context data."""
        return self.context.data

    @property
    def workflow_id(self) -> str:
        """The id of the workflow definition the instance runs (the reference's attribute)."""
        return self.context.workflow_id

    @property
    def step_history(self) -> list[StepExecution]:
        """Every step execution of the instance, in the order they were created."""
        return self.context.step_history

    @property
    def is_finished(self) -> bool:
        """Tell whether the instance reached COMPLETED, FAILED or CANCELED."""
        return self.status in _FINISHED

    def executions_of(self, step_name: str, status: StepStatus | None = None) -> list[StepExecution]:
        """Executions of ``step_name`` (with ``status`` when given)."""
        return [
            e
            for e in self.context.step_history
            if e.step_name == step_name and (status is None or e.status is status)
        ]


__all__ = ("HumanTask", "RuntimeState", "WorkflowInstanceData")
