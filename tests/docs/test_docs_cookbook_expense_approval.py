"""The Expense Approval cookbook (cookbook/expense-approval.rst): its complete implementation and tests.

The module is the cookbook's ``expense_approval.py`` as written, except one edge condition
(marked ``changed``); the tests at the end are the cookbook's, with what it elides filled and
marked ``(added: ...)``.
"""

# ruff: noqa: E402, F401, F811, I001, PLC0415, E501, ARG002, RUF012, TC001, TC002, TC003, DTZ005, UP017, RET505, SIM108
# (the documented code is kept as the cookbook shows it)

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from litestar import Litestar, get
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from litestar_workflows import (
    BaseMachineStep,
    BaseHumanStep,
    Edge,
    ExclusiveGateway,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowPlugin,
    WorkflowPluginConfig,
    WorkflowRegistry,
)
from litestar_workflows.db import PersistentExecutionEngine

if TYPE_CHECKING:
    from litestar_workflows.core import WorkflowContext


# =============================================================================
# Step Definitions
# =============================================================================


class SubmitExpense(BaseMachineStep):
    """Record the expense submission with metadata."""

    name = "submit_expense"
    description = "Record expense submission and prepare for routing"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Initialize the expense request in the workflow context."""
        context.set("submitted_at", datetime.now(timezone.utc).isoformat())
        context.set("status", "pending")
        context.set("approval_chain", [])

        # Validate required fields
        amount = context.get("amount")
        if amount is None or amount <= 0:
            raise ValueError("Amount must be a positive number")

        requester = context.get("requester")
        if not requester:
            raise ValueError("Requester email is required")

        return {
            "submitted": True,
            "amount": amount,
            "requester": requester,
        }


class AmountRouter(ExclusiveGateway):
    """Route expense to appropriate approval level based on amount."""

    name = "amount_router"
    description = "Determine required approval level"

    async def evaluate(self, context: WorkflowContext) -> str:
        """Return the next step based on amount and current approval state."""
        amount = context.get("amount", 0)
        approval_chain: list[str] = context.get("approval_chain", [])

        # Determine required approvals
        required_approvals = self._get_required_approvals(amount)

        # Find next unobtained approval
        for approval_level in required_approvals:
            if approval_level not in approval_chain:
                return f"{approval_level}_approval"

        # All required approvals obtained
        return "process_approved"

    def _get_required_approvals(self, amount: float) -> list[str]:
        """Determine which approvals are needed based on amount."""
        if amount < 1000:
            return []  # Auto-approve
        elif amount < 5000:
            return ["manager"]
        elif amount < 10000:
            return ["manager", "finance"]
        else:
            return ["manager", "finance", "cfo"]


class AutoApprove(BaseMachineStep):
    """Automatically approve small expenses."""

    name = "auto_approve"
    description = "Auto-approve expenses under threshold"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Mark expense as auto-approved."""
        context.set("approved", True)
        context.set("approved_by", "system")
        context.set("approved_at", datetime.now(timezone.utc).isoformat())
        context.set("status", "approved")

        approval_chain = context.get("approval_chain", [])
        approval_chain.append("auto")
        context.set("approval_chain", approval_chain)

        return {"auto_approved": True}


