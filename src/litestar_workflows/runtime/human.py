"""Rules for human tasks that do not depend on where tasks are stored: who may act, valid data."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import orjson
from jsonschema import exceptions as schema_exceptions
from jsonschema import validators

from litestar_workflows.core.errors import TaskValidationError, WorkflowValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from jsonschema.protocols import Validator

    from litestar_workflows.core.models import HumanTask

TaskAction = Literal["complete", "claim", "reassign"]


@runtime_checkable
class TaskAuthorizer(Protocol):
    """Decides whether a user may act on a task; plug in your own for roles, delegation, etc."""

    async def can_act(self, task: HumanTask, user_id: str, action: TaskAction) -> bool:
        """Tell whether ``user_id`` may perform ``action`` on ``task``."""


class AssigneeAuthorizer:
    """The default rule: the assignee may act; without an assignee, members of the task's group.

    Args:
        groups_of: Returns the groups of a user. Without it, group membership cannot be checked
            and any user may act on an unassigned group task (state that in your deployment, or
            pass a resolver).
    """

    def __init__(self, groups_of: Callable[[str], Iterable[str]] | None = None) -> None:
        self.groups_of = groups_of

    async def can_act(self, task: HumanTask, user_id: str, action: TaskAction) -> bool:
        """Apply the assignee / group rule (claiming needs an unassigned task)."""
        if task.assignee_id is not None:
            return action != "claim" and task.assignee_id == user_id
        if task.assignee_group is not None and self.groups_of is not None:
            return task.assignee_group in set(self.groups_of(user_id))
        return True


@lru_cache(maxsize=512)
def _validator_for(schema_json: bytes) -> Validator:
    schema = orjson.loads(schema_json)
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    validator: Validator = cls(schema)
    return validator


def check_form_schema(schema: dict[str, Any] | None, where: str) -> None:
    """Raise a ``WorkflowValidationError`` naming ``where`` when ``schema`` is not a valid JSON Schema."""
    if schema is None:
        return
    try:
        _validator_for(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    except (schema_exceptions.SchemaError, TypeError, orjson.JSONEncodeError) as error:
        message = getattr(error, "message", str(error))
        raise WorkflowValidationError(f"{where} has an invalid form schema: {message}") from error


def validate_form_data(schema: dict[str, Any] | None, data: dict[str, Any], where: str) -> None:
    """Check ``data`` against ``schema``; the error lists every failing field by its path.

    Raises:
        TaskValidationError: The data does not satisfy the schema.
    """
    if schema is None:
        return
    check_form_schema(schema, where)
    validator = _validator_for(orjson.dumps(schema, option=orjson.OPT_SORT_KEYS))
    problems = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if problems:
        errors = [f"{_field_of(error)}: {error.message}" for error in problems]
        raise TaskValidationError(f"{where}: form data is invalid: " + "; ".join(errors), errors)


def _field_of(error: schema_exceptions.ValidationError) -> str:
    path = "/".join(str(part) for part in error.absolute_path)
    if error.validator == "required" and isinstance(error.validator_value, list):
        # "required" errors sit on the parent object; name the missing property itself.
        missing = next((p for p in error.validator_value if p in error.message), None)
        if missing is not None:
            return f"{path}/{missing}" if path else str(missing)
    return path or "(root)"


__all__ = ("AssigneeAuthorizer", "TaskAction", "TaskAuthorizer", "check_form_schema", "validate_form_data")
