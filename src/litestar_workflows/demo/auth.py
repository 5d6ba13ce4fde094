"""The demo's fake login: whoever you say you are, via ``X-User: maria`` or ``?as=maria``.

Never use this outside a demo: it lets anyone act as anyone. It exists so that one person can
play the employee, the manager and the finance clerk from one terminal. Known users carry the
groups that the workflows route tasks to; any other name is accepted as a user without groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

__all__ = ("DEMO_USERS", "USER_HEADER", "USER_QUERY", "DemoUser", "FakeLoginMiddleware", "groups_of")

USER_HEADER: Final = "X-User"
USER_QUERY: Final = "as"
_MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A demo user: ``id`` is what tasks are assigned to; ``groups`` open group tasks to them."""

    id: str
    role: str = "someone"
    groups: tuple[str, ...] = ()


DEMO_USERS: Final = {
    user.id: user
    for user in (
        DemoUser("erik", "employee", ("staff",)),
        DemoUser("maria", "manager", ("staff", "managers")),
        DemoUser("fiona", "finance clerk", ("staff", "finance")),
        DemoUser("hana", "HR officer", ("staff", "hr")),
        DemoUser("rita", "reviewer", ("staff", "reviewers")),
    )
}
"""The cast of the demo, by user id."""


def groups_of(user_id: str) -> tuple[str, ...]:
    """The groups of a demo user (none for unknown names); the engine's authorizer asks this."""
    user = DEMO_USERS.get(user_id)
    return user.groups if user is not None else ()


class FakeLoginMiddleware(AbstractAuthenticationMiddleware):
    """Sets ``request.user`` to the :class:`DemoUser` named by the header or query parameter.

    Requests naming nobody stay anonymous (``request.user`` is ``None``): they may read and
    start workflows but not act on tasks.
    """

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Read the claimed name; no password, no check: this is a demo."""
        name = (connection.headers.get(USER_HEADER) or connection.query_params.get(USER_QUERY) or "").strip()
        if not name:
            return AuthenticationResult(user=None, auth=None)
        name = name[:_MAX_NAME]
        return AuthenticationResult(user=DEMO_USERS.get(name) or DemoUser(name), auth="fake-login")