class ManagerApproval(BaseHumanStep):
    """Manager reviews and approves/rejects the expense."""

    name = "manager_approval"
    title = "Manager Approval Required"
    description = "Review expense request and approve or reject"

    form_schema = {
        "type": "object",
        "title": "Expense Approval",
        "properties": {
            "decision": {
                "type": "string",
                "title": "Decision",
                "enum": ["approve", "reject", "request_info"],
                "enumNames": ["Approve", "Reject", "Request More Information"],
                "description": "Your decision on this expense request",
            },
            "comments": {
                "type": "string",
                "title": "Comments",
                "description": "Feedback for the requester (required for rejection)",
                "maxLength": 1000,
            },
            "cost_center": {
                "type": "string",
                "title": "Cost Center",
                "description": "Assign to cost center (optional)",
                "pattern": "^[A-Z]{2}-[0-9]{4}$",
            },
        },
        "required": ["decision"],
        "if": {"properties": {"decision": {"const": "reject"}}},
        "then": {"required": ["decision", "comments"]},
    }

    async def get_description(self, context: WorkflowContext) -> str:
        """Generate a dynamic description with expense details."""
        amount = context.get("amount", 0)
        requester = context.get("requester", "Unknown")
        description = context.get("description", "No description provided")

        return f"""
**Expense Request**

- **Requester:** {requester}
- **Amount:** ${amount:,.2f}
- **Description:** {description}

Please review and approve or reject this expense request.
"""

    async def get_assignee(self, context: WorkflowContext) -> str | None:
        """Route to the requester's manager."""
        requester = context.get("requester")
        # In a real application, look up the manager
        # For demo, use a pattern
        return f"manager-of-{requester}"


class FinanceApproval(BaseHumanStep):
    """Finance team reviews larger expenses."""

    name = "finance_approval"
    title = "Finance Approval Required"
    description = "Finance review for expenses over $5,000"

    form_schema = {
        "type": "object",
        "title": "Finance Review",
        "properties": {
            "decision": {
                "type": "string",
                "title": "Decision",
                "enum": ["approve", "reject"],
            },
            "budget_code": {
                "type": "string",
                "title": "Budget Code",
                "description": "Assign expense to budget",
                "pattern": "^BUD-[0-9]{6}$",
            },
            "fiscal_year": {
                "type": "string",
                "title": "Fiscal Year",
                "enum": ["FY2024", "FY2025"],
            },
            "comments": {
                "type": "string",
                "title": "Comments",
            },
        },
        "required": ["decision", "budget_code", "fiscal_year"],
    }

    async def get_assignee_group(self, context: WorkflowContext) -> str | None:
        """Assign to finance approvers group."""
        return "finance-approvers"


class CFOApproval(BaseHumanStep):
    """CFO reviews high-value expenses."""

    name = "cfo_approval"
    title = "CFO Approval Required"
    description = "Executive approval for expenses over $10,000"

    form_schema = {
        "type": "object",
        "title": "Executive Approval",
        "properties": {
            "decision": {
                "type": "string",
                "title": "Decision",
                "enum": ["approve", "reject", "defer"],
                "enumNames": ["Approve", "Reject", "Defer to Board"],
            },
            "strategic_alignment": {
                "type": "boolean",
                "title": "Strategically Aligned",
                "description": "Does this expense align with company strategy?",
            },
            "comments": {
                "type": "string",
                "title": "Executive Notes",
                "format": "textarea",
            },
        },
        "required": ["decision"],
    }

    async def get_assignee(self, context: WorkflowContext) -> str | None:
        """Route to CFO."""
        return "cfo@company.com"


class RecordApproval(BaseMachineStep):
    """Record approval from a human step and route to next."""

    name = "record_approval"
    description = "Process approval decision and update chain"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Record the approval decision and prepare for routing."""
        decision = context.get("decision")
        approval_chain: list[str] = context.get("approval_chain", [])

        if decision == "approve":
            # Determine which approval was just completed
            current_step = context.get("_current_step", "")
            if "manager" in current_step:
                approval_chain.append("manager")
            elif "finance" in current_step:
                approval_chain.append("finance")
            elif "cfo" in current_step:
                approval_chain.append("cfo")

            context.set("approval_chain", approval_chain)
            context.set("last_approved_at", datetime.now(timezone.utc).isoformat())
            return {"recorded": True, "chain": approval_chain}

        elif decision == "reject":
            context.set("status", "rejected")
            context.set("rejected_at", datetime.now(timezone.utc).isoformat())
            return {"rejected": True}

        else:
            # Request info or defer - keep status as pending
            context.set("status", "awaiting_info")
            return {"pending_info": True}


class ProcessApproved(BaseMachineStep):
    """Finalize approved expense."""

    name = "process_approved"
    description = "Process fully approved expense"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Finalize the approved expense."""
        context.set("status", "approved")
        context.set("approved", True)
        context.set("processed_at", datetime.now(timezone.utc).isoformat())

        # In a real app: trigger payment, update accounting system, etc.
        return {
            "processed": True,
            "expense_id": context.get("expense_id"),
            "amount": context.get("amount"),
            "approval_chain": context.get("approval_chain"),
        }


