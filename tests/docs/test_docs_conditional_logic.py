"""The Conditional Logic guide's examples (guides/conditional-logic.rst), run as written.

The guide's gateways subclass ``BaseGateway`` and return the next step's name from ``evaluate``.
Steps the guide names but never shows (``SubmitRequest``, ``AutoApprove``...) are filled in with
the smallest real step; the documented lines themselves are unchanged.
"""

# ruff: noqa: E402, F401, F811, F841, B007, I001, RET504, RET505, T201
# (the documented code is kept as the guide shows it)

from __future__ import annotations

from typing import Any

import pytest

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowRegistry,
    WorkflowStatus,
)

# ----------------------------------------------------------------------------- Basic Gateway

from litestar_workflows import BaseGateway, WorkflowContext


class AmountGateway(BaseGateway):
    """Route based on request amount."""

    name = "amount_gateway"
    description = "Determine approval path"

    async def evaluate(self, context: WorkflowContext) -> str:
        """Return the name of the next step."""
        amount = context.get("amount", 0)

        if amount >= 10000:
            return "executive_approval"
        elif amount >= 1000:
            return "manager_approval"
        else:
            return "auto_approve"


# ----------------------------------------------------------------------------- filled in: the steps the guide names


class Record(BaseMachineStep):
    async def execute(self, context: Any) -> None:
        context.set(f"ran_{context.current_step}", True)


class SubmitRequest(Record):
    name = "submit"


class AutoApprove(Record):
    name = "auto_approve"


class ProcessResult(Record):
    name = "process"


class ManagerApproval(BaseHumanStep):
    name = "manager_approval"
    title = "Manager approval"


class ExecutiveApproval(BaseHumanStep):
    name = "executive_approval"
    title = "Executive approval"


# ----------------------------------------------------------------------------- Using the Gateway in a Workflow


def using_the_gateway() -> Any:
    from litestar_workflows import Edge, WorkflowDefinition

    expense_workflow = WorkflowDefinition(
        name="expense_approval",
        version="1.0.0",
        steps={
            "submit": SubmitRequest(),
            "route": AmountGateway(),
            "auto_approve": AutoApprove(),
            "manager_approval": ManagerApproval(),
            "executive_approval": ExecutiveApproval(),
            "process": ProcessResult(),
        },
        edges=[
            Edge("submit", "route"),
            # Gateway edges - one will be taken
            Edge("route", "auto_approve"),
            Edge("route", "manager_approval"),
            Edge("route", "executive_approval"),
            # All paths converge
            Edge("auto_approve", "process"),
            Edge("manager_approval", "process"),
            Edge("executive_approval", "process"),
        ],
        initial_step="submit",
        terminal_steps={"process"},
    )
    return expense_workflow


@pytest.mark.parametrize(
    ("amount", "waits_at"), [(250, None), (2500, "manager_approval"), (25000, "executive_approval")]
)
async def test_using_the_gateway_in_a_workflow(amount: int, waits_at: str | None) -> None:
    registry = WorkflowRegistry()
    registry.register_definition(using_the_gateway())
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("expense_approval", initial_data={"amount": amount})
    instance = await engine.wait(instance.id)
    if waits_at is not None:
        assert instance.status is WorkflowStatus.WAITING
        assert instance.current_step == waits_at
        await engine.complete_human_task(instance.id, waits_at, user_id="boss", data={"ok": True})
        instance = await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get("ran_process") is True  # the paths converge: the join continues
    assert instance.context.get("ran_auto_approve") is (True if waits_at is None else None)


async def test_basic_gateway_evaluated_directly() -> None:
    from uuid import uuid4

    context = WorkflowContext("expense_approval", uuid4(), {"amount": 10000})
    assert await AmountGateway().evaluate(context) == "executive_approval"


# ----------------------------------------------------------------------------- Conditional Edges


