"""Status and kind enums; ``StrEnum`` so they serialise as their lower-case values."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class StepType(StrEnum):
    """What kind of work a step does, which decides how the engine runs it."""

    MACHINE = "machine"
    HUMAN = "human"
    WEBHOOK = "webhook"
    TIMER = "timer"
    GATEWAY = "gateway"


class StepStatus(StrEnum):
    """Lifecycle of one step execution."""

    PENDING = "pending"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    SKIPPED = "skipped"


class WorkflowStatus(StrEnum):
    """Lifecycle of one workflow instance."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


class HumanTaskStatus(StrEnum):
    """Lifecycle of one human task."""

    PENDING = "pending"
    COMPLETED = "completed"
    CANCELED = "canceled"


TERMINAL_WORKFLOW_STATUSES = frozenset(
    {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED}
)
FINAL_WORKFLOW_STATUSES = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.CANCELED})
"""The statuses no operation leaves (a failed instance may still be retried): a copy of an
instance in one of them stays current for good."""
FINISHED_STEP_STATUSES = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELED, StepStatus.SKIPPED}
)


def __getattr__(name: str) -> Any:
    # ``StepExecution`` lives in core.context (which imports this module); the reference package
    # re-exports it here, so it is served lazily to keep the import order acyclic.
    if name == "StepExecution":
        from litestar_workflows.core.context import StepExecution

        return StepExecution
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = (
    "FINAL_WORKFLOW_STATUSES",
    "FINISHED_STEP_STATUSES",
    "TERMINAL_WORKFLOW_STATUSES",
    "HumanTaskStatus",
    "StepStatus",
    "StepType",
    "WorkflowStatus",
)
