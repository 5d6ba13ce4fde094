"""What a request may see and do: tenant isolation and the need for a user.

A tenant sees only its own instances and tasks; anything else answers "not found", exactly as
if it did not exist, so ids of other tenants cannot even be probed. Tenancy fails closed: when
the app resolves tenants, a request without one is refused before any route sees it, instead
of being treated as "no tenancy" and shown every tenant's data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar_workflows.core.errors import (
    TaskNotFoundError,
    UnauthorizedError,
    UnauthorizedInstanceError,
    UnauthorizedTaskError,
    WorkflowInstanceNotFoundError,
)

if TYPE_CHECKING:
    from uuid import UUID

    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.web.controllers.reads import InstanceReads, TaskReads
    from litestar_workflows.web.identity import Actor

__all__ = ("load_instance", "load_task", "require_instance_user", "require_tenant", "require_user")


def _visible(actor: Actor, tenant_id: str | None) -> bool:
    return actor.tenant_id is None or actor.tenant_id == tenant_id


async def load_instance(engine: InstanceReads, actor: Actor, instance_id: UUID) -> WorkflowInstanceData:
    """The instance, if the actor's tenant may see it (read from the engine or the app's repository).

    Raises:
        WorkflowInstanceNotFoundError: No such instance, or it belongs to another tenant.
    """
    instance = await engine.get_instance(instance_id)
    if not _visible(actor, instance.tenant_id):
        raise WorkflowInstanceNotFoundError(instance_id)
    return instance


async def load_task(engine: TaskReads, actor: Actor, task_id: UUID) -> HumanTask:
    """The task, if the actor's tenant may see it (read from the engine or the app's repository).

    Raises:
        TaskNotFoundError: No such task, or it belongs to another tenant.
    """
    task = await engine.get_task(task_id)
    if not _visible(actor, task.tenant_id):
        raise TaskNotFoundError(f"task {task_id} does not exist")
    return task


def require_user(actor: Actor, action: str) -> str:
    """The acting user's id; acting on a task needs one.

    Raises:
        UnauthorizedTaskError: The request is anonymous.
    """
    if actor.user_id is None:
        raise UnauthorizedTaskError(f"an authenticated user is required to {action} a task")
    return actor.user_id


def require_instance_user(actor: Actor, action: str) -> str:
    """The acting user's id; acting on an instance (cancel, retry...) needs one.

    Raises:
        UnauthorizedInstanceError: The request is anonymous.
    """
    if actor.user_id is None:
        raise UnauthorizedInstanceError(f"an authenticated user is required to {action} an instance")
    return actor.user_id


def require_tenant(actor: Actor) -> Actor:
    """The actor, if the request acts for a tenant; for apps that resolve tenants.

    Raises:
        UnauthorizedError: The tenant resolver found no tenant for the request.
    """
    if actor.tenant_id is None:
        raise UnauthorizedError(
            "the request acts for no tenant: this API keeps tenants apart, and the tenant "
            "resolver returned none for it (sign in, or send what your app reads the tenant from)"
        )
    return actor
