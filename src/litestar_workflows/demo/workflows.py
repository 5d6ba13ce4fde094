"""The demo's workflows: an expense approval, a leave request and a document review loop.

Together they show what the engine does: parallel branches that join, a condition that adds a
finance step above 1000, human tasks for a person or a group, a durable reminder timer, and a
review loop. The steps only record what they would do, so the demo needs no mail server.

Who approves comes from the demo's directory of people (:mod:`litestar_workflows.demo.auth`)
and the instance's creator, never from the input: a claim naming its own approver would let
anyone approve their own expenses. Routing keys in the input are overwritten.

Each workflow declares the data it starts with (``input_schema``): a claim of ``"lots"`` or of
``-5`` is refused when it is started, naming the field, and the UI's start form is built from it.
The leave request alone checks the sign of ``days`` in its first step rather than in its schema,
so that the demo keeps one way to produce a failed instance (and show retry).
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    DelayStep,
    Edge,
    NonRetryableError,
    WorkflowContext,
    WorkflowDefinition,
)
from litestar_workflows.demo.auth import approver_for, colleague_in

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("DEMO_WORKFLOWS", "document_review", "expense_approval", "leave_request")

REMINDER_SECONDS: Final = float(os.environ.get("WORKFLOWS_DEMO_REMINDER_SECONDS", "10"))
"""How long an approved expense waits before reminding the employee about receipts.

A claim may shorten it with ``reminder_seconds`` in its input (0 to 3600), as the tests do.
"""

APPROVAL_FORM: Final = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean", "description": "Yes approves the request, No rejects it"},
        "comment": {"type": "string", "maxLength": 2000},
    },
    "required": ["approved"],
    "additionalProperties": False,
}


EXPENSE_INPUT: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "amount": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1_000_000,
            "title": "Amount",
            "description": "In euros; claims above 1000 also need finance's sign-off",
        },
        "category": {
            "type": "string",
            "enum": ["travel", "equipment", "training", "meals", "other"],
            "title": "Category",
            "description": "Meals are not reimbursable under the policy",
        },
        "description": {"type": "string", "maxLength": 2000, "title": "What it was for"},
        "receipts_attached": {"type": "boolean", "title": "Receipts attached"},
        "reminder_seconds": {
            "type": "number",
            "minimum": 0,
            "maximum": 3600,
            "title": "Receipt reminder after (seconds)",
        },
    },
    "required": ["amount"],
}
"""What a claim starts with; routing keys (``manager``...) may be sent but are overwritten."""

LEAVE_INPUT: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "days": {
            "type": "number",
            "maximum": 365,
            "title": "Days",
            "description": "More than ten days also need HR's confirmation",
        },
        "reason": {"type": "string", "maxLength": 2000, "title": "Reason"},
    },
    "required": ["days"],
}
"""What a leave request starts with (a non-positive ``days`` fails in ``request_leave``, on purpose)."""

REVIEW_INPUT: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 200, "title": "Document title"},
        "summary": {"type": "string", "maxLength": 2000, "title": "Summary"},
    },
}
"""What a document review starts with; its author is whoever starts it."""


def _positive_number(context: WorkflowContext, key: str) -> float:
    value = context.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise NonRetryableError(
            f"{key!r} must be a positive number, got {value!r}", step_name=context.current_step
        )
    return float(value)


def _by(context: WorkflowContext) -> str:
    return f" by {context.user_id}" if context.user_id else ""


def _expense_summary(context: WorkflowContext) -> str:
    amount = context.get("amount")
    shown = f"{amount:,.2f}" if isinstance(amount, int | float) else "?"
    return f"{shown} for {context.get('category') or 'something'}{_by(context)}"


def _leave_summary(context: WorkflowContext) -> str:
    days = context.get("days")
    return f"{days} day{'' if days == 1 else 's'}{_by(context)}"


def _document_summary(context: WorkflowContext) -> str:
    title = str(context.get("title") or "untitled")
    return f"{title[:60]}{'…' if len(title) > 60 else ''}{_by(context)}"


def _route(context: WorkflowContext, key: str, find: Callable[[str | None], str | None]) -> None:
    """Set the approver at ``key`` from the directory for the instance's creator (the requester)."""
    try:
        context.set(key, find(context.user_id))
    except LookupError as error:
        raise NonRetryableError(str(error), step_name=context.current_step) from error


# ------------------------------------------------------------------ expense approval


class SubmitExpense(BaseMachineStep):
    """Check the claim and route it to the claimant's manager (and finance's own to a colleague)."""

    name = "submit"

    async def execute(self, context: WorkflowContext) -> None:
        _positive_number(context, "amount")
        _route(context, "manager", approver_for)
        _route(context, "finance_approver", partial(colleague_in, "finance"))
        context.set("category", context.get("category") or "other")


