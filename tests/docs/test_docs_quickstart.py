"""The Quickstart's examples (getting-started/quickstart.rst), run as written.

Each step block of the page is kept as shown; the complete example's ``main()`` runs with its
output captured and checked against what the page says it prints.
"""

# ruff: noqa: E402, F401, F811, F841, I001, RET504, T201, DTZ005
# (the documented code is kept as the page shows it)

from __future__ import annotations

from datetime import datetime

import pytest

from litestar_workflows import WorkflowStatus

# ----------------------------------------------------------------------------- Step 1: Define Your Steps

from litestar_workflows import BaseMachineStep, WorkflowContext


class SubmitRequest(BaseMachineStep):
    """Automatically process the initial submission."""

    name = "submit_request"
    description = "Validate and record the expense submission"

    async def execute(self, context: WorkflowContext) -> None:
        # Access workflow data
        amount = context.get("amount", 0)
        description = context.get("description", "")

        # Validate the request
        if amount <= 0:
            raise ValueError("Amount must be positive")

        # Store computed values in context
        context.set("submitted", True)
        context.set("submitted_at", datetime.now().isoformat())
        context.set("requires_vp_approval", amount > 5000)


from litestar_workflows import BaseHumanStep


class ManagerApproval(BaseHumanStep):
    """Wait for manager to approve or reject the request."""

    name = "manager_approval"
    title = "Approve Expense Request"
    description = "Review and approve or reject this expense request"

    # JSON Schema for the approval form
    form_schema = {
        "type": "object",
        "properties": {
            "approved": {
                "type": "boolean",
                "title": "Approve this request?",
                "default": False,
            },
            "comments": {
                "type": "string",
                "title": "Comments",
                "description": "Optional comments for the requester",
            },
        },
        "required": ["approved"],
    }


class ProcessResult(BaseMachineStep):
    """Process the approved or rejected request."""

    name = "process_result"
    description = "Handle the final outcome"

    async def execute(self, context: WorkflowContext) -> None:
        if context.get("approved"):
            # Request was approved - process it
            context.set("status", "approved")
            context.set("processed_at", datetime.now().isoformat())
            # Trigger payment, notification, etc.
        else:
            # Request was rejected
            context.set("status", "rejected")
            context.set("rejection_reason", context.get("comments", "No reason provided"))


# ----------------------------------------------------------------------------- Step 2: Create the Workflow Definition

from litestar_workflows import WorkflowDefinition, Edge

# Create step instances
submit_step = SubmitRequest()
approval_step = ManagerApproval()
process_step = ProcessResult()

# Define the workflow
expense_workflow = WorkflowDefinition(
    name="expense_approval",
    version="1.0.0",
    description="Expense request approval workflow",
    steps={
        "submit_request": submit_step,
        "manager_approval": approval_step,
        "process_result": process_step,
    },
    edges=[
        Edge(source="submit_request", target="manager_approval"),
        Edge(source="manager_approval", target="process_result"),
    ],
    initial_step="submit_request",
    terminal_steps={"process_result"},
)

# ----------------------------------------------------------------------------- Step 3: Register and Run

from litestar_workflows import WorkflowRegistry, LocalExecutionEngine

# Create registry and register our workflow
registry = WorkflowRegistry()
registry.register_definition(expense_workflow)

# Create execution engine
engine = LocalExecutionEngine(registry)


# Start a new workflow instance
async def submit_expense(user_id: str, amount: float, description: str):
    instance = await engine.start_workflow(
        workflow_name="expense_approval",
        initial_data={
            "requester_id": user_id,
            "amount": amount,
            "description": description,
        },
    )
    return instance


# ----------------------------------------------------------------------------- Step 4: Complete Human Tasks


async def approve_expense(instance_id: str, manager_id: str, approved: bool, comments: str = ""):
    await engine.complete_human_task(
        instance_id=instance_id,
        step_name="manager_approval",
        user_id=manager_id,
        data={
            "approved": approved,
            "comments": comments,
        },
    )


