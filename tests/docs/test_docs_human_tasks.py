"""The Human Tasks guide's examples (guides/human-tasks.rst), run as written.

The guide's usage block is a fragment (top-level ``await``, no ``engine``): it runs here inside a
test, with the registry and engine set up as the Quickstart does.
"""

# ruff: noqa: E402, F401, F811, I001, DTZ005
# (the documented code is kept as the guide shows it)

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from litestar_workflows import WorkflowStatus

# ----------------------------------------------------------------------------- Complete Approval Workflow

from datetime import datetime
from litestar_workflows import (
    WorkflowDefinition,
    Edge,
    BaseMachineStep,
    BaseHumanStep,
    LocalExecutionEngine,
    WorkflowRegistry,
    WorkflowContext,
)


# Machine step - automatic submission
class SubmitRequest(BaseMachineStep):
    name = "submit"
    description = "Record the initial request"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("submitted_at", datetime.now().isoformat())
        context.set("status", "pending_approval")


# Human step - manager approval
class ManagerApproval(BaseHumanStep):
    name = "manager_approval"
    title = "Manager Approval"
    description = "Review and approve this expense request"

    form_schema = {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean", "title": "Approve?"},
            "comments": {"type": "string", "title": "Comments"},
        },
        "required": ["approved"],
    }


# Human step - finance approval (for high amounts)
class FinanceApproval(BaseHumanStep):
    name = "finance_approval"
    title = "Finance Approval"
    description = "Finance review for high-value requests"

    form_schema = {
        "type": "object",
        "properties": {
            "approved": {"type": "boolean", "title": "Approve?"},
            "budget_code": {"type": "string", "title": "Budget Code"},
            "comments": {"type": "string", "title": "Comments"},
        },
        "required": ["approved", "budget_code"],
    }


# Machine step - process result
class ProcessResult(BaseMachineStep):
    name = "process"
    description = "Process the final decision"

    async def execute(self, context: WorkflowContext) -> None:
        # Check all approvals
        manager_approved = context.get("approved", False)
        finance_approved = context.get("finance_approved", True)  # Default True if skipped

        if manager_approved and finance_approved:
            context.set("status", "approved")
            context.set("approved_at", datetime.now().isoformat())
        else:
            context.set("status", "rejected")
            context.set("rejected_at", datetime.now().isoformat())


# Workflow definition
expense_workflow = WorkflowDefinition(
    name="expense_approval",
    version="1.0.0",
    description="Multi-level expense approval",
    steps={
        "submit": SubmitRequest(),
        "manager_approval": ManagerApproval(),
        "finance_approval": FinanceApproval(),
        "process": ProcessResult(),
    },
    edges=[
        Edge("submit", "manager_approval"),
        Edge("manager_approval", "finance_approval"),
        Edge("finance_approval", "process"),
    ],
    initial_step="submit",
    terminal_steps={"process"},
)


@pytest.fixture
def engine() -> LocalExecutionEngine:
    registry = WorkflowRegistry()
    registry.register_definition(expense_workflow)
    return LocalExecutionEngine(registry)


# ----------------------------------------------------------------------------- Completing Human Tasks


async def completing_human_tasks(engine: LocalExecutionEngine, *, settle: bool) -> Any:
    # Start the workflow
    instance = await engine.start_workflow(
        "expense_approval",
        initial_data={
            "requester": "alice@example.com",
            "amount": 2500.00,
            "description": "Conference attendance",
        },
    )
    if settle:
        await engine.wait(instance.id)  # (added: what the guide takes for granted)

    # Workflow is now waiting at manager_approval
    assert instance.current_step == "manager_approval"

    # Manager completes their task
    await engine.complete_human_task(
        instance_id=instance.id,
        step_name="manager_approval",
        user_id="manager@example.com",
        data={
            "approved": True,
            "comments": "Approved for Q4 budget",
        },
    )

    # Workflow continues to finance_approval
    # ...then finance completes their task
    await engine.complete_human_task(
        instance_id=instance.id,
        step_name="finance_approval",
        user_id="finance@example.com",
        data={
            "approved": True,
            "budget_code": "CONF-2024",
            "comments": "Within budget",
        },
    )
    return instance


