"""The pure domain: types, context, definitions, conditions, graph, events and errors."""

from litestar_workflows.core.context import StepExecution, WorkflowContext
from litestar_workflows.core.definition import Edge, WorkflowDefinition
from litestar_workflows.core.events import EventBus
from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
from litestar_workflows.core.types import HumanTaskStatus, StepStatus, StepType, WorkflowStatus

__all__ = (
    "Edge",
    "EventBus",
    "HumanTask",
    "HumanTaskStatus",
    "StepExecution",
    "StepStatus",
    "StepType",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowInstanceData",
    "WorkflowStatus",
)
