"""Structural contracts: what the core needs of steps, workflow classes and engines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    from litestar_workflows.core.context import WorkflowContext
    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.core.types import StepType


@runtime_checkable
class Step(Protocol):
    """What every step offers; :class:`litestar_workflows.steps.BaseStep` implements it."""

    name: str
    description: str
    step_type: ClassVar[StepType]

    async def execute(self, context: WorkflowContext) -> Any:
        """Do the step's work."""

    async def can_execute(self, context: WorkflowContext) -> bool:
        """Tell whether the step runs (``False`` skips it)."""

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


class ExecutionEngine(Protocol):
    """The interface shared by every engine (local, persistent, distributed)."""

    async def start_workflow(
        self,
        workflow: Any,
        initial_data: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        tenant_id: str | None = None,
        created_by: str | None = None,
    ) -> WorkflowInstanceData:
        """Start an instance; execution continues in the background."""

    async def complete_human_task(
        self, instance_id: UUID, step_name: str, user_id: str, data: dict[str, Any]
    ) -> WorkflowInstanceData:
        """Complete the waiting human task of ``step_name``."""

    async def cancel_workflow(self, instance_id: UUID, reason: str) -> WorkflowInstanceData:
        """Cancel a running or waiting instance."""

    async def retry(self, instance_id: UUID, from_step: str | None = None) -> WorkflowInstanceData:
        """Restart a failed instance from its failed step (or ``from_step``)."""

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """Return the instance or raise ``WorkflowInstanceNotFoundError``."""

    def get_running_instances(self) -> Sequence[WorkflowInstanceData]:
        """Instances this engine is driving now."""


__all__ = ("ExecutionEngine", "Step", "Workflow")