async def test_completing_human_tasks_as_written(engine: LocalExecutionEngine) -> None:
    instance = await completing_human_tasks(engine, settle=False)
    assert instance.status is WorkflowStatus.COMPLETED


async def test_completing_human_tasks(engine: LocalExecutionEngine) -> None:
    instance = await completing_human_tasks(engine, settle=True)
    assert instance.status is WorkflowStatus.COMPLETED  # nothing awaited: done when the completion returns
    assert instance.context.get("status") == "approved"
    assert instance.context.get("budget_code") == "CONF-2024"
    assert instance.context.get("comments") == "Within budget"  # the later task's data wins


async def test_the_form_schema_is_enforced(engine: LocalExecutionEngine) -> None:
    from litestar_workflows import TaskValidationError

    instance = await engine.start_workflow("expense_approval", initial_data={"amount": 10.0})
    await engine.wait(instance.id)
    with pytest.raises(TaskValidationError, match="approved"):
        await engine.complete_human_task(instance.id, "manager_approval", user_id="m", data={"comments": "?"})


# ----------------------------------------------------------------------------- Conditional Approval Chains


@pytest.mark.parametrize(("amount", "finance"), [(500.0, False), (2500.0, True)])
async def test_conditional_approval_chains(amount: float, finance: bool) -> None:
    # Define edges with conditions
    edges = [
        Edge("submit", "manager_approval"),
        # Skip finance for small amounts
        Edge("manager_approval", "process", condition="context.get('amount', 0) < 1000"),
        # Require finance for large amounts
        Edge("manager_approval", "finance_approval", condition="context.get('amount', 0) >= 1000"),
        Edge("finance_approval", "process"),
    ]
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="chain",
            version="1.0.0",
            steps={
                s.name: s for s in (SubmitRequest(), ManagerApproval(), FinanceApproval(), ProcessResult())
            },
            edges=edges,
            initial_step="submit",
            terminal_steps={"process"},
        )
    )
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("chain", initial_data={"amount": amount})
    await engine.wait(instance.id)
    await engine.complete_human_task(instance.id, "manager_approval", user_id="m", data={"approved": True})
    instance = await engine.wait(instance.id)
    if finance:
        assert instance.status is WorkflowStatus.WAITING and instance.current_step == "finance_approval"
        await engine.complete_human_task(
            instance.id, "finance_approval", user_id="f", data={"approved": True, "budget_code": "B-1"}
        )
        instance = await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED  # the join after the exclusive split continues
    assert instance.context.get("status") == "approved"


# ----------------------------------------------------------------------------- Handling Rejections

sent: list[dict[str, Any]] = []


async def send_notification(**message: Any) -> None:  # filled in: the guide never defines it
    sent.append(message)


class HandleRejection(BaseMachineStep):
    name = "handle_rejection"
    description = "Process rejected request"

    async def execute(self, context: WorkflowContext) -> None:
        rejection_reason = context.get("comments", "No reason provided")
        requester = context.get("requester")

        # Notify requester
        await send_notification(
            to=requester,
            subject="Request Rejected",
            body=f"Your request was rejected: {rejection_reason}",
        )

        context.set("status", "rejected")
        context.set("rejection_notified", True)


async def test_handling_rejections() -> None:
    # Add rejection path
    edges = [
        Edge("submit", "manager_approval"),
        Edge("manager_approval", "process_approval", condition="context.get('approved') == True"),
        Edge("manager_approval", "handle_rejection", condition="context.get('approved') == False"),
    ]
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="rejections",
            version="1.0.0",
            steps={
                "submit": SubmitRequest(),
                "manager_approval": ManagerApproval(),
                "process_approval": ProcessResult(),
                "handle_rejection": HandleRejection(),
            },
            edges=edges,
            initial_step="submit",
            terminal_steps={"process_approval", "handle_rejection"},
        )
    )
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("rejections", initial_data={"requester": "alice@example.com"})
    await engine.wait(instance.id)
    await engine.complete_human_task(
        instance.id, "manager_approval", user_id="m", data={"approved": False, "comments": "over budget"}
    )
    instance = await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get("rejection_notified") is True
    assert sent[-1] == {
        "to": "alice@example.com",
        "subject": "Request Rejected",
        "body": "Your request was rejected: over budget",
    }
