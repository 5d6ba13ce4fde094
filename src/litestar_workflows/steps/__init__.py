"""The step library: subclass or configure these to build workflows."""

from litestar_workflows.steps.base import BaseHumanStep, BaseMachineStep, BaseStep
from litestar_workflows.steps.gateway import ExclusiveGateway, GatewayStep, ParallelGateway
from litestar_workflows.steps.groups import (
    ConditionalGroup,
    ParallelGroup,
    RaceGroup,
    SequentialGroup,
    StepGroup,
)
from litestar_workflows.steps.retry import RetryPolicy
from litestar_workflows.steps.timer import DelayStep, ScheduledStep, TimerStep
from litestar_workflows.steps.webhook import WebhookStep

__all__ = (
    "BaseHumanStep",
    "BaseMachineStep",
    "BaseStep",
    "ConditionalGroup",
    "DelayStep",
    "ExclusiveGateway",
    "GatewayStep",
    "ParallelGateway",
    "ParallelGroup",
    "RaceGroup",
    "RetryPolicy",
    "ScheduledStep",
    "SequentialGroup",
    "StepGroup",
    "TimerStep",
    "WebhookStep",
)