async def test_conditional_edges() -> None:
    from litestar_workflows import Edge, WorkflowDefinition

    edges = [
        Edge("submit", "review"),
        # Conditional edges - condition is a Python expression
        Edge(source="review", target="approve", condition="context.get('approved') == True"),
        Edge(source="review", target="reject", condition="context.get('approved') == False"),
    ]

    class Review(BaseHumanStep):
        name = "review"
        title = "Review"

    definition = WorkflowDefinition(
        name="review",
        version="1.0.0",
        steps={"submit": Record(), "review": Review(), "approve": Record(), "reject": Record()},
        edges=edges,
        initial_step="submit",
        terminal_steps={"approve", "reject"},
    )
    registry = WorkflowRegistry()
    registry.register_definition(definition)
    engine = LocalExecutionEngine(registry)
    for approved, ran, not_ran in ((True, "approve", "reject"), (False, "reject", "approve")):
        instance = await engine.start_workflow("review")
        await engine.wait(instance.id)
        await engine.complete_human_task(instance.id, "review", user_id="ann", data={"approved": approved})
        instance = await engine.wait(instance.id)
        assert instance.status is WorkflowStatus.COMPLETED
        assert instance.context.get(f"ran_{ran}") is True and instance.context.get(f"ran_{not_ran}") is None


# ----------------------------------------------------------------------------- Multiple Conditions (Inclusive Gateway)


class NotificationGateway(BaseGateway):
    """Determine which notifications to send."""

    name = "notification_gateway"
    gateway_type = "inclusive"  # Multiple paths allowed

    async def evaluate(self, context: WorkflowContext) -> list[str]:
        """Return list of next steps to execute."""
        paths = []

        if context.get("notify_email", True):
            paths.append("send_email")

        if context.get("notify_slack", False):
            paths.append("send_slack")

        if context.get("amount", 0) > 10000:
            paths.append("send_executive_alert")

        return paths if paths else ["skip_notifications"]


@pytest.mark.parametrize(
    ("data", "sent"),
    [
        ({}, {"send_email"}),
        ({"notify_slack": True, "amount": 20000}, {"send_email", "send_slack", "send_executive_alert"}),
        ({"notify_email": False}, {"skip_notifications"}),
    ],
)
async def test_inclusive_gateway(data: dict[str, Any], sent: set[str]) -> None:
    from litestar_workflows import Edge, WorkflowDefinition

    targets = ["send_email", "send_slack", "send_executive_alert", "skip_notifications"]
    definition = WorkflowDefinition(
        name="notify",
        version="1.0.0",
        steps={
            "notification_gateway": NotificationGateway(),
            "done": Record(),
            **{t: Record() for t in targets},
        },
        edges=[Edge("notification_gateway", t) for t in targets] + [Edge(t, "done") for t in targets],
        initial_step="notification_gateway",
        terminal_steps={"done"},
    )
    registry = WorkflowRegistry()
    registry.register_definition(definition)
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("notify", data)
    instance = await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert {t for t in targets if instance.context.get(f"ran_{t}")} == sent
    assert instance.context.get("ran_done") is True


# ----------------------------------------------------------------------------- Complete Example: Multi-Level Approval


