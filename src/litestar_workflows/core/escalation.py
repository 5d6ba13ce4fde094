"""Where an overdue human task goes: the step option ``escalate_to``, read once, checked early.

One string says it, so that it fits a class attribute, a constructor argument and a JSON
definition alike: a user id (``"ada"``), or a group written ``"group:finance"``. A task escalated
to a user is assigned to that user; one escalated to a group is unassigned and open to the group
(its members claim it), which is how group tasks already work.
"""

from __future__ import annotations

from typing import NamedTuple

from litestar_workflows.core.errors import WorkflowValidationError

GROUP_PREFIX = "group:"


class EscalationTarget(NamedTuple):
    """The assignee and group an overdue task gets (exactly one of them is set)."""

    assignee_id: str | None
    assignee_group: str | None


def escalation_target(value: str) -> EscalationTarget:
    """Read an ``escalate_to`` value.

    Raises:
        WorkflowValidationError: The value is not a non-empty string naming a user or a group.
    """
    if not isinstance(value, str) or not value.strip():
        raise WorkflowValidationError(
            f"escalate_to must name a user ('ada') or a group ('group:finance'), got {value!r}"
        )
    if value.startswith(GROUP_PREFIX):
        group = value[len(GROUP_PREFIX) :].strip()
        if not group:
            raise WorkflowValidationError(f"escalate_to {value!r} names no group: write 'group:<name>'")
        return EscalationTarget(None, group)
    return EscalationTarget(value.strip(), None)


__all__ = ("GROUP_PREFIX", "EscalationTarget", "escalation_target")
