"""Who is acting: the user, their groups and their tenant, read from the request.

The REST API never trusts a body for identity: the acting user and tenant come from the request
through resolvers the application configures (see :class:`~litestar_workflows.web.config.
WorkflowPluginConfig`). The defaults read ``request.user`` as set by any Litestar authentication
middleware, and use no tenant.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection

__all__ = (
    "Actor",
    "GroupsResolver",
    "TenantResolver",
    "UserResolver",
    "default_groups_resolver",
    "default_tenant_resolver",
    "default_user_resolver",
    "resolve",
)

Connection: TypeAlias = "ASGIConnection[Any, Any, Any, Any]"
UserResolver: TypeAlias = Callable[[Connection], "str | Awaitable[str | None] | None"]
"""Returns the id of the acting user, or ``None`` for an anonymous request (sync or async)."""
TenantResolver: TypeAlias = Callable[[Connection], "str | Awaitable[str | None] | None"]
"""Returns the tenant the request acts for; with such a resolver configured, ``None`` is refused (403)."""
GroupsResolver: TypeAlias = Callable[[Connection], "Iterable[str] | Awaitable[Iterable[str]]"]
"""Returns the groups of the acting user (whose group tasks they see in their queue)."""

_USER_ID_ATTRIBUTES = ("id", "username", "email")


@dataclass(frozen=True, slots=True)
class Actor:
    """The identity a request acts with: user id, groups and tenant (each possibly absent)."""

    user_id: str | None = None
    groups: tuple[str, ...] = ()
    tenant_id: str | None = None
    signs_in: bool = False
    """Whether the app identifies users at all (an authentication middleware ran, or it has a user
    resolver of its own): an anonymous request is then someone who did not sign in."""


def _user_of(connection: Connection) -> object:
    # ``request.user`` raises when no authentication middleware ran; the scope lookup does not.
    return connection.scope.get("user")


def _field(source: object, name: str) -> object:
    if isinstance(source, Mapping):
        return source.get(name)
    return getattr(source, name, None)


def default_user_resolver(connection: Connection) -> str | None:
    """The id of ``request.user``: itself when a string, else its ``id``, ``username`` or ``email``."""
    user = _user_of(connection)
    if user is None or isinstance(user, str):
        return user or None
    for name in _USER_ID_ATTRIBUTES:
        value = _field(user, name)
        if value is not None and str(value):
            return str(value)
    return None


def default_groups_resolver(connection: Connection) -> Iterable[str]:
    """The ``groups`` of ``request.user`` (attribute or key), or none."""
    groups = _field(_user_of(connection), "groups")
    if groups is None or isinstance(groups, str | bytes):
        return () if groups is None else (str(groups),)
    if isinstance(groups, Iterable):
        return tuple(str(group) for group in groups)
    return ()


def default_tenant_resolver(connection: Connection) -> str | None:
    """No tenancy: every request sees every instance and task."""
    return None


async def resolve(
    connection: Connection,
    user_resolver: UserResolver,
    tenant_resolver: TenantResolver,
    groups_resolver: GroupsResolver,
) -> Actor:
    """Run the three resolvers (each may be sync or async) and bundle their answers."""
    user_id = await _maybe_await(user_resolver(connection))
    tenant_id = await _maybe_await(tenant_resolver(connection))
    groups = await _maybe_await(groups_resolver(connection)) if user_id is not None else ()
    return Actor(
        user_id=None if user_id is None else str(user_id),
        groups=tuple(str(group) for group in groups),
        tenant_id=None if tenant_id is None else str(tenant_id),
        signs_in=_authenticates(connection) or user_resolver is not default_user_resolver,
    )


def _authenticates(connection: Connection) -> bool:
    """Whether an authentication middleware ran: it sets ``scope["user"]`` (``None`` for nobody)."""
    scope: Mapping[str, Any] = connection.scope
    return "user" in scope


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value
