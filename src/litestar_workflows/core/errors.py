"""The error tree: one root, a shallow hierarchy, errors that carry what they are about.

Every error a user can meet derives from :class:`WorkflowsError`, so one ``except`` catches them
all, and each carries a human-readable ``detail`` that says what is wrong and, where possible,
how to fix it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence


class WorkflowsError(Exception):
    """Root of every error raised by litestar-workflows."""

    detail: str

    def __init__(self, detail: str = "", *args: Any) -> None:
        self.detail = detail or self.__class__.__doc__ or self.__class__.__name__
        super().__init__(self.detail, *args)

    def __str__(self) -> str:
        return self.detail

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (distributed workers); keep them picklable.
        return (self.__class__, (self.detail,))


class WorkflowNotFoundError(WorkflowsError, KeyError):
    """No workflow definition with that name (and version) is registered."""

    def __init__(self, name: str = "", version: str | None = None) -> None:
        self.name = name
        self.version = version
        if version is None:
            detail = f"workflow {name!r} is not registered"
        else:
            detail = f"workflow {name!r} has no version {version!r}"
        WorkflowsError.__init__(self, detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.name, self.version))

    __str__ = WorkflowsError.__str__


class WorkflowInstanceNotFoundError(WorkflowsError, KeyError):
    """No workflow instance has that id."""

    def __init__(self, instance_id: object = "") -> None:
        self.instance_id = instance_id
        WorkflowsError.__init__(self, f"workflow instance {instance_id} does not exist")

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.instance_id,))

    __str__ = WorkflowsError.__str__


class WorkflowValidationError(WorkflowsError, ValueError):
    """A workflow definition, expression or input is invalid; ``errors`` lists every problem."""

    def __init__(self, detail: str = "", errors: Sequence[str] | None = None) -> None:
        self.errors: list[str] = list(errors) if errors else ([detail] if detail else [])
        if errors and not detail:
            detail = "; ".join(self.errors)
        super().__init__(detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.detail, self.errors))


class StepExecutionError(WorkflowsError):
    """A step failed; ``step_name`` says which."""

    def __init__(self, detail: str = "", step_name: str | None = None) -> None:
        self.step_name = step_name
        super().__init__(detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.detail, self.step_name))


class NonRetryableError(StepExecutionError):
    """Raised by step code to fail at once, whatever the step's retry policy says."""


class StepTimeoutError(StepExecutionError):
    """A step ran longer than its timeout."""


class StepCancelledError(StepExecutionError):
    """A step raised ``asyncio.CancelledError`` the engine did not ask for: a failure, retried as such."""


class InvalidTransitionError(WorkflowsError):
    """The requested operation is not allowed in the instance's current state."""


class WorkflowAlreadyCompletedError(InvalidTransitionError):
    """The instance has already finished; it cannot change any more."""


class HumanTaskError(WorkflowsError):
    """A human task cannot be handled as asked."""


class TaskNotFoundError(HumanTaskError, KeyError):
    """No human task matches."""

    __str__ = WorkflowsError.__str__


class TaskAlreadyCompletedError(HumanTaskError):
    """The human task was already completed (possibly by a concurrent request)."""


class UnauthorizedError(WorkflowsError):
    """The acting user (or the lack of one) may not do this; ``detail`` says why."""


class UnauthorizedTaskError(HumanTaskError, UnauthorizedError):
    """The user may not act on this human task."""


class UnauthorizedInstanceError(UnauthorizedError):
    """The user may not cancel, retry, pause or resume this workflow instance."""


class TaskValidationError(HumanTaskError, WorkflowValidationError):
    """The submitted form data does not satisfy the task's JSON Schema; ``errors`` names each field."""

    def __init__(self, detail: str = "", errors: Sequence[str] | None = None) -> None:
        WorkflowValidationError.__init__(self, detail, errors)


class ContextSerializationError(WorkflowValidationError):
    """A value meant for the workflow context (initial data, step output, task data) is not JSON."""


class StoreError(WorkflowsError):
    """The store (database) failed or is not usable as configured."""


class ConcurrencyError(StoreError):
    """Someone else changed the instance first (optimistic version check failed)."""


class LeaseLostError(ConcurrencyError):
    """Another process took over an execution (its lease ran out here): this outcome is dropped.

    The step may have run in both processes (steps run at least once); only the lease holder's
    outcome is committed.
    """


__all__ = (
    "ConcurrencyError",
    "ContextSerializationError",
    "HumanTaskError",
    "InvalidTransitionError",
    "LeaseLostError",
    "NonRetryableError",
    "StepCancelledError",
    "StepExecutionError",
    "StepTimeoutError",
    "StoreError",
    "TaskAlreadyCompletedError",
    "TaskNotFoundError",
    "TaskValidationError",
    "UnauthorizedError",
    "UnauthorizedInstanceError",
    "UnauthorizedTaskError",
    "WorkflowAlreadyCompletedError",
    "WorkflowInstanceNotFoundError",
    "WorkflowNotFoundError",
    "WorkflowValidationError",
    "WorkflowsError",
)
