"""Base classes users subclass (or configure through their constructors) to write steps.

Every attribute a step has can be given as a class attribute or as a constructor argument, so
both ``class Approve(BaseHumanStep): name = "approve"`` and ``BaseHumanStep(name="approve")``
work.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from litestar_workflows.core.escalation import escalation_target
from litestar_workflows.core.step_settings import timeout_problem
from litestar_workflows.core.types import StepType

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from litestar_workflows.core.context import WorkflowContext
    from litestar_workflows.steps.retry import RetryPolicy

_UNSET: Any = object()


class BaseStep:
    """A unit of work in a workflow.

    Subclasses override :meth:`execute`; the hooks :meth:`can_execute`, :meth:`on_success` and
    :meth:`on_failure` are optional. ``retry_policy`` and ``timeout`` (seconds) apply to each
    execution.
    """

    name: str = ""
    description: str = ""
    step_type: ClassVar[StepType] = StepType.MACHINE
    retry_policy: RetryPolicy | None = None
    timeout: float | None = None

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        *,
        retry_policy: RetryPolicy | None = _UNSET,
        timeout: float | None = _UNSET,
    ) -> None:
        if name is not None:
            self.name = name
        if description is not None:
            self.description = description
        if retry_policy is not _UNSET:
            self.retry_policy = retry_policy
        if timeout is not _UNSET:
            problem = timeout_problem(timeout)
            if problem is not None:
                raise ValueError(f"step {self.name or type(self).__name__!r}: {problem}")
            self.timeout = timeout

    async def execute(self, context: WorkflowContext) -> Any:
        """Do the step's work; the return value is recorded as the step's result."""
        return None

    async def can_execute(self, context: WorkflowContext) -> bool:
        """Return ``False`` to skip this step (the flow still continues along its edges)."""
        return True

    async def on_success(self, context: WorkflowContext, result: Any) -> None:
        """Run after :meth:`execute` succeeded (its context changes are still applied)."""

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        """Run after an attempt of :meth:`execute` raised (before any retry)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class BaseMachineStep(BaseStep):
    """An automated step: the engine runs :meth:`execute` as soon as the step is reached."""

    step_type: ClassVar[StepType] = StepType.MACHINE


class BaseHumanStep(BaseStep):
    """A step that waits for a person: the engine creates a task and the instance waits.

    The task's data, validated against ``form_schema`` (JSON Schema), is merged into the context
    when the task is completed. The assignee is ``assignee`` (a user id), or the context value at
    ``assignee_key``; ``assignee_group`` lets any member of a group act.

    Deadlines: ``due_in`` / ``due_at`` set the task's due time and ``reminder_in`` /
    ``reminder_at`` its reminder (override :meth:`get_due_date` / :meth:`get_reminder_date` to
    compute them from the context). Each fires once, durably (see ``runtime/deadlines.py``): a
    ``HumanTaskReminder`` event, then a ``HumanTaskOverdue`` event, and with ``escalate_to`` the
    task is reassigned at its due time to that user, or to a group written ``"group:<name>"``.
    """

    step_type: ClassVar[StepType] = StepType.HUMAN
    title: str = ""
    form_schema: dict[str, Any] | None = None
    assignee: str | None = None
    assignee_key: str | None = None
    assignee_group: str | None = None
    due_in: timedelta | None = None
    due_at: datetime | None = None
    reminder_in: timedelta | None = None
    reminder_at: datetime | None = None
    escalate_to: str | None = None

    def __init__(
        self,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        form_schema: dict[str, Any] | None = _UNSET,
        *,
        assignee: str | None = _UNSET,
        assignee_key: str | None = _UNSET,
        assignee_group: str | None = _UNSET,
        due_in: timedelta | None = _UNSET,
        due_at: datetime | None = _UNSET,
        reminder_in: timedelta | None = _UNSET,
        reminder_at: datetime | None = _UNSET,
        escalate_to: str | None = _UNSET,
        retry_policy: RetryPolicy | None = _UNSET,
        timeout: float | None = _UNSET,
    ) -> None:
        super().__init__(name, description, retry_policy=retry_policy, timeout=timeout)
        if title is not None:
            self.title = title
        for attr, value in (
            ("form_schema", form_schema),
            ("assignee", assignee),
            ("assignee_key", assignee_key),
            ("assignee_group", assignee_group),
            ("due_in", due_in),
            ("due_at", due_at),
            ("reminder_in", reminder_in),
            ("reminder_at", reminder_at),
            ("escalate_to", escalate_to),
        ):
            if value is not _UNSET:
                setattr(self, attr, value)
        if self.escalate_to is not None:
            escalation_target(self.escalate_to)  # a bad target fails here, not days later

    async def get_assignee(self, context: WorkflowContext) -> str | None:
        """Return the user the task is assigned to (override for custom routing)."""
        if self.assignee_key:
            value = context.get(self.assignee_key)
            return None if value is None else str(value)
        return self.assignee

    async def get_assignee_group(self, context: WorkflowContext) -> str | None:
        """Return the group whose members may take the task (override for custom routing)."""
        return self.assignee_group

    async def get_description(self, context: WorkflowContext) -> str | None:
        """Return the task's description, shown to the person (override to build it from the context)."""
        return self.description or None

    async def get_form_schema(self, context: WorkflowContext) -> dict[str, Any] | None:
        """Return the JSON Schema of the task's form (override to build it from the context)."""
        return self.form_schema

    async def get_due_date(self, context: WorkflowContext) -> datetime | None:
        """Return when the task is due (default: ``due_at``; ``due_in`` counts from its creation)."""
        return self.due_at

    async def get_reminder_date(self, context: WorkflowContext) -> datetime | None:
        """Return when to remind (default: ``reminder_at``; ``reminder_in`` counts from its creation)."""
        return self.reminder_at

    async def get_title(self, context: WorkflowContext) -> str:
        """Return the task's title; defaults to the step's title, or its name."""
        return self.title or self.name


__all__ = ("BaseHumanStep", "BaseMachineStep", "BaseStep")