class CheckBudget(BaseMachineStep):
    """Runs beside the policy check: is the department's budget enough?"""

    name = "check_budget"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("within_budget", context.get("amount", 0) <= 5000)


class CheckPolicy(BaseMachineStep):
    """Runs beside the budget check: is the category reimbursable?"""

    name = "check_policy"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("policy_ok", context.get("category") in {"travel", "equipment", "training", "other"})


class ManagerApproval(BaseHumanStep):
    """The employee's manager approves or rejects (the task waits for both checks)."""

    name = "manager_approval"
    title = "Approve expense claim"
    description = "Approve or reject the expense; claims above 1000 then go to finance."
    form_schema = APPROVAL_FORM
    assignee_key = "manager"
    due_in = timedelta(days=3)
    reminder_in = timedelta(days=1)

    async def get_title(self, context: WorkflowContext) -> str:
        """The inbox tells claims apart by who asked and for how much."""
        return f"{self.title}: {_expense_summary(context)}"


class FinanceApproval(BaseHumanStep):
    """Anyone in the finance group signs off large claims (a colleague when finance claims)."""

    name = "finance_approval"
    title = "Finance sign-off for a large expense"
    form_schema = APPROVAL_FORM
    assignee_key = "finance_approver"
    assignee_group = "finance"
    due_in = timedelta(days=5)

    async def get_title(self, context: WorkflowContext) -> str:
        return f"{self.title}: {_expense_summary(context)}"


class RecordDecision(BaseMachineStep):
    """Record the final decision, whichever approvals the claim went through."""

    name = "record_decision"

    async def execute(self, context: WorkflowContext) -> str:
        decision = "approved" if context.get("approved") else "rejected"
        context.set("decision", decision)
        return decision


class Notify(BaseMachineStep):
    """Tell someone about the decision (recorded in the context instead of sent)."""

    async def execute(self, context: WorkflowContext) -> str:
        who = self.name.removeprefix("notify_")
        message = f"expense of {context.get('amount')} {context.get('decision')}"
        context.set(f"{who}_notified", message)
        return message


def _reminder_delay(context: WorkflowContext) -> float:
    value = context.get("reminder_seconds", REMINDER_SECONDS)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return REMINDER_SECONDS
    return min(max(float(value), 0.0), 3600.0)


def _needs_receipts(context: WorkflowContext) -> bool:
    return context.get("decision") == "approved" and not context.get("receipts_attached")


class ReceiptReminder(DelayStep):
    """Wait (durably: it survives restarts) before reminding the employee to hand in receipts."""

    name = "receipt_reminder"

    async def can_execute(self, context: WorkflowContext) -> bool:
        return _needs_receipts(context)


class SendReceiptReminder(BaseMachineStep):
    """Remind the employee, unless the claim was rejected or came with receipts."""

    name = "send_receipt_reminder"

    async def can_execute(self, context: WorkflowContext) -> bool:
        return _needs_receipts(context)

    async def execute(self, context: WorkflowContext) -> None:
        context.set("receipt_reminder_sent", True)


class CloseExpense(BaseMachineStep):
    """Close the claim once both notification branches are done (the join)."""

    name = "close"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("closed", True)


_FINANCE_NEEDED = "context.get('approved') and context.get('amount') > 1000"

expense_approval = WorkflowDefinition(
    name="expense_approval",
    version="1.0.0",
    description="Expense claim: parallel checks, manager, finance above 1000, notifications, a reminder",
    steps={
        "submit": SubmitExpense(),
        "check_budget": CheckBudget(),
        "check_policy": CheckPolicy(),
        "manager_approval": ManagerApproval(),
        "finance_approval": FinanceApproval(),
        "record_decision": RecordDecision(),
        "notify_employee": Notify("notify_employee"),
        "notify_accounting": Notify("notify_accounting"),
        "receipt_reminder": ReceiptReminder(duration=_reminder_delay),
        "send_receipt_reminder": SendReceiptReminder(),
        "close": CloseExpense(),
    },
    edges=[
        Edge("submit", "check_budget"),
        Edge("submit", "check_policy"),
        Edge("check_budget", "manager_approval"),
        Edge("check_policy", "manager_approval"),
        Edge("manager_approval", "finance_approval", condition=_FINANCE_NEEDED),
        Edge("manager_approval", "record_decision", condition=f"not ({_FINANCE_NEEDED})"),
        Edge("finance_approval", "record_decision"),
        Edge("record_decision", "notify_employee"),
        Edge("record_decision", "notify_accounting"),
        Edge("notify_employee", "receipt_reminder"),
        Edge("receipt_reminder", "send_receipt_reminder"),
        Edge("send_receipt_reminder", "close"),
        Edge("notify_accounting", "close"),
    ],
    initial_step="submit",
    terminal_steps={"close"},
    input_schema=EXPENSE_INPUT,
)


# ------------------------------------------------------------------ leave request


