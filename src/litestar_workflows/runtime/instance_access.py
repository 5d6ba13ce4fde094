"""Who may act on a workflow instance as a whole: cancel, retry, pause or resume it.

Human tasks have their own rule (:class:`~litestar_workflows.runtime.human.TaskAuthorizer`); an
instance action touches someone's whole process, so it gets a decision of its own. The engine
asks the authorizer only when it is told who acts (``user_id=``); calls without a user come
from trusted code (your own services, the operator's CLI) and are not checked.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from litestar_workflows.core.errors import UnauthorizedInstanceError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection, Iterable

    from litestar_workflows.core.models import WorkflowInstanceData

InstanceAction = Literal["cancel", "retry", "retry_from", "pause", "resume"]
"""What can be done to an instance as a whole; new actions are added here and reach every authorizer."""


@runtime_checkable
class InstanceAuthorizer(Protocol):
    """Decides whether a user may act on a workflow instance; plug in your own for roles or ownership."""

    async def can_act(
        self,
        instance: WorkflowInstanceData,
        user_id: str,
        action: InstanceAction,
        groups: Collection[str] = (),
    ) -> bool:
        """Tell whether ``user_id`` may perform ``action`` on ``instance``.

        ``groups`` are the user's groups as the caller knows them (the REST API passes the
        request's groups); an authorizer may look up more itself.
        """


class CreatorOrAdminAuthorizer:
    """The default rule: the instance's creator and administrators may act; anonymous users never.

    Args:
        admin_groups: Members of these groups may act on every instance.
        is_admin: Tells whether a user id is an administrator (sync or async), for apps that
            know their administrators by something other than a group.
        groups_of: Returns the groups of a user, like
            :class:`~litestar_workflows.runtime.human.AssigneeAuthorizer`'s resolver; added to
            the groups the caller passes.

    Without ``admin_groups`` and ``is_admin`` only the creator may act, so an instance started
    without ``created_by`` can then be acted on only by trusted code (calls without ``user_id``).
    """

    def __init__(
        self,
        admin_groups: Iterable[str] = (),
        *,
        is_admin: Callable[[str], bool | Awaitable[bool]] | None = None,
        groups_of: Callable[[str], Iterable[str]] | None = None,
    ) -> None:
        if isinstance(admin_groups, str):
            msg = "admin_groups must be a collection of group names, not one string"
            raise TypeError(msg)
        self.admin_groups = frozenset(admin_groups)
        self.is_admin = is_admin
        self.groups_of = groups_of

    async def can_act(
        self,
        instance: WorkflowInstanceData,
        user_id: str,
        action: InstanceAction,
        groups: Collection[str] = (),
    ) -> bool:
        """Apply the creator-or-administrator rule.

        ``retry_from`` (restarting a failed instance from a step of one's choosing, other than
        the failed one or the first) is for administrators only: the creator is the requester
        whose approvals a restart further on would skip.
        """
        if not user_id:
            return False
        if action != "retry_from" and instance.created_by is not None and instance.created_by == user_id:
            return True
        return await self.is_administrator(user_id, groups)

    async def is_administrator(self, user_id: str, groups: Collection[str] = ()) -> bool:
        """Tell whether ``user_id`` (with ``groups``) is an administrator under this rule."""
        if self.admin_groups:
            known = set(groups)
            if self.groups_of is not None:
                known.update(self.groups_of(user_id))
            if not self.admin_groups.isdisjoint(known):
                return True
        if self.is_admin is not None:
            verdict = self.is_admin(user_id)
            if inspect.isawaitable(verdict):
                verdict = await verdict
            return bool(verdict)
        return False


async def authorize_instance_action(
    authorizer: InstanceAuthorizer,
    instance: WorkflowInstanceData,
    user_id: str,
    action: InstanceAction,
    groups: Collection[str] = (),
) -> None:
    """Ask ``authorizer``; a refusal names the user, the action, the instance and its creator.

    Raises:
        UnauthorizedInstanceError: ``user_id`` is empty or may not perform ``action``.
    """
    if not user_id:
        raise UnauthorizedInstanceError(f"a user id is required to {action} workflow instance {instance.id}")
    if not await authorizer.can_act(instance, user_id, action, groups):
        started = instance.created_by
        creator = "no creator recorded" if started is None else f"started by {started!r}"
        if action == "retry_from":
            raise UnauthorizedInstanceError(
                f"user {user_id!r} may not retry workflow instance {instance.id} from a step of their "
                f"choosing ({creator}); that is for administrators: retry it without from_step"
            )
        raise UnauthorizedInstanceError(
            f"user {user_id!r} may not {action} workflow instance {instance.id} ({creator})"
        )


__all__ = ("CreatorOrAdminAuthorizer", "InstanceAction", "InstanceAuthorizer", "authorize_instance_action")