class ProcessRejected(BaseMachineStep):
    """Handle rejected expense."""

    name = "process_rejected"
    description = "Process rejected expense"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        """Handle rejection and notify requester."""
        context.set("status", "rejected")
        context.set("processed_at", datetime.now(timezone.utc).isoformat())

        # In a real app: send notification email to requester
        return {
            "processed": True,
            "rejected": True,
            "reason": context.get("comments"),
        }


# =============================================================================
# Workflow Definition
# =============================================================================

expense_approval_workflow = WorkflowDefinition(
    name="expense_approval",
    version="1.0.0",
    description="Multi-level expense approval with conditional routing",
    steps={
        "submit_expense": SubmitExpense(),
        "amount_router": AmountRouter(),
        "auto_approve": AutoApprove(),
        "manager_approval": ManagerApproval(),
        "finance_approval": FinanceApproval(),
        "cfo_approval": CFOApproval(),
        "record_approval": RecordApproval(),
        "process_approved": ProcessApproved(),
        "process_rejected": ProcessRejected(),
    },
    edges=[
        # Initial submission and routing
        Edge("submit_expense", "amount_router"),
        # Auto-approve path for small expenses
        Edge("amount_router", "auto_approve", condition="context.get('amount', 0) < 1000"),
        Edge("auto_approve", "process_approved"),
        # Manager approval path
        Edge(
            "amount_router",
            "manager_approval",
            condition="context.get('amount', 0) >= 1000 and 'manager' not in context.get('approval_chain', [])",
        ),
        # Finance approval path
        Edge(
            "amount_router",
            "finance_approval",
            condition="context.get('amount', 0) >= 5000 and 'manager' in context.get('approval_chain', []) and 'finance' not in context.get('approval_chain', [])",
        ),
        # CFO approval path
        Edge(
            "amount_router",
            "cfo_approval",
            condition="context.get('amount', 0) >= 10000 and 'finance' in context.get('approval_chain', []) and 'cfo' not in context.get('approval_chain', [])",
        ),
        # After any human approval, record and re-route
        Edge("manager_approval", "record_approval", condition="context.get('decision') == 'approve'"),
        Edge("manager_approval", "process_rejected", condition="context.get('decision') == 'reject'"),
        Edge("finance_approval", "record_approval", condition="context.get('decision') == 'approve'"),
        Edge("finance_approval", "process_rejected", condition="context.get('decision') == 'reject'"),
        Edge("cfo_approval", "record_approval", condition="context.get('decision') == 'approve'"),
        Edge("cfo_approval", "process_rejected", condition="context.get('decision') == 'reject'"),
        # After recording, check if more approvals needed
        Edge("record_approval", "amount_router"),
        # Final approval when all required approvals obtained
        Edge(
            "amount_router",
            "process_approved",
            # (changed: the documented condition counts with list comprehensions, which our safe
            # evaluator refuses (README, "Compatibility"); this one says the same without them)
            condition="('manager' in context.get('approval_chain', []) or context.get('amount', 0) < 1000) and ('finance' in context.get('approval_chain', []) or context.get('amount', 0) < 5000) and ('cfo' in context.get('approval_chain', []) or context.get('amount', 0) < 10000)",
        ),
    ],
    initial_step="submit_expense",
    terminal_steps={"process_approved", "process_rejected"},
)


# =============================================================================
# Application Setup
# =============================================================================


