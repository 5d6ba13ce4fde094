"""The error tree: one root, a shallow hierarchy, errors that carry what they are about.

Every error a user can meet derives from :class:`WorkflowsError`, so one ``except`` catches them
all, and each carries a human-readable ``detail`` that says what is wrong and, where possible,
how to fix it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence


def _is_message(value: object) -> bool:
    """Tell a detail message (text with a space) from an id or a step name given positionally.

    The error classes below accept the reference package's domain arguments (an id, a step name)
    as well as the single detail string this package's own code passes; ids and step names never
    contain whitespace, messages always do.
    """
    return isinstance(value, str) and any(c.isspace() for c in value)


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
        WorkflowsError.__init__(self, f"workflow instance {instance_id} not found")

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.instance_id,))

    __str__ = WorkflowsError.__str__


class WorkflowValidationError(WorkflowsError, ValueError):
    """A workflow definition, expression or input is invalid; ``errors`` lists every problem.

    ``fields``, when set (data that failed a JSON Schema), names the field of each entry of
    ``errors``, in order: each entry then reads ``"<field>: <message>"``.
    """

    fields: list[str] | None = None

    def __init__(self, detail: str | Sequence[str] = "", errors: Sequence[str] | None = None) -> None:
        if not isinstance(detail, str):  # the reference's form: WorkflowValidationError([...problems])
            errors, detail = list(detail), ""
        self.errors: list[str] = list(errors) if errors else ([detail] if detail else [])
        if errors and not detail:
            detail = "; ".join(self.errors)
        super().__init__(detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.detail, self.errors))


class StepExecutionError(WorkflowsError):
    """A step failed; ``step_name`` says which and ``cause`` holds the error it raised, if any.

    Two call forms: ``StepExecutionError(step_name, cause=None)`` (the reference's, message
    "step 'x' failed: <cause>") and ``StepExecutionError(detail, step_name)`` with a message.
    """

    def __init__(
        self,
        detail: str = "",
        step_name: str | BaseException | None = None,
        cause: BaseException | None = None,
    ) -> None:
        if isinstance(step_name, BaseException):  # StepExecutionError(name, error) positionally
            step_name, cause = None, step_name
        if step_name is None and detail and not _is_message(detail):
            step_name = detail
            detail = f"step {step_name!r} failed" + (f": {cause}" if cause is not None else "")
        elif cause is not None and str(cause) not in detail:
            detail = f"{detail}: {cause}" if detail else str(cause)
        self.step_name = step_name
        self.cause = cause
        super().__init__(detail)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.detail, self.step_name))


class _DetailedStepError(StepExecutionError):
    """A step error whose first argument is always the message (raised with prose, not a name)."""

    def __init__(
        self, detail: str = "", step_name: str | None = None, cause: BaseException | None = None
    ) -> None:
        self.step_name = step_name
        self.cause = cause
        WorkflowsError.__init__(self, detail)


class NonRetryableError(_DetailedStepError):
    """Raised by step code to fail at once, whatever the step's retry policy says."""


class StepTimeoutError(_DetailedStepError):
    """A step ran longer than its timeout."""


class StepCancelledError(_DetailedStepError):
    """A step raised ``asyncio.CancelledError`` the engine did not ask for: a failure, retried as such."""


class StepExitError(_DetailedStepError):
    """A step raised ``SystemExit`` (``sys.exit()``, argparse on bad arguments): a failure, retried as such.

    A step cannot end the process it runs in: that would take every other instance's steps on
    a worker (or the web application, in process) down with it, and run the step again after
    its lease forever.
    """

    @classmethod
    def replacing(cls, exited: SystemExit, step_name: str | None) -> StepExitError:
        """The failure that stands for ``exited``, raised by step ``step_name`` (kept as its cause)."""
        error = cls(
            f"step {step_name!r} raised SystemExit({exited.code!r}) (sys.exit(), or argparse refusing its "
            "arguments); a step cannot end the process, so it fails instead",
            step_name,
        )
        error.__cause__ = exited
        return error


class InvalidTransitionError(WorkflowsError, ValueError):
    """The requested operation is not allowed in the instance's current state.

    ``InvalidTransitionError(detail)`` or the reference's ``(from_step, to_step, reason=None)``.
    Also a ``ValueError``: the reference's engines raised that for such misuse (completing a task
    of an instance that is not waiting).
    """

    def __init__(self, detail: str = "", to_step: str | None = None, reason: str | None = None) -> None:
        self.from_step: str | None = None
        self.to_step = to_step
        self.reason = reason
        if to_step is not None:
            self.from_step = detail
            detail = f"invalid transition from {detail!r} to {to_step!r}" + (f": {reason}" if reason else "")
        super().__init__(detail)

    def __reduce__(self) -> tuple[Any, ...]:
        if self.to_step is not None:
            return (self.__class__, (self.from_step, self.to_step, self.reason))
        return (self.__class__, (self.detail,))