def complete_example() -> Any:
    """Multi-level approval workflow with conditional routing."""

    from litestar_workflows import (
        BaseGateway,
        BaseHumanStep,
        BaseMachineStep,
        Edge,
        WorkflowContext,
        WorkflowDefinition,
    )

    class SubmitRequest(BaseMachineStep):
        name = "submit"

        async def execute(self, context: WorkflowContext) -> None:
            context.set("submitted", True)
            context.set("approval_level", 0)

    class ApprovalRouter(BaseGateway):
        """Route to appropriate approver based on amount and current level."""

        name = "approval_router"

        # Approval levels: (max_amount, step_name, level)
        LEVELS = [
            (1000, "auto_approve", 0),
            (5000, "team_lead_approval", 1),
            (25000, "manager_approval", 2),
            (100000, "director_approval", 3),
            (float("inf"), "vp_approval", 4),
        ]

        async def evaluate(self, context: WorkflowContext) -> str:
            amount = context.get("amount", 0)
            current_level = context.get("approval_level", 0)

            # Find required approval level
            for max_amount, step_name, level in self.LEVELS:
                if amount <= max_amount:
                    required_level = level
                    required_step = step_name
                    break

            # Check if we've reached required level
            if current_level >= required_level:
                return "process_approved"

            # Route to next approver in chain
            for max_amount, step_name, level in self.LEVELS:
                if level == current_level + 1:
                    return step_name

            return "process_approved"

    class TeamLeadApproval(BaseHumanStep):
        name = "team_lead_approval"
        title = "Team Lead Approval"
        form_schema = {
            "type": "object",
            "properties": {
                "approved": {"type": "boolean", "title": "Approve?"},
                "escalate": {"type": "boolean", "title": "Escalate to Manager?"},
            },
            "required": ["approved"],
        }

    class ManagerApproval(BaseHumanStep):
        name = "manager_approval"
        title = "Manager Approval"
        form_schema = {
            "type": "object",
            "properties": {
                "approved": {"type": "boolean", "title": "Approve?"},
            },
            "required": ["approved"],
        }

    class UpdateApprovalLevel(BaseMachineStep):
        name = "update_level"

        async def execute(self, context: WorkflowContext) -> None:
            current = context.get("approval_level", 0)
            context.set("approval_level", current + 1)

    class AutoApprove(BaseMachineStep):
        name = "auto_approve"

        async def execute(self, context: WorkflowContext) -> None:
            context.set("approved", True)
            context.set("approved_by", "system")

    class ProcessApproved(BaseMachineStep):
        name = "process_approved"

        async def execute(self, context: WorkflowContext) -> None:
            context.set("status", "approved")
            context.set("processed", True)

    class ProcessRejected(BaseMachineStep):
        name = "process_rejected"

        async def execute(self, context: WorkflowContext) -> None:
            context.set("status", "rejected")

    # Workflow definition
    approval_workflow = WorkflowDefinition(
        name="multi_level_approval",
        version="1.0.0",
        description="Multi-level approval with conditional routing",
        steps={
            "submit": SubmitRequest(),
            "router": ApprovalRouter(),
            "auto_approve": AutoApprove(),
            "team_lead_approval": TeamLeadApproval(),
            "manager_approval": ManagerApproval(),
            "update_level": UpdateApprovalLevel(),
            "process_approved": ProcessApproved(),
            "process_rejected": ProcessRejected(),
        },
        edges=[
            Edge("submit", "router"),
            # Gateway routes to appropriate step
            Edge("router", "auto_approve"),
            Edge("router", "team_lead_approval"),
            Edge("router", "manager_approval"),
            Edge("router", "process_approved"),
            # Auto approve goes directly to processing
            Edge("auto_approve", "process_approved"),
            # Human approvals check result
            Edge("team_lead_approval", "update_level", condition="context.get('approved') == True"),
            Edge("team_lead_approval", "process_rejected", condition="context.get('approved') == False"),
            Edge("manager_approval", "update_level", condition="context.get('approved') == True"),
            Edge("manager_approval", "process_rejected", condition="context.get('approved') == False"),
            # After level update, re-evaluate routing
            Edge("update_level", "router"),
        ],
        initial_step="submit",
        terminal_steps={"process_approved", "process_rejected"},
    )
    return approval_workflow


@pytest.mark.parametrize(
    ("amount", "approvals", "status"),
    [
        (500, [], "approved"),
        (3000, [("team_lead_approval", True)], "approved"),
        (3000, [("team_lead_approval", False)], "rejected"),
        (20000, [("team_lead_approval", True), ("manager_approval", True)], "approved"),
        (20000, [("team_lead_approval", True), ("manager_approval", False)], "rejected"),
    ],
)
async def test_complete_example_multi_level_approval(
    amount: int, approvals: list[tuple[str, bool]], status: str
) -> None:
    registry = WorkflowRegistry()
    registry.register_definition(complete_example())
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("multi_level_approval", initial_data={"amount": amount})
    for step, approved in approvals:
        instance = await engine.wait(instance.id)
        assert instance.status is WorkflowStatus.WAITING and instance.current_step == step
        await engine.complete_human_task(instance.id, step, user_id="approver", data={"approved": approved})
    instance = await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get("status") == status
    assert instance.context.get("approval_level") == sum(1 for _, ok in approvals if ok)