class RequestLeave(BaseMachineStep):
    """Check the request and route it to the requester's manager (and HR, a colleague for HR's own)."""

    name = "request_leave"

    async def execute(self, context: WorkflowContext) -> None:
        _positive_number(context, "days")
        _route(context, "manager", approver_for)
        _route(context, "hr_approver", partial(colleague_in, "hr"))


class ManagerReview(BaseHumanStep):
    """The manager approves or rejects the leave."""

    name = "manager_review"
    title = "Approve leave request"
    form_schema = APPROVAL_FORM
    assignee_key = "manager"

    async def get_title(self, context: WorkflowContext) -> str:
        """The inbox tells requests apart by who asked and for how long."""
        return f"{self.title}: {_leave_summary(context)}"


class HrReview(BaseHumanStep):
    """HR confirms long leaves (more than ten days)."""

    name = "hr_review"
    title = "Confirm a long leave"
    form_schema = APPROVAL_FORM
    assignee_key = "hr_approver"
    assignee_group = "hr"

    async def get_title(self, context: WorkflowContext) -> str:
        return f"{self.title}: {_leave_summary(context)}"


class BookLeave(BaseMachineStep):
    """Book the approved leave in the calendar."""

    name = "book_leave"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("booked", True)


class RejectLeave(BaseMachineStep):
    """Tell the employee the leave was rejected."""

    name = "reject_leave"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("booked", False)


leave_request = WorkflowDefinition(
    name="leave_request",
    version="1.0.0",
    description="Leave request: the manager approves; HR confirms leaves of more than ten days",
    steps={
        "request_leave": RequestLeave(),
        "manager_review": ManagerReview(),
        "hr_review": HrReview(),
        "book_leave": BookLeave(),
        "reject_leave": RejectLeave(),
    },
    edges=[
        Edge("request_leave", "manager_review"),
        Edge("manager_review", "hr_review", condition="context.get('approved') and context.get('days') > 10"),
        Edge(
            "manager_review", "book_leave", condition="context.get('approved') and context.get('days') <= 10"
        ),
        Edge("manager_review", "reject_leave", condition="not context.get('approved')"),
        Edge("hr_review", "book_leave", condition="context.get('approved')"),
        Edge("hr_review", "reject_leave", condition="not context.get('approved')"),
    ],
    initial_step="request_leave",
    terminal_steps={"book_leave", "reject_leave"},
    input_schema=LEAVE_INPUT,
)


# ------------------------------------------------------------------ document review (a loop)

REVIEW_FORM: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "decision": {"enum": ["approve", "revise"]},
        "notes": {"type": "string", "maxLength": 2000},
    },
    "required": ["decision"],
    "additionalProperties": False,
}


class Draft(BaseMachineStep):
    """Register the draft: its author is whoever started the review, and revises it when asked."""

    name = "draft"

    async def execute(self, context: WorkflowContext) -> None:
        if context.user_id is None:
            raise NonRetryableError(
                "a document needs an author: start the review as a user", step_name=context.current_step
            )
        context.set("author", context.user_id)
        _route(context, "reviewer", partial(colleague_in, "reviewers"))


class Review(BaseHumanStep):
    """Any reviewer (a colleague when a reviewer wrote it) approves the document or asks for a revision."""

    name = "review"
    title = "Review the document"
    form_schema = REVIEW_FORM
    assignee_key = "reviewer"
    assignee_group = "reviewers"

    async def get_title(self, context: WorkflowContext) -> str:
        """The inbox tells documents apart by their title and author."""
        return f"{self.title}: {_document_summary(context)}"


class Revise(BaseHumanStep):
    """The author revises the document, which goes back to review."""

    name = "revise"
    title = "Revise the document"
    # No other field: task data is merged into the context, where "reviewer" routes the next review.
    form_schema = {
        "type": "object",
        "properties": {"summary": {"type": "string", "maxLength": 2000}},
        "additionalProperties": False,
    }
    assignee_key = "author"

    async def get_title(self, context: WorkflowContext) -> str:
        return f"{self.title}: {_document_summary(context)}"


class Publish(BaseMachineStep):
    """Publish the approved document."""

    name = "publish"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("published", True)


document_review = WorkflowDefinition(
    name="document_review",
    version="1.0.0",
    description="Document review: reviewers approve or send the draft back to its author, as often as needed",
    steps={"draft": Draft(), "review": Review(), "revise": Revise(), "publish": Publish()},
    edges=[
        Edge("draft", "review"),
        Edge("review", "revise", condition="context.get('decision') == 'revise'"),
        Edge("revise", "review"),
        Edge("review", "publish", condition="context.get('decision') == 'approve'"),
    ],
    initial_step="draft",
    terminal_steps={"publish"},
    input_schema=REVIEW_INPUT,
)

DEMO_WORKFLOWS: Final = (expense_approval, leave_request, document_review)
"""Every workflow the demo registers."""
