"""The data a running workflow carries: its context and the record of each step execution."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any
from uuid import UUID, uuid4

from litestar_workflows.core.types import StepStatus, StepType

utcnow = partial(datetime.now, UTC)
"""Return the current time, timezone-aware in UTC (the clock engines use by default).

A ``partial`` rather than a function: it is called several times per transition and a C-level
call is measurably cheaper.
"""


@dataclass(slots=True, eq=False)
class StepExecution:
    """One execution of one step of one instance: a row of the instance's history.

    The first eight fields are the documented ones; the rest is what the engine needs to run the
    step exactly once per attempt (``id`` and ``attempt`` make an idempotency key) and to resume it
    after a restart (``scheduled_for`` for timers and retry back-off).
    """

    step_name: str
    status: StepStatus
    result: Any = None
    error: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    input_data: dict[str, Any] | None = None
    output_data: dict[str, Any] | None = None
    id: UUID | None = None
    step_type: StepType = StepType.MACHINE
    attempt: int = 1
    iteration: int = 0
    scheduled_for: datetime | None = None
    assigned_to: str | None = None
    completed_by: str | None = None
    context_changes: dict[str, Any] | None = None
    """What the step changed in the context: ``{"set": {...}, "deleted": [...]}``."""
    error_type: str | None = None
    """Class of the exception a failed (or retried) attempt raised, e.g. ``"ConnectionError"``."""
    stack_trace: str | None = None
    """Its traceback: the innermost frames, at most 8 KB, without local variables."""


@dataclass(slots=True, eq=False)
class WorkflowContext:
    """What a step sees of its workflow: the instance data plus who, where and what ran before.

    Steps read and write :attr:`data` (through :meth:`get` / :meth:`set` or directly). Each step
    gets its own copy of the data; what it changed is applied to the instance when its completion
    is committed, so a failing step never leaves half its writes behind.
    """

    workflow_id: str = ""
    instance_id: UUID = field(default_factory=uuid4)
    """Engines always pass both; the defaults make a bare ``WorkflowContext()`` for testing a step."""
    data: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    current_step: str | None = None
    step_history: list[StepExecution] = field(default_factory=list)
    started_at: datetime = field(default_factory=utcnow)
    user_id: str | None = None
    tenant_id: str | None = None
    execution_id: UUID | None = None
    """Id of the step execution this context was handed to (stable across attempts)."""
    attempt: int = 1
    """Attempt number of the current step execution, starting at 1."""

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``data[key]``, or ``default`` when the key is absent."""
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Set ``data[key]``; the value must be JSON-serializable to survive the step."""
        self.data[key] = value

    def with_step(self, step_name: str) -> WorkflowContext:
        """Return a copy of this context positioned at ``step_name`` (data dict shared)."""
        return replace(self, current_step=step_name)

    def get_last_execution(self, step_name: str | None = None) -> StepExecution | None:
        """Return the most recent execution (of ``step_name`` when given), or ``None``."""
        for execution in reversed(self.step_history):
            if step_name is None or execution.step_name == step_name:
                return execution
        return None

    def has_step_executed(self, step_name: str) -> bool:
        """Tell whether ``step_name`` has an execution that succeeded.

        Compared by value, so a history built by hand with the status as text (``"succeeded"``,
        as the reference package's ``str`` field holds it) counts too.
        """
        return any(e.step_name == step_name and e.status == StepStatus.SUCCEEDED for e in self.step_history)

    @property
    def idempotency_key(self) -> str:
        """``"<execution_id>:<attempt>"``: one key per attempt of the step execution.

        It tells attempts apart (a retry, or a re-run after a crash on the distributed engines,
        is a new attempt); a side effect that must happen once across all of them is keyed on
        :attr:`execution_id` alone.
        """
        return f"{self.execution_id}:{self.attempt}"


__all__ = ("StepExecution", "WorkflowContext", "utcnow")
