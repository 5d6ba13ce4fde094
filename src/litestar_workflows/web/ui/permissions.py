"""Which buttons a page offers: the actions the acting user may take, asked of the engine's authorizers.

The pages ask the same authorizers the engine applies when the action is performed
(``instance_authorizer`` for cancel/retry/pause/resume, ``authorizer`` for a task's complete,
claim and reassign), so a button is shown exactly when pressing it would be allowed. Hiding is a
courtesy, not the protection: the engine checks again when the form is posted, and a forced
request gets the 403 page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from litestar_workflows.core.types import WorkflowStatus
from litestar_workflows.runtime.human import task_action_allowed

if TYPE_CHECKING:
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.runtime.human import TaskAction
    from litestar_workflows.runtime.instance_access import InstanceAction
    from litestar_workflows.web.engine import WorkflowEngine
    from litestar_workflows.web.identity import Actor

__all__ = ("ENGINE_METHOD", "instance_actions", "task_actions")

_STATES: Final[dict[InstanceAction, frozenset[WorkflowStatus]]] = {
    "cancel": frozenset(
        {
            WorkflowStatus.PENDING,
            WorkflowStatus.RUNNING,
            WorkflowStatus.WAITING,
            WorkflowStatus.PAUSED,
            WorkflowStatus.FAILED,
        }
    ),
    "retry": frozenset({WorkflowStatus.FAILED}),
    "pause": frozenset({WorkflowStatus.RUNNING, WorkflowStatus.WAITING}),
    "resume": frozenset({WorkflowStatus.PAUSED}),
}
"""The statuses each instance action applies in (the interpreter refuses it in the others)."""

ENGINE_METHOD: Final[dict[InstanceAction, str]] = {
    "cancel": "cancel_workflow",
    "retry": "retry",
    "pause": "pause_workflow",
    "resume": "resume_workflow",
}
"""The engine method of each instance action (pause and resume are not in every custom engine)."""


async def instance_actions(
    engine: WorkflowEngine, actor: Actor, instance: WorkflowInstanceData
) -> list[InstanceAction]:
    """The actions the actor may take on the instance now (none for an anonymous request)."""
    if actor.user_id is None:
        return []
    authorizer = getattr(engine, "instance_authorizer", None)
    allowed: list[InstanceAction] = []
    for action, states in _STATES.items():
        if instance.status not in states or not callable(getattr(engine, ENGINE_METHOD[action], None)):
            continue
        if authorizer is None or await authorizer.can_act(instance, actor.user_id, action, actor.groups):
            allowed.append(action)
    return allowed


async def task_actions(engine: WorkflowEngine, actor: Actor, task: HumanTask) -> set[str]:
    """What the actor may do with the task now: ``complete``, ``claim``, ``reassign``."""
    if actor.user_id is None or not task.is_pending:
        return set()
    authorizer = getattr(engine, "authorizer", None)
    allowed: set[str] = set()
    actions: tuple[TaskAction, ...] = ("complete", "claim", "reassign")
    for action in actions:
        claimable = task.assignee_id is None and callable(getattr(engine, "claim_task", None))
        if action == "claim" and not claimable:
            continue
        if authorizer is None or await task_action_allowed(
            authorizer, task, actor.user_id, action, tuple(actor.groups)
        ):
            allowed.add(action)
    return allowed
