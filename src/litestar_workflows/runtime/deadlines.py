"""Deadlines of human tasks: the reminder and the due time, each fired once, durably.

A pending task's deadlines ride on its waiting step execution as a timer: the execution's
``scheduled_for`` holds the earliest deadline not fired yet (``None`` once all have fired), so
the machinery that makes timer steps durable makes these durable too. The engine arms it in
this process; a database store leases the row to this process only until it is due, so that
after a crash or a restart any engine's sweep finds it and fires it. Firing is a transition of
the instance like any other, committed with its version check: when two engines fire the same
deadline, one commit wins and the other, reapplied on the stored copy, finds nothing due.

So a deadline fires once: a restart after the reminder fired finds ``scheduled_for`` already
moved on to the due time; a restart before it fires it when due; completing or canceling the
task ends the execution's wait, and with it the timer.

Overdue means what the task inbox means by it: pending, and ``due_at`` has passed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar_workflows.core.escalation import escalation_target
from litestar_workflows.core.events import HumanTaskOverdue, HumanTaskReassigned, HumanTaskReminder
from litestar_workflows.runtime.transition import Transition

if TYPE_CHECKING:
    from datetime import datetime

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.runtime.interpreter import Interpreter

REMINDER = "reminder"
OVERDUE = "overdue"


def deadlines_of(task: HumanTask) -> list[tuple[datetime, str]]:
    """The task's deadlines in the order they fire (a reminder before a due time at the same moment)."""
    found = [
        (at, kind) for at, kind in ((task.reminder_at, REMINDER), (task.due_at, OVERDUE)) if at is not None
    ]
    return sorted(found, key=lambda pair: (pair[0], pair[1] != REMINDER))


def next_deadline(task: HumanTask, after: datetime | None = None) -> datetime | None:
    """The earliest deadline of ``task`` later than ``after`` (any, without it), or ``None``."""
    return next((at for at, _ in deadlines_of(task) if after is None or at > after), None)


def task_of(instance: WorkflowInstanceData, run: StepExecution) -> HumanTask | None:
    """The pending task that ``run`` waits for, if any."""
    for task in instance.runtime.pending_tasks.values():
        if task.step_execution_id == run.id:
            return task
    return None


def fire_due(
    interpreter: Interpreter, instance: WorkflowInstanceData, run: StepExecution
) -> Transition | None:
    """Fire the deadlines of the task ``run`` waits for that came due; ``None`` when none did.

    Each deadline from the execution's ``scheduled_for`` up to now fires once: a reminder emits
    ``HumanTaskReminder``; the due time emits ``HumanTaskOverdue`` and, when the step has
    ``escalate_to``, reassigns the task. The timer then moves on to the next deadline.
    """
    task = task_of(instance, run)
    armed = run.scheduled_for
    now = interpreter.clock()
    if task is None or armed is None or armed > now:
        return None  # completed, canceled, or already fired (a copy that lost the race)
    due = [(at, kind) for at, kind in deadlines_of(task) if armed <= at <= now]
    if not due:
        return None
    tr = Transition(instance)
    assignee, group = task.assignee_id, task.assignee_group
    for _, kind in due:
        if kind == REMINDER:
            _remind(interpreter, instance, run, task, tr)
        else:
            _overdue(interpreter, instance, run, task, tr)
    run.scheduled_for = next_deadline(task, now)
    if run.scheduled_for is not None:
        tr.add_timer(run)
    tr.writes.append(run)
    if task.assignee_id != assignee or task.assignee_group != group:
        tr.add_task(task)  # escalated: the task row changes too
    instance.version += 1
    return tr


def _remind(
    interpreter: Interpreter,
    instance: WorkflowInstanceData,
    run: StepExecution,
    task: HumanTask,
    tr: Transition,
) -> None:
    if interpreter.record_events:
        tr.add_event(
            interpreter.step_event(
                HumanTaskReminder,
                instance,
                run,
                task_id=task.id,
                assignee_id=task.assignee_id,
                assignee_group=task.assignee_group,
                title=task.title,
                reminder_at=task.reminder_at,
                due_at=task.due_at,
            )
        )


def _overdue(
    interpreter: Interpreter,
    instance: WorkflowInstanceData,
    run: StepExecution,
    task: HumanTask,
    tr: Transition,
) -> None:
    escalate_to: str | None = getattr(interpreter.definition.steps.get(run.step_name), "escalate_to", None)
    events = interpreter.record_events
    if events:
        tr.add_event(
            interpreter.step_event(
                HumanTaskOverdue,
                instance,
                run,
                task_id=task.id,
                assignee_id=task.assignee_id,
                assignee_group=task.assignee_group,
                title=task.title,
                due_at=task.due_at,
                escalated_to=escalate_to,
            )
        )
    if escalate_to is None:
        return
    previous = task.assignee_id
    since = task.due_at.isoformat() if task.due_at is not None else "its due time"
    target = escalation_target(escalate_to)
    task.assignee_id = run.assigned_to = target.assignee_id
    if target.assignee_group is not None:
        task.assignee_group = target.assignee_group
    if events:
        tr.add_event(
            interpreter.step_event(
                HumanTaskReassigned,
                instance,
                run,
                task_id=task.id,
                previous_assignee=previous,
                new_assignee=task.assignee_id,
                reason=f"overdue since {since}: escalated to {escalate_to}",
            )
        )


__all__ = ("OVERDUE", "REMINDER", "deadlines_of", "fire_due", "next_deadline", "task_of")
