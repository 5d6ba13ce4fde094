"""Rules for human tasks that do not depend on where tasks are stored: who may act, valid data."""

from __future__ import annotations

import inspect
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from litestar_workflows.core.context import ReadOnlyHistory, ReadOnlyMetadata
from litestar_workflows.core.errors import TaskValidationError
from litestar_workflows.core.forms import check_form_schema, data_problems, invalid_data
from litestar_workflows.runtime.jsondata import copy_data

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

    from litestar_workflows.core.context import WorkflowContext
    from litestar_workflows.core.models import HumanTask

TaskAction = Literal["complete", "claim", "reassign"]


@runtime_checkable
class TaskAuthorizer(Protocol):
    """Decides whether a user may act on a task; plug in your own for roles, delegation, etc."""

    async def can_act(self, task: HumanTask, user_id: str, action: TaskAction) -> bool:
        """Tell whether ``user_id`` may perform ``action`` on ``task``."""


class AssigneeAuthorizer:
    """The default rule: the assignee may act; without an assignee, members of the task's group.

    Group membership comes from ``groups_of`` when given, else from the groups the caller passed
    with the call (``complete_task(..., groups=...)``: the web plugin passes the request's).

    Args:
        groups_of: Returns the groups of a user. Without it and without groups from the caller,
            membership cannot be checked and any user may act on an unassigned group task (state
            that in your deployment, or pass a resolver).
    """

    def __init__(self, groups_of: Callable[[str], Iterable[str]] | None = None) -> None:
        self.groups_of = groups_of

    async def can_act(
        self, task: HumanTask, user_id: str, action: TaskAction, groups: Collection[str] | None = None
    ) -> bool:
        """Apply the assignee / group rule (claiming needs an unassigned task)."""
        if task.assignee_id is not None:
            return action != "claim" and task.assignee_id == user_id
        if task.assignee_group is None:
            return True
        if self.groups_of is not None:
            return task.assignee_group in set(self.groups_of(user_id))
        if groups is None:
            groups = _CALLER_GROUPS.get()  # a subclass written before ``groups`` calls super() without
        return groups is None or task.assignee_group in groups


_CALLER_GROUPS: ContextVar[frozenset[str] | None] = ContextVar(
    "litestar_workflows_caller_groups", default=None
)
"""The groups the caller of the task operation under way passed (``None``: not known)."""

_TAKES_GROUPS: dict[type, bool] = {}


def _takes_groups(authorizer: TaskAuthorizer) -> bool:
    """Whether the authorizer's ``can_act`` accepts the caller's ``groups`` (an older one may not)."""
    kind = type(authorizer)
    known = _TAKES_GROUPS.get(kind)
    if known is None:
        try:
            parameters = inspect.signature(authorizer.can_act).parameters
        except (TypeError, ValueError):
            parameters = {}  # type: ignore[assignment]
        known = _TAKES_GROUPS[kind] = "groups" in parameters or any(
            parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters.values()
        )
    return known


async def task_action_allowed(
    authorizer: TaskAuthorizer,
    task: HumanTask,
    user_id: str,
    action: TaskAction,
    groups: Collection[str] | None = None,
) -> bool:
    """Ask ``authorizer``, telling it the caller's ``groups`` when they are known and it takes them.

    The groups are also known to :class:`AssigneeAuthorizer` for the length of the call, so that
    a subclass of it whose ``can_act`` predates the parameter (and calls ``super()`` without it)
    is as strict as the default.
    """
    if groups is None:
        return await authorizer.can_act(task, user_id, action)
    token = _CALLER_GROUPS.set(frozenset(groups))
    try:
        if _takes_groups(authorizer):
            allowed: bool = await authorizer.can_act(task, user_id, action, groups=groups)  # type: ignore[call-arg]
            return allowed
        return await authorizer.can_act(task, user_id, action)
    finally:
        _CALLER_GROUPS.reset(token)


def validate_form_data(schema: dict[str, Any] | None, data: dict[str, Any], where: str) -> None:
    """Check ``data`` against ``schema``; the error lists every failing field by its path.

    Regular expressions in the schema run on RE2 (see ``core/forms.py``): no input can make a
    check take more than linear time.

    Raises:
        TaskValidationError: The data does not satisfy the schema.
        WorkflowValidationError: The schema itself is unusable.
    """
    if schema is None:
        return
    problems = data_problems(schema, data, where)
    if problems:
        raise invalid_data(TaskValidationError, f"{where}: form data is invalid", problems)


async def check_submission(step: Any, shared: WorkflowContext, step_name: str, data: dict[str, Any]) -> None:
    """Ask the step's ``validate_submission(context, data)`` hook (the Human Tasks guide's), if any.

    Called once the form schema has passed. The hook sees the instance's context at the task's
    step as a step does: a private copy of the data, read-only metadata and history. It returns
    the messages of what is wrong; none accepts the data.

    Raises:
        TaskValidationError: The hook returned messages; ``errors`` holds them.
        TypeError: The hook returned something other than a list of messages.
    """
    hook = getattr(step, "validate_submission", None)
    if hook is None:
        return
    context = replace(
        shared,
        data=copy_data(shared.data),
        metadata=ReadOnlyMetadata(shared.metadata),
        step_history=ReadOnlyHistory(shared.step_history),  # type: ignore[arg-type]
        current_step=step_name,
    )
    messages = await hook(context, dict(data))
    if not messages:
        return
    if not isinstance(messages, list | tuple) or not all(isinstance(message, str) for message in messages):
        raise TypeError(
            f"validate_submission() of step {step_name!r} returned {messages!r}, not a list of messages"
        )
    errors = list(messages)
    raise TaskValidationError(f"task {step_name!r}: the submission is refused: " + "; ".join(errors), errors)


class FormCheck:
    """Validates one submission, at most once per schema, however often the caller asks.

    An operation's checks run again when the engine retries it on a fresher copy of the
    instance; the verdict on the same data and the same schema cannot change, so it is kept.
    """

    __slots__ = ("_data", "_schema", "_verdict", "_where")

    def __init__(self, data: dict[str, Any], where: str) -> None:
        self._data = data
        self._where = where
        self._schema: dict[str, Any] | None = None
        self._verdict: TaskValidationError | None = None

    def __call__(self, schema: dict[str, Any] | None) -> None:
        """Raise the verdict on the data for ``schema``; validates only for a schema not seen last."""
        if schema is None:
            return
        if self._schema is None or schema != self._schema:
            self._verdict = None
            try:
                validate_form_data(schema, self._data, self._where)
            except TaskValidationError as error:
                self._verdict = error
            self._schema = schema
        if self._verdict is not None:
            raise self._verdict


__all__ = (
    "AssigneeAuthorizer",
    "FormCheck",
    "TaskAction",
    "TaskAuthorizer",
    "check_form_schema",
    "check_submission",
    "task_action_allowed",
    "validate_form_data",
)
