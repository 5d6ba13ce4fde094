"""The Parallel Execution guide's examples (guides/parallel-execution.rst), run as written.

The services the guide calls (``email_service``...) and the steps it names without showing
(``ProcessStep``, ``CompleteStep``) are filled in with the smallest real objects.
"""

# ruff: noqa: E402, F401, F811, F841, I001, DTZ005, T201
# (the documented code is kept as the guide shows it)

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import pytest

from litestar_workflows import LocalExecutionEngine, WorkflowRegistry, WorkflowStatus

# ----------------------------------------------------------------------------- filled in


class Service:
    """Records what was sent, and lets the test hold a branch open until the others started."""

    def __init__(self) -> None:
        self.sent = 0

    async def send(self, *args: Any) -> None:
        await asyncio.sleep(0)  # a real suspension: the branches interleave
        self.sent += 1


email_service, slack_service, sms_service = Service(), Service(), Service()


# ----------------------------------------------------------------------------- Basic Parallel Pattern

from litestar_workflows import WorkflowDefinition, Edge, BaseMachineStep


# Steps that will run in parallel
class SendEmail(BaseMachineStep):
    name = "send_email"

    async def execute(self, context):
        await email_service.send(...)
        context.set("email_sent", True)


class SendSlack(BaseMachineStep):
    name = "send_slack"

    async def execute(self, context):
        await slack_service.send(...)
        context.set("slack_sent", True)


class SendSMS(BaseMachineStep):
    name = "send_sms"

    async def execute(self, context):
        await sms_service.send(...)
        context.set("sms_sent", True)


class ProcessStep(BaseMachineStep):
    name = "process"


class CompleteStep(BaseMachineStep):
    name = "complete"

    async def execute(self, context: Any) -> None:
        context.set("all_sent", all(context.get(k) for k in ("email_sent", "slack_sent", "sms_sent")))


async def test_basic_parallel_pattern() -> None:
    # Define parallel edges
    notification_workflow = WorkflowDefinition(
        name="parallel_notify",
        steps={
            "process": ProcessStep(),
            "send_email": SendEmail(),
            "send_slack": SendSlack(),
            "send_sms": SendSMS(),
            "complete": CompleteStep(),
        },
        edges=[
            # Fork: one step to many
            Edge("process", "send_email"),
            Edge("process", "send_slack"),
            Edge("process", "send_sms"),
            # Join: many steps to one
            Edge("send_email", "complete"),
            Edge("send_slack", "complete"),
            Edge("send_sms", "complete"),
        ],
        initial_step="process",
        terminal_steps={"complete"},
    )
    registry = WorkflowRegistry()
    registry.register_definition(notification_workflow)
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("parallel_notify")
    instance = await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get("all_sent") is True  # complete ran once, after all three
    assert [e.step_name for e in instance.context.step_history].count("complete") == 1


# ----------------------------------------------------------------------------- Using ParallelGroup


async def test_using_parallel_group() -> None:
    from litestar_workflows import ParallelGroup

    # Define the parallel group
    notification_group = ParallelGroup(
        SendEmail(),
        SendSlack(),
        SendSMS(),
    )

    # Use in workflow definition
    workflow = WorkflowDefinition(
        name="parallel_notify",
        steps={
            "process": ProcessStep(),
            "notify": notification_group,
            "complete": CompleteStep(),
        },
        edges=[
            Edge("process", "notify"),
            Edge("notify", "complete"),
        ],
        initial_step="process",
        terminal_steps={"complete"},
    )
    registry = WorkflowRegistry()
    registry.register_definition(workflow)
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("parallel_notify")
    instance = await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get("all_sent") is True


# ----------------------------------------------------------------------------- Complete Example: Parallel Notifications


def complete_example() -> Any:
    """Parallel notification workflow example."""

    import asyncio
    from litestar_workflows import (
        WorkflowDefinition,
        Edge,
        BaseMachineStep,
        ParallelGroup,
        LocalExecutionEngine,
        WorkflowRegistry,
        WorkflowContext,
    )

    class ProcessOrder(BaseMachineStep):
        name = "process_order"

        async def execute(self, context: WorkflowContext) -> None:
            order_id = context.get("order_id")
            context.set("processed", True)
            context.set("order_status", "completed")

    class SendEmailNotification(BaseMachineStep):
        name = "send_email"

        async def execute(self, context: WorkflowContext) -> None:
            await asyncio.sleep(0.1)  # Simulate API call
            context.set("email_sent", True)
            context.set("email_timestamp", datetime.now().isoformat())

    class SendSlackNotification(BaseMachineStep):
        name = "send_slack"

        async def execute(self, context: WorkflowContext) -> None:
            await asyncio.sleep(0.1)  # Simulate API call
            context.set("slack_sent", True)
            context.set("slack_timestamp", datetime.now().isoformat())

    class SendWebhook(BaseMachineStep):
        name = "send_webhook"

        async def execute(self, context: WorkflowContext) -> None:
            await asyncio.sleep(0.1)  # Simulate API call
            context.set("webhook_sent", True)
            context.set("webhook_timestamp", datetime.now().isoformat())

    class LogNotifications(BaseMachineStep):
        name = "log_notifications"

        async def execute(self, context: WorkflowContext) -> None:
            sent = []
            if context.get("email_sent"):
                sent.append("email")
            if context.get("slack_sent"):
                sent.append("slack")
            if context.get("webhook_sent"):
                sent.append("webhook")

            context.set("notifications_sent", sent)
            context.set("notification_count", len(sent))

    # Create parallel notification group
    notification_group = ParallelGroup(
        SendEmailNotification(),
        SendSlackNotification(),
        SendWebhook(),
        callback=LogNotifications(),
    )

    # Define workflow
    workflow = WorkflowDefinition(
        name="order_with_notifications",
        version="1.0.0",
        description="Process order and send parallel notifications",
        steps={
            "process_order": ProcessOrder(),
            "notify": notification_group,
        },
        edges=[
            Edge("process_order", "notify"),
        ],
        initial_step="process_order",
        terminal_steps={"notify"},
    )

    # Run
    async def main():
        registry = WorkflowRegistry()
        registry.register_definition(workflow)
        engine = LocalExecutionEngine(registry)

        instance = await engine.start_workflow(
            "order_with_notifications", initial_data={"order_id": "ORD-123"}
        )
        await engine.wait(
            instance.id
        )  # (added: the branches await I/O, so they finish after the start returns)

        print(f"Notifications sent: {instance.context.get('notifications_sent')}")
        print(f"Count: {instance.context.get('notification_count')}")

    return main


async def test_complete_example(capsys: pytest.CaptureFixture[str]) -> None:
    await complete_example()()
    assert capsys.readouterr().out.splitlines() == [
        "Notifications sent: ['email', 'slack', 'webhook']",
        "Count: 3",
    ]
