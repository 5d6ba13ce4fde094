"""The store protocol: where instances, step executions and human tasks live.

Engines talk to a store only through this surface. ``commit`` writes one or many transitions
atomically; the rest are reads. The in-memory store implements it for tests and development;
the SQLAlchemy store makes it durable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Iterator, Sequence
    from datetime import datetime
    from uuid import UUID

    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.core.types import HumanTaskStatus, WorkflowStatus
    from litestar_workflows.runtime.transition import Transition


T = TypeVar("T")


@dataclass(slots=True)
class Page(Generic[T]):
    """One page of a listing, with the total number of matches."""

    items: list[T] = field(default_factory=list)
    total: int = 0
    limit: int = 50
    offset: int = 0

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True, slots=True, kw_only=True)
class InstanceQuery:
    """Filters and page of an instance listing; ``None`` means no filter."""

    status: WorkflowStatus | Sequence[WorkflowStatus] | None = None
    workflow_name: str | None = None
    workflow_version: str | None = None
    tenant_id: str | None = None
    created_by: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    current_step: str | None = None
    """Instances whose current step (where they run, wait or failed) is this one."""
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskQuery:
    """Filters and page of a human-task listing; ``None`` means no filter."""

    status: HumanTaskStatus | None = None
    assignee_id: str | None = None
    assignee_group: str | Sequence[str] | None = None
    instance_id: UUID | None = None
    workflow_name: str | None = None
    tenant_id: str | None = None
    due_before: datetime | None = None
    workable_by: str | None = None
    """With ``workable_groups``, a person's queue: tasks assigned to this user, tasks unassigned and
    open to one of the groups, and tasks with neither an assignee nor a group, which anyone may act
    on (no filter when both are empty)."""
    workable_groups: Sequence[str] = ()
    completed_by: str | None = None
    completed_after: datetime | None = None
    """Tasks completed at or after this moment (a person's "completed today")."""
    limit: int = 50
    offset: int = 0


@runtime_checkable
class WorkflowStore(Protocol):
    """What an engine needs from persistence."""

    def commit(self, transitions: Sequence[Transition]) -> Awaitable[None]:
        """Write the transitions atomically (all or nothing), in order, when awaited.

        An ``async def`` fits; a store may also return a future of its own, so that thousands of
        transitions waiting for one group commit do not each hold a coroutine.
        """

    async def save_definition(self, definition: WorkflowDefinition) -> None:
        """Record a definition (idempotent for an existing name and version)."""

    async def load_instance(self, instance_id: UUID) -> WorkflowInstanceData | None:
        """The instance with its runtime state, or ``None``."""

    async def find_instances(self, query: InstanceQuery) -> tuple[list[WorkflowInstanceData], int]:
        """A page of instances and the total count matching ``query``."""

    async def get_task(self, task_id: UUID) -> HumanTask | None:
        """The task, or ``None``."""

    async def find_tasks(self, query: TaskQuery) -> tuple[list[HumanTask], int]:
        """A page of tasks and the total count matching ``query``."""


__all__ = ("InstanceQuery", "Page", "TaskQuery", "WorkflowStore")
