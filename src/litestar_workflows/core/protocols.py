"""Structural contracts: what the core needs of steps, workflow classes and engines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Collection
    from uuid import UUID

    from litestar_workflows.core.context import WorkflowContext
    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.core.types import StepType, WorkflowStatus
    from litestar_workflows.engine.registry import WorkflowRegistry
    from litestar_workflows.store.base import InstanceQuery, Page, TaskQuery


@runtime_checkable
class Step(Protocol):
    """What every step offers; :class:`litestar_workflows.steps.BaseStep` implements it."""

    name: str
    description: str
    step_type: ClassVar[StepType]

    async def execute(self, context: WorkflowContext) -> Any:
        """Do the step's work."""

    async def can_execute(self, context: WorkflowContext) -> bool:
        """Tell whether the step runs (``False`` skips it).

        A class that subclasses this protocol, as the documented custom steps do, inherits this
        body: such a step runs unless it says otherwise.
        """
        return True

    async def on_success(self, context: WorkflowContext, result: Any) -> None:
        """Hook after success."""

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        """Hook after a failed attempt."""


@runtime_checkable
class Workflow(Protocol):
    """A class-based workflow: names its workflow and builds its definition."""

    __workflow_name__: ClassVar[str]
    __workflow_version__: ClassVar[str]

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        """Build the definition."""


@runtime_checkable
class ExecutionEngine(Protocol):
    """The interface every engine shares (local, persistent, distributed); the web layer uses it."""

    registry: WorkflowRegistry

    async def start(self) -> None:
        """Start background work (recovery, timers, lease renewal)."""

    async def stop(self) -> None:
        """Stop background work; durable engines resume it on the next start."""

    async def start_workflow(
        self,
        workflow: Any = None,
        initial_data: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        tenant_id: str | None = None,
        created_by: str | None = None,
        metadata: dict[str, Any] | None = None,
        workflow_name: str | None = None,
        data: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> WorkflowInstanceData:
        """Start an instance; execution continues in the background.

        With ``key``, at most one instance of the workflow ever has it: a start with a taken key
        returns that instance and runs nothing.
        """

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """The instance with its step history."""

    async def wait(
        self,
        instance_id: UUID,
        *,
        until: WorkflowStatus | Collection[WorkflowStatus] = ...,
        timeout: float | None = None,  # noqa: ASYNC109 - mirrors the engine's documented API
    ) -> WorkflowInstanceData:
        """Wait until the instance settles (finished or waiting for input)."""

    async def find_instances(self, query: InstanceQuery) -> Page[WorkflowInstanceData]:
        """A page of instances matching ``query``."""

    async def cancel_workflow(
        self,
        instance_id: UUID,
        reason: str = "",
        *,
        user_id: str | None = None,
        groups: Collection[str] = (),
    ) -> WorkflowInstanceData:
        """Cancel an unfinished instance; with ``user_id``, only if that user may."""

    async def retry(
        self,
        instance_id: UUID,
        from_step: str | None = None,
        *,
        user_id: str | None = None,
        groups: Collection[str] = (),
    ) -> WorkflowInstanceData:
        """Restart a failed instance; with ``user_id``, only if that user may."""

    async def pause_workflow(
        self, instance_id: UUID, *, user_id: str | None = None, groups: Collection[str] = ()
    ) -> WorkflowInstanceData:
        """Hold an instance; with ``user_id``, only if that user may."""

    async def resume_workflow(
        self, instance_id: UUID, *, user_id: str | None = None, groups: Collection[str] = ()
    ) -> WorkflowInstanceData:
        """Continue a paused instance; with ``user_id``, only if that user may."""

    async def deliver_webhook(self, instance_id: UUID, step_name: str, payload: Any) -> WorkflowInstanceData:
        """Hand a payload to the webhook step the instance waits at."""

    async def get_task(self, task_id: UUID) -> HumanTask:
        """The human task with this id."""

    async def find_tasks(self, query: TaskQuery) -> Page[HumanTask]:
        """A page of tasks matching ``query``."""

    async def get_pending_tasks(
        self, user_id: str | None = None, groups: Collection[str] = (), tenant_id: str | None = None
    ) -> list[HumanTask]:
        """Pending tasks of a user and their groups."""

    async def complete_human_task(
        self,
        instance_id: UUID,
        step_name: str,
        user_id: str,
        data: dict[str, Any] | None = None,
        *,
        groups: Collection[str] | None = None,
    ) -> WorkflowInstanceData:
        """Complete the waiting human task of ``step_name`` (``groups``: the user's, when known)."""

    def get_running_instances(self) -> list[WorkflowInstanceData]:
        """Instances that have not finished."""

    async def complete_task(
        self,
        task_id: UUID,
        user_id: str,
        data: dict[str, Any] | None = None,
        *,
        groups: Collection[str] | None = None,
    ) -> WorkflowInstanceData:
        """Complete a human task as ``user_id`` with ``data`` (``groups``: the user's, when known)."""

    async def claim_task(
        self, task_id: UUID, user_id: str, *, groups: Collection[str] | None = None
    ) -> HumanTask:
        """Take an unassigned (group) task for ``user_id``."""

    async def reassign_task(
        self,
        task_id: UUID,
        new_assignee: str | None,
        *,
        user_id: str | None = None,
        reason: str | None = None,
        groups: Collection[str] | None = None,
    ) -> HumanTask:
        """Give a pending task to another user."""


__all__ = ("ExecutionEngine", "Step", "Workflow")