class WorkflowAlreadyCompletedError(InvalidTransitionError):
    """The instance has already finished; it cannot change any more.

    ``WorkflowAlreadyCompletedError(detail)`` or the reference's ``(instance_id, status)``.
    """

    def __init__(self, detail: object = "", status: object = None) -> None:
        self.instance_id: object = None
        self.status = status
        if status is not None or not _is_message(detail):
            self.instance_id = detail
            detail = f"workflow instance {detail} is already {status if status is not None else 'finished'}"
        InvalidTransitionError.__init__(self, str(detail))

    def __reduce__(self) -> tuple[Any, ...]:
        if self.instance_id is not None:
            return (self.__class__, (self.instance_id, self.status))
        return (self.__class__, (self.detail,))


class HumanTaskError(WorkflowsError):
    """A human task cannot be handled as asked."""


class _TaskError(HumanTaskError):
    """Task errors take the reference's ``task_id`` first, or this package's detail message."""

    _template = "task {task_id} failed"

    def __init__(self, detail: object = "", *args: Any) -> None:
        self.task_id: object = None
        if detail != "" and not _is_message(detail):
            self.task_id = detail
            detail = self._template.format(task_id=detail)
        WorkflowsError.__init__(self, str(detail), *args)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.detail if self.task_id is None else self.task_id,))


class TaskNotFoundError(_TaskError, KeyError, ValueError):
    """No human task matches (also a ``ValueError``, as the reference raised for an unknown step)."""

    _template = "task {task_id} not found"

    __str__ = WorkflowsError.__str__


class TaskAlreadyCompletedError(_TaskError):
    """The human task was already completed (possibly by a concurrent request)."""

    _template = "task {task_id} is already completed"


class UnauthorizedError(WorkflowsError):
    """The acting user (or the lack of one) may not do this; ``detail`` says why."""


class UnauthorizedTaskError(HumanTaskError, UnauthorizedError):
    """The user may not act on this human task.

    ``UnauthorizedTaskError(detail)`` or the reference's ``(task_id, user_id)``.
    """

    def __init__(self, detail: object = "", user_id: str | None = None) -> None:
        self.task_id: object = None
        self.user_id = user_id
        if user_id is not None or (detail != "" and not _is_message(detail)):
            self.task_id = detail
            detail = f"user {user_id!r} is not authorized to act on task {detail}"
        WorkflowsError.__init__(self, str(detail))

    def __reduce__(self) -> tuple[Any, ...]:
        if self.task_id is not None:
            return (self.__class__, (self.task_id, self.user_id))
        return (self.__class__, (self.detail,))


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


class WaitTimeoutError(WorkflowsError, TimeoutError):
    """``wait(..., timeout=...)`` ran out before the instance reached a status it waited for.

    A ``TimeoutError``, so ``except TimeoutError`` still catches it; the message and the
    attributes say which instance, what was awaited, and where the instance was instead.
    """

    def __init__(
        self,
        instance_id: Any = None,
        until: tuple[str, ...] = (),
        status: str = "",
        step: str | None = None,
        timeout: float = 0.0,
    ) -> None:
        awaited = " or ".join(until) or "a status"
        where = f"{status} at step {step!r}" if step else status
        super().__init__(f"instance {instance_id} did not reach {awaited} within {timeout:g}s; it is {where}")
        self.instance_id = instance_id
        self.until = until
        self.status = status
        self.step = step
        self.timeout = timeout

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.instance_id, self.until, self.status, self.step, self.timeout))


class InstanceKeyTakenError(WorkflowsError):
    """An instance of the workflow already has this start key: the start that raised it lost.

    Raised by stores when they are asked to create a second instance with one
    ``(workflow_name, key)``; ``start_workflow`` answers it with the instance that has the key.
    """

    def __init__(self, workflow_name: str = "", key: str = "") -> None:
        super().__init__(f"workflow {workflow_name!r} already has an instance with key {key!r}")
        self.workflow_name = workflow_name
        self.key = key

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.workflow_name, self.key))


__all__ = (
    "ConcurrencyError",
    "ContextSerializationError",
    "HumanTaskError",
    "InstanceKeyTakenError",
    "InvalidTransitionError",
    "LeaseLostError",
    "NonRetryableError",
    "StepCancelledError",
    "StepExecutionError",
    "StepExitError",
    "StepTimeoutError",
    "StoreError",
    "TaskAlreadyCompletedError",
    "TaskNotFoundError",
    "TaskValidationError",
    "UnauthorizedError",
    "UnauthorizedInstanceError",
    "UnauthorizedTaskError",
    "WaitTimeoutError",
    "WorkflowAlreadyCompletedError",
    "WorkflowInstanceNotFoundError",
    "WorkflowNotFoundError",
    "WorkflowValidationError",
    "WorkflowsError",
)
