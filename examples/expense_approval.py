"""An expense approval, end to end, in memory: parallel checks, a manager, a condition, a join.

Run: ``python examples/expense_approval.py``

    submit -> (check_budget || check_policy) -> manager_approval
           -> finance_approval (only when amount > 1000) -> notify_employee || notify_accounting -> close
"""

from __future__ import annotations

import asyncio

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    EventBus,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowEvent,
    WorkflowRegistry,
)

APPROVAL_FORM = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
    "required": ["approved"],
}


class Submit(BaseMachineStep):
    name = "submit"
    description = "Record the claim"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("submitted", True)


class CheckBudget(BaseMachineStep):
    name = "check_budget"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("within_budget", context.get("amount", 0) <= 5000)


class CheckPolicy(BaseMachineStep):
    name = "check_policy"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("policy_ok", context.get("category") in {"travel", "equipment", "training"})


class ManagerApproval(BaseHumanStep):
    name = "manager_approval"
    title = "Approve expense"
    form_schema = APPROVAL_FORM
    assignee_key = "manager"


class FinanceApproval(BaseHumanStep):
    name = "finance_approval"
    title = "Finance sign-off for large expenses"
    form_schema = APPROVAL_FORM
    assignee_group = "finance"


class Notify(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> str:
        return f"told {self.name.removeprefix('notify_')} about {context.get('amount')}"


class Close(BaseMachineStep):
    name = "close"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("closed", True)


expense_approval = WorkflowDefinition(
    name="expense_approval",
    version="1.0.0",
    description="Expense claim with parallel checks, manager and (above 1000) finance approval",
    steps={
        "submit": Submit(),
        "check_budget": CheckBudget(),
        "check_policy": CheckPolicy(),
        "manager_approval": ManagerApproval(),
        "finance_approval": FinanceApproval(),
        "notify_employee": Notify("notify_employee"),
        "notify_accounting": Notify("notify_accounting"),
        "close": Close(),
    },
    edges=[
        Edge("submit", "check_budget"),
        Edge("submit", "check_policy"),
        Edge("check_budget", "manager_approval"),
        Edge("check_policy", "manager_approval"),
        Edge("manager_approval", "finance_approval", condition="context.get('amount') > 1000"),
        Edge("manager_approval", "notify_employee", condition="context.get('amount') <= 1000"),
        Edge("manager_approval", "notify_accounting", condition="context.get('amount') <= 1000"),
        Edge("finance_approval", "notify_employee"),
        Edge("finance_approval", "notify_accounting"),
        Edge("notify_employee", "close"),
        Edge("notify_accounting", "close"),
    ],
    initial_step="submit",
    terminal_steps={"close"},
)


class Printer(EventBus):
    async def emit(self, event: WorkflowEvent) -> None:
        step = getattr(event, "step_name", "")
        print(f"  {event.type:<20} {step}")


async def main() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(expense_approval)
    engine = LocalExecutionEngine(registry, event_bus=Printer())
    print(expense_approval.to_mermaid(), "\n")

    for amount in (250, 4200):
        print(f"== claim of {amount} ==")
        claim = {"amount": amount, "category": "travel", "manager": "maria"}
        instance = await engine.start_workflow("expense_approval", claim, created_by="erik")
        await engine.wait(instance.id)
        print(f"-> {instance.status} at {instance.current_step}; maria approves")
        await engine.complete_human_task(instance.id, "manager_approval", "maria", {"approved": True})
        await engine.wait(instance.id)
        if instance.current_step == "finance_approval":
            print(f"-> {instance.status} at {instance.current_step}; fiona (finance) approves")
            await engine.complete_human_task(instance.id, "finance_approval", "fiona", {"approved": True})
            await engine.wait(instance.id)
        print(f"-> {instance.status}; data: {instance.data}\n")


if __name__ == "__main__":
    asyncio.run(main())
