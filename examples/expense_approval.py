"""The demo's expense approval, driven in memory from plain Python, printing every event.

Run: ``python examples/expense_approval.py`` (no web server, no database).

It shows the library without the Litestar layer: a registry, a ``LocalExecutionEngine`` with an
event bus, and two claims, one small (manager only) and one large (manager, then finance).
"""

from __future__ import annotations

import asyncio

from litestar_workflows import EventBus, LocalExecutionEngine, WorkflowEvent, WorkflowRegistry, WorkflowStatus
from litestar_workflows.demo.workflows import expense_approval

FINISHED = {WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED}


class Printer(EventBus):
    async def emit(self, event: WorkflowEvent) -> None:
        print(f"  {event.type:<20} {getattr(event, 'step_name', '')}")


async def main() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(expense_approval)
    engine = LocalExecutionEngine(registry, event_bus=Printer())
    print(expense_approval.to_mermaid(), "\n")

    for amount in (250, 4200):
        print(f"== claim of {amount} ==")
        claim = {"amount": amount, "category": "travel", "description": "conference", "reminder_seconds": 0}
        instance = await engine.start_workflow("expense_approval", claim, created_by="erik")
        await engine.wait(instance.id)
        print(f"-> {instance.status} at {instance.current_step}; maria approves")
        await engine.complete_human_task(instance.id, "manager_approval", "maria", {"approved": True})
        await engine.wait(instance.id)
        if instance.current_step == "finance_approval":
            print(f"-> {instance.status} at {instance.current_step}; fiona (finance) approves")
            await engine.complete_human_task(instance.id, "finance_approval", "fiona", {"approved": True})
        await engine.wait(instance.id, until=FINISHED)  # past the receipt-reminder timer too
        print(f"-> {instance.status}; data: {instance.data}\n")


if __name__ == "__main__":
    asyncio.run(main())
