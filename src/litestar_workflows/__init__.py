"""litestar-workflows: business processes as code, automated steps and human approvals.

Runs in-process (:class:`LocalExecutionEngine`), durably in a database
(:mod:`litestar_workflows.db`), or across machines (:mod:`litestar_workflows.contrib`).
"""

from litestar_workflows.core.context import StepExecution, WorkflowContext
from litestar_workflows.core.definition import Edge, WorkflowDefinition
from litestar_workflows.core.errors import (
    ContextSerializationError,
    HumanTaskError,
    InvalidTransitionError,
    NonRetryableError,
    StepCancelledError,
    StepExecutionError,
    StepExitError,
    StepTimeoutError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    UnauthorizedError,
    UnauthorizedInstanceError,
    UnauthorizedTaskError,
    WaitTimeoutError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowValidationError,
)
from litestar_workflows.core.events import (
    EventBus,
    HumanTaskCompleted,
    HumanTaskCreated,
    HumanTaskOverdue,
    HumanTaskReassigned,
    HumanTaskReminder,
    StepCompleted,
    StepExecuted,
    StepFailed,
    StepSkipped,
    StepStarted,
    WorkflowCanceled,
    WorkflowCompleted,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowPaused,
    WorkflowResumed,
    WorkflowRetried,
    WorkflowStarted,
)
from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
from litestar_workflows.core.protocols import Step
from litestar_workflows.core.types import HumanTaskStatus, StepStatus, StepType, WorkflowStatus
from litestar_workflows.core.workflow import BaseWorkflow
from litestar_workflows.engine.local import LocalExecutionEngine
from litestar_workflows.engine.registry import WorkflowRegistry
from litestar_workflows.runtime.human import AssigneeAuthorizer, TaskAuthorizer
from litestar_workflows.runtime.instance_access import (
    CreatorOrAdminAuthorizer,
    InstanceAction,
    InstanceAuthorizer,
)
from litestar_workflows.steps import (
    BaseHumanStep,
    BaseMachineStep,
    BaseStep,
    ConditionalGroup,
    DelayStep,
    ExclusiveGateway,
    ParallelGateway,
    ParallelGroup,
    RaceGroup,
    RetryPolicy,
    ScheduledStep,
    SequentialGroup,
    TimerStep,
    WebhookStep,
)
from litestar_workflows.steps.routing import BaseGateway
from litestar_workflows.store import InstanceQuery, MemoryStore, Page, TaskQuery, WorkflowStore

__version__ = "0.1.0"

__all__ = (
    "AssigneeAuthorizer",
    "BaseGateway",
    "BaseHumanStep",
    "BaseMachineStep",
    "BaseStep",
    "BaseWorkflow",
    "ConditionalGroup",
    "ContextSerializationError",
    "CreatorOrAdminAuthorizer",
    "DelayStep",
    "Edge",
    "EventBus",
    "ExclusiveGateway",
    "HumanTask",
    "HumanTaskCompleted",
    "HumanTaskCreated",
    "HumanTaskError",
    "HumanTaskOverdue",
    "HumanTaskReassigned",
    "HumanTaskReminder",
    "HumanTaskStatus",
    "InstanceAction",
    "InstanceAuthorizer",
    "InstanceQuery",
    "InvalidTransitionError",
    "LocalExecutionEngine",
    "MemoryStore",
    "NonRetryableError",
    "Page",
    "ParallelGateway",
    "ParallelGroup",
    "RaceGroup",
    "RetryPolicy",
    "ScheduledStep",
    "SequentialGroup",
    "Step",
    "StepCancelledError",
    "StepCompleted",
    "StepExecuted",
    "StepExecution",
    "StepExecutionError",
    "StepExitError",
    "StepFailed",
    "StepSkipped",
    "StepStarted",
    "StepStatus",
    "StepTimeoutError",
    "StepType",
    "TaskAlreadyCompletedError",
    "TaskAuthorizer",
    "TaskNotFoundError",
    "TaskQuery",
    "TaskValidationError",
    "TimerStep",
    "UnauthorizedError",
    "UnauthorizedInstanceError",
    "UnauthorizedTaskError",
    "WaitTimeoutError",
    "WebhookStep",
    "WorkflowAlreadyCompletedError",
    "WorkflowCanceled",
    "WorkflowCompleted",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowEvent",
    "WorkflowFailed",
    "WorkflowInstanceData",
    "WorkflowInstanceNotFoundError",
    "WorkflowNotFoundError",
    "WorkflowPaused",
    "WorkflowRegistry",
    "WorkflowResumed",
    "WorkflowRetried",
    "WorkflowStarted",
    "WorkflowStatus",
    "WorkflowStore",
    "WorkflowValidationError",
    "WorkflowsError",
    "__version__",
)

# The Litestar plugin is exported here as the documented API imports it
# (``from litestar_workflows import WorkflowPlugin``), but lazily: importing the package must keep
# working without the ``web`` extra, so Litestar is imported only when these names are used, and
# ``from litestar_workflows import *`` lists them only when Litestar is installed.
_WEB_EXPORTS = ("WorkflowPlugin", "WorkflowPluginConfig")

if __import__("importlib.util").util.find_spec("litestar") is not None:
    __all__ = (*__all__, *_WEB_EXPORTS)  # type: ignore[assignment]  # noqa: PLE0604 - web extra only


def __getattr__(name: str) -> object:
    if name in _WEB_EXPORTS:
        from litestar_workflows import web

        return getattr(web, name)
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