async def test_step_by_step() -> None:
    instance = await submit_expense("alice@example.com", 6000.0, "New laptop")
    await engine.wait(instance.id)  # (added: reach the human step whatever start_workflow does)
    assert instance.status is WorkflowStatus.WAITING
    assert instance.context.get("requires_vp_approval") is True
    await approve_expense(instance.id, "bob@example.com", approved=False, comments="Too expensive")
    await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get("status") == "rejected"
    assert instance.context.get("rejection_reason") == "Too expensive"


async def test_step_blocks_run_with_the_engine_api() -> None:
    """The step blocks' steps, definition and Step 4 helper, started the way our engine names it."""
    instance = await engine.start_workflow("expense_approval", initial_data={"amount": 250.0})
    await engine.wait(instance.id)
    assert instance.current_step == "manager_approval"
    await approve_expense(instance.id, "bob@example.com", approved=True)
    await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get("status") == "approved"


async def test_a_non_positive_amount_fails_the_submission() -> None:
    instance = await engine.start_workflow("expense_approval", initial_data={"amount": 0})
    await engine.wait(instance.id)
    assert instance.status is WorkflowStatus.FAILED
    assert "Amount must be positive" in (instance.error or "")


# ----------------------------------------------------------------------------- Complete Example


def complete_example() -> object:
    """Complete expense approval workflow example."""

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

    # Step 1: Define Steps
    class SubmitRequest(BaseMachineStep):
        name = "submit_request"
        description = "Validate and record the expense submission"

        async def execute(self, context: WorkflowContext) -> None:
            amount = context.get("amount", 0)
            if amount <= 0:
                raise ValueError("Amount must be positive")
            context.set("submitted", True)
            context.set("submitted_at", datetime.now().isoformat())

    class ManagerApproval(BaseHumanStep):
        name = "manager_approval"
        title = "Approve Expense Request"
        form_schema = {
            "type": "object",
            "properties": {
                "approved": {"type": "boolean", "title": "Approve?"},
                "comments": {"type": "string", "title": "Comments"},
            },
            "required": ["approved"],
        }

    class ProcessResult(BaseMachineStep):
        name = "process_result"
        description = "Handle the final outcome"

        async def execute(self, context: WorkflowContext) -> None:
            status = "approved" if context.get("approved") else "rejected"
            context.set("status", status)
            context.set("completed_at", datetime.now().isoformat())

    # Step 2: Create Workflow Definition
    expense_workflow = WorkflowDefinition(
        name="expense_approval",
        version="1.0.0",
        description="Expense request approval workflow",
        steps={
            "submit_request": SubmitRequest(),
            "manager_approval": ManagerApproval(),
            "process_result": ProcessResult(),
        },
        edges=[
            Edge("submit_request", "manager_approval"),
            Edge("manager_approval", "process_result"),
        ],
        initial_step="submit_request",
        terminal_steps={"process_result"},
    )

    # Step 3: Register and Run
    registry = WorkflowRegistry()
    registry.register_definition(expense_workflow)
    engine = LocalExecutionEngine(registry)

    async def main():
        # Start a new expense request
        instance = await engine.start_workflow(
            "expense_approval",
            initial_data={
                "requester_id": "alice@example.com",
                "amount": 250.00,
                "description": "Conference registration fee",
            },
        )
        print(f"Workflow started: {instance.id}")
        print(f"Current step: {instance.current_step}")  # manager_approval

        # Manager approves the request
        await engine.complete_human_task(
            instance_id=instance.id,
            step_name="manager_approval",
            user_id="bob@example.com",
            data={"approved": True, "comments": "Approved for Q4 budget"},
        )
        print(f"Workflow completed with status: {instance.context.get('status')}")

    return main


async def test_complete_example(capsys: pytest.CaptureFixture[str]) -> None:
    main = complete_example()
    await main()  # type: ignore[operator]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("Workflow started: ")
    assert lines[1:] == ["Current step: manager_approval", "Workflow completed with status: approved"]
