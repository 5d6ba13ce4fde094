"""The demo's people and its fake login: whoever you say you are, via ``X-User: maria`` or ``?as=maria``.

In a browser, ``?as=maria`` on any page sticks for the session (a cookie).

Never use the login outside a demo: it lets anyone act as anyone. It exists so that one person
can play the employee, the manager and the finance clerk from one terminal. Known users carry
the groups that the workflows route tasks to, and their manager; any other name is accepted as a
user without groups. The workflows route approvals from this directory (never from request
data), and :class:`NoOwnCaseAuthorizer` refuses a task to the person whose request it is, even
after a reassignment: nobody approves their own claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qs, quote, unquote

from litestar.datastructures import Cookie, MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from litestar_workflows import AssigneeAuthorizer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection
    from uuid import UUID

    from litestar.connection import ASGIConnection
    from litestar.types import Message, Receive, Scope, Send

    from litestar_workflows import HumanTask
    from litestar_workflows.runtime.human import TaskAction

__all__ = (
    "ADMIN_GROUP",
    "DEFAULT_MANAGER",
    "DEMO_USERS",
    "USER_COOKIE",
    "USER_HEADER",
    "USER_QUERY",
    "DemoUser",
    "FakeLoginMiddleware",
    "NoOwnCaseAuthorizer",
    "approver_for",
    "colleague_in",
    "groups_of",
)

USER_HEADER: Final = "X-User"
USER_QUERY: Final = "as"
USER_COOKIE: Final = "workflows_demo_user"
"""Remembers the user a browser chose with ``?as=`` for the rest of its session."""
_MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A demo user: ``id`` is what tasks are assigned to; ``groups`` open group tasks to them."""

    id: str
    role: str = "someone"
    groups: tuple[str, ...] = ()
    manager: str | None = None
    """Who approves this user's claims and leave; ``None`` at the top (another manager does)."""


ADMIN_GROUP: Final = "admins"
"""Members may cancel and retry anyone's instances (everyone else only their own)."""
DEFAULT_MANAGER: Final = "maria"
"""Approves for people the directory does not know."""

DEMO_USERS: Final = {
    user.id: user
    for user in (
        DemoUser("erik", "employee", ("staff",), manager="maria"),
        DemoUser("maria", "manager", ("staff", "managers"), manager="ada"),
        DemoUser("fiona", "finance clerk", ("staff", "finance"), manager="maria"),
        DemoUser("hana", "HR officer", ("staff", "hr"), manager="maria"),
        DemoUser("rita", "reviewer", ("staff", "reviewers"), manager="maria"),
        DemoUser(
            "ada",
            "head of office and administrator",
            ("staff", "managers", "finance", "hr", "reviewers", ADMIN_GROUP),
        ),
    )
}
"""The cast of the demo, by user id (ada stands in wherever someone may not act on their own case)."""


def groups_of(user_id: str) -> tuple[str, ...]:
    """The groups of a demo user (none for unknown names); the engine's authorizer asks this."""
    user = DEMO_USERS.get(user_id)
    return user.groups if user is not None else ()


def approver_for(requester: str | None) -> str:
    """Who approves ``requester``'s claim or leave: their manager in the directory, never themselves.

    Someone without a manager (the top of the tree) goes to another manager; people the directory
    does not know (and anonymous requests) go to :data:`DEFAULT_MANAGER`.

    Raises:
        LookupError: Nobody but the requester could approve.
    """
    person = DEMO_USERS.get(requester) if requester is not None else None
    if person is None:
        return DEFAULT_MANAGER
    if person.manager is not None and person.manager != requester:
        return person.manager
    other = colleague_in("managers", requester)
    if other is None:  # at the top without being a manager: no one to go to
        msg = f"nobody but {requester!r} could approve for {requester!r}"
        raise LookupError(msg)
    return other