def create_app() -> Litestar:
    """Create the Litestar application with expense workflow."""
    # Database setup
    db_engine = create_async_engine(
        "sqlite+aiosqlite:///expenses.db",
        echo=False,
    )
    session_factory = async_sessionmaker(db_engine, expire_on_commit=False)

    # Workflow registry
    registry = WorkflowRegistry()
    registry.register_definition(expense_approval_workflow)

    async def provide_session() -> AsyncSession:
        async with session_factory() as session:
            yield session

    async def provide_engine(session: AsyncSession) -> PersistentExecutionEngine:
        return PersistentExecutionEngine(registry=registry, session=session)

    async def provide_registry() -> WorkflowRegistry:
        return registry

    @get("/health")
    async def health() -> dict[str, str]:
        return {"status": "healthy"}

    return Litestar(
        route_handlers=[health],
        plugins=[
            WorkflowPlugin(
                config=WorkflowPluginConfig(
                    enable_api=True,
                    api_path_prefix="/api/workflows",
                )
            ),
        ],
        dependencies={
            "session": Provide(provide_session),
            "workflow_engine": Provide(provide_engine),
            "workflow_registry": Provide(provide_registry),
        },
    )


app = create_app()


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(app, host="0.0.0.0", port=8000)


# =============================================================================
# The cookbook's "Testing the Workflow" (pytest's own imports kept as documented)
# =============================================================================

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from advanced_alchemy.base import UUIDAuditBase
from litestar.testing import AsyncTestClient

from litestar_workflows.exceptions import WorkflowValidationError
from uuid import uuid4

from litestar_workflows import WorkflowStatus

DOCUMENTED_FINAL_CONDITION = (
    "len([a for a in context.get('approval_chain', []) if a in ['manager', 'finance', 'cfo']]) >= "
    "len([a for a in ['manager', 'finance', 'cfo'][:max(0, (context.get('amount', 0) >= 10000 and 3) "
    "or (context.get('amount', 0) >= 5000 and 2) or (context.get('amount', 0) >= 1000 and 1) or 0)]])"
)


async def create_tables() -> None:
    """(added: the cookbook never creates its tables; done as the Persistence guide shows)."""
    db_engine = create_async_engine("sqlite+aiosqlite:///expenses.db")
    async with db_engine.begin() as conn:
        await conn.run_sync(UUIDAuditBase.metadata.create_all)
    await db_engine.dispose()


@pytest.fixture
async def test_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AsyncTestClient]:
    # (added: the cookbook's ``expenses.db`` lives in a temporary directory, the tables are made
    # first, and the client is entered so the app's lifespan runs)
    monkeypatch.chdir(tmp_path)
    await create_tables()
    async with AsyncTestClient(create_app()) as client:
        yield client


@pytest.mark.xfail(
    strict=True,
    reason="POST /instances answers 201 Created for a new instance (200 means an existing one, see "
    "correlation_id); the cookbook asserts 200",
)
async def test_small_expense_auto_approved(test_client):
    """Expenses under $1,000 should be auto-approved."""
    response = await test_client.post(
        "/api/workflows/instances",
        json={
            "definition_name": "expense_approval",
            "input_data": {
                "amount": 500,
                "requester": "alice@example.com",
                "description": "Office supplies",
            },
        },
    )
    assert response.status_code == 200
    instance = response.json()

    # Should be completed immediately (auto-approved)
    response = await test_client.get(f"/api/workflows/instances/{instance['id']}")
    assert response.json()["status"] == "completed"


async def test_medium_expense_requires_manager(test_client):
    """Expenses $1,000-$4,999 require manager approval."""
    response = await test_client.post(
        "/api/workflows/instances",
        json={
            "definition_name": "expense_approval",
            "input_data": {
                "amount": 2500,
                "requester": "bob@example.com",
                "description": "Conference registration",
            },
        },
    )
    instance = response.json()

    # Should be waiting for manager approval
    response = await test_client.get(f"/api/workflows/instances/{instance['id']}")
    assert response.json()["status"] == "waiting"
    assert response.json()["current_step"] == "manager_approval"