def colleague_in(group: str, requester: str | None) -> str | None:
    """A member of ``group`` other than ``requester`` when the requester belongs to it, else ``None``.

    A group task is open to every member, the requester included; when the requester is in the
    group, the task goes to this colleague instead so that nobody signs off their own case.

    Raises:
        LookupError: The requester is the group's only member.
    """
    if requester is None or group not in groups_of(requester):
        return None
    other = next((u.id for u in DEMO_USERS.values() if group in u.groups and u.id != requester), None)
    if other is None:
        msg = f"nobody in group {group!r} but {requester!r} could act on {requester!r}'s case"
        raise LookupError(msg)
    return other


class NoOwnCaseAuthorizer(AssigneeAuthorizer):
    """The assignee and group rule, and nobody completes or claims a task of their own request.

    Routing already sends every approval to someone other than the requester; this keeps it so
    when an approver reassigns the task to the requester (who would then approve their own claim).

    Args:
        requester_of: The user who started an instance (``None`` when nobody is named).
        own_steps: Steps whose tasks are the requester's own work, not a decision on their case
            (revising their document): the requester does those.
    """

    def __init__(
        self, requester_of: Callable[[UUID], Awaitable[str | None]], own_steps: Collection[str] = ("revise",)
    ) -> None:
        super().__init__(groups_of=groups_of)
        self.requester_of = requester_of
        self.own_steps = frozenset(own_steps)

    async def can_act(
        self, task: HumanTask, user_id: str, action: TaskAction, groups: Collection[str] | None = None
    ) -> bool:
        """Refuse the requester what would decide their own case; otherwise the assignee rule."""
        deciding = action != "reassign" and task.step_name not in self.own_steps
        if deciding and user_id == await self.requester_of(task.instance_id):
            return False
        return await super().can_act(task, user_id, action, groups)


class FakeLoginMiddleware(AbstractAuthenticationMiddleware):
    """Sets ``request.user`` to the :class:`DemoUser` named by the header, the query or the cookie.

    ``?as=NAME`` also sets the cookie :data:`USER_COOKIE` for the browser session (the name
    percent-encoded, so any name fits in a header), so a person picks a user once (the web UI's
    "Act as" picker does it) and stays that user from page to page; ``?as=`` (empty) signs out.
    Requests naming nobody stay anonymous (``request.user`` is ``None``): they may read and start
    workflows but not act on tasks or instances.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate, and remember a ``?as=`` choice in the session cookie."""
        chosen = _query_choice(scope)
        if chosen is None:
            await super().__call__(scope, receive, send)
            return
        # Percent-encoded: a header carries Latin-1 only, and the name comes back as chosen (José, мария).
        value = quote(chosen, safe="")
        cookie = Cookie(key=USER_COOKIE, value=value, path="/", httponly=True, samesite="lax")
        if not chosen:
            cookie.max_age = 0  # ``?as=`` with no name: forget the choice

        async def remember(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableScopeHeaders.from_message(message).add("set-cookie", cookie.to_header(header=""))
            await send(message)

        await super().__call__(scope, receive, remember)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Read the claimed name; no password, no check: this is a demo."""
        query = connection.query_params.get(USER_QUERY)
        remembered = connection.cookies.get(USER_COOKIE)
        name = connection.headers.get(USER_HEADER) or (
            query if query is not None else unquote(remembered) if remembered else None
        )
        name = (name or "").strip()
        if not name:
            return AuthenticationResult(user=None, auth=None)
        name = name[:_MAX_NAME]
        return AuthenticationResult(user=DEMO_USERS.get(name) or DemoUser(name), auth="fake-login")


def _query_choice(scope: Scope) -> str | None:
    """The name of an HTTP request's ``?as=`` (``""`` for an empty one), or ``None`` without it."""
    if scope["type"] != ScopeType.HTTP:
        return None
    values = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True).get(
        USER_QUERY
    )
    return values[-1].strip()[:_MAX_NAME] if values else None