# =============================================================================
# Our own checks on the cookbook's workflow
# =============================================================================


def test_the_documented_comprehension_condition_is_refused_with_a_clear_error() -> None:
    """The cookbook's last edge counts approvals with list comprehensions; we refuse them at
    registration, naming the edge and the construct, instead of running it (README, Compatibility)."""
    definition = WorkflowDefinition(
        name="expense_approval",
        version="1.0.0",
        steps=dict(expense_approval_workflow.steps),
        edges=[
            *expense_approval_workflow.edges[:-1],
            Edge("amount_router", "process_approved", condition=DOCUMENTED_FINAL_CONDITION),
        ],
        initial_step="submit_expense",
        terminal_steps={"process_approved", "process_rejected"},
    )
    with pytest.raises(WorkflowValidationError) as raised:
        WorkflowRegistry().register_definition(definition)
    message = str(raised.value)
    assert "'amount_router' -> 'process_approved'" in message
    assert "comprehensions are not allowed" in message


@pytest.mark.parametrize(
    ("amount", "chain", "expected"),
    [
        (500, [], True),
        (2500, [], False),
        (2500, ["manager"], True),
        (7000, ["manager"], False),
        (7000, ["manager", "finance"], True),
        (20000, ["manager", "finance"], False),
        (20000, ["manager", "finance", "cfo"], True),
    ],
)
def test_the_rewritten_final_condition_agrees_with_the_documented_one(
    amount: int, chain: list[str], expected: bool
) -> None:
    """The replacement says what the documented expression says (evaluated here by plain Python)."""
    edge = expense_approval_workflow.edges[-1]
    data = {"amount": amount, "approval_chain": chain}
    documented = eval(DOCUMENTED_FINAL_CONDITION, {}, {"context": data})  # noqa: S307 - a fixed literal
    assert documented is expected
    context = WorkflowContext(workflow_id="expense_approval", instance_id=uuid4(), data=data)
    assert edge.evaluate_condition(context) is expected


async def test_the_workflow_routes_by_amount_on_the_local_engine() -> None:
    """Small expenses finish auto-approved; larger ones wait for the requester's manager."""
    registry = WorkflowRegistry()
    registry.register_definition(expense_approval_workflow)
    engine = LocalExecutionEngine(registry)

    small = await engine.start_workflow(
        "expense_approval", initial_data={"amount": 500, "requester": "a@x.org"}
    )
    small = await engine.wait(small.id)
    assert small.status == WorkflowStatus.COMPLETED
    # AmountRouter.evaluate sends an amount needing no approval straight to process_approved
    assert (small.context.get("status"), small.context.get("approved")) == ("approved", True)

    large = await engine.start_workflow(
        "expense_approval", initial_data={"amount": 12000, "requester": "c@x.org"}
    )
    large = await engine.wait(large.id)
    assert (large.status, large.current_step) == (WorkflowStatus.WAITING, "manager_approval")
    [task] = await engine.get_pending_tasks()
    assert (task.step_name, task.assignee_id) == ("manager_approval", "manager-of-c@x.org")

    rejected = await engine.complete_human_task(
        large.id,
        "manager_approval",
        user_id="manager-of-c@x.org",
        data={"decision": "reject", "comments": "no"},
    )
    rejected = await engine.wait(large.id)
    assert (rejected.status, rejected.context.get("status")) == (WorkflowStatus.COMPLETED, "rejected")


async def test_a_submission_without_an_amount_fails_with_the_documented_message() -> None:
    """SubmitExpense validates its input; the instance fails with the step's own message."""
    registry = WorkflowRegistry()
    registry.register_definition(expense_approval_workflow)
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("expense_approval", initial_data={"requester": "a@x.org"})
    instance = await engine.wait(instance.id)
    assert instance.status == WorkflowStatus.FAILED
    assert "Amount must be a positive number" in (instance.error or "")
