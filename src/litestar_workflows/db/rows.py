"""Conversions between the core's objects and table rows: the only place that knows both shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar_workflows.core.context import StepExecution, WorkflowContext
from litestar_workflows.core.models import HumanTask, RuntimeState, WorkflowInstanceData
from litestar_workflows.core.types import HumanTaskStatus, StepStatus, StepType, WorkflowStatus

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime


def instance_row(instance: WorkflowInstanceData, now: datetime, definition_id: UUID | None) -> dict[str, Any]:
    """The ``workflow_instances`` row of ``instance`` as it is now."""
    context = instance.context
    return {
        "id": instance.id,
        "definition_id": definition_id,
        "workflow_name": instance.workflow_name,
        "workflow_version": instance.workflow_version,
        "status": instance.status.value,
        "current_step": instance.current_step,
        "context_data": context.data,
        "metadata": context.metadata,
        "error": instance.error,
        "started_at": instance.started_at,
        "completed_at": instance.completed_at,
        "tenant_id": instance.tenant_id,
        "created_by": instance.created_by,
        "version": instance.version,
        "runtime_state": instance.runtime.to_json(),
        "key": instance.key,
        "created_at": instance.started_at,
        "updated_at": now,
    }


def run_row(
    run: StepExecution, instance_id: UUID, now: datetime, lease: tuple[str, datetime] | None
) -> dict[str, Any]:
    """The ``workflow_step_executions`` row of ``run``; ``lease`` is (owner, expiry) when claimed."""
    return {
        "id": run.id,
        "instance_id": instance_id,
        "step_name": run.step_name,
        "step_type": run.step_type.value,
        "status": run.status.value,
        "input_data": run.input_data,
        "output_data": run.output_data,
        "error": run.error,
        "error_type": run.error_type,
        "stack_trace": run.stack_trace,
        "started_at": run.started_at,
        "completed_at": run.completed_at,
        "assigned_to": run.assigned_to,
        "completed_by": run.completed_by,
        "attempt": run.attempt,
        "iteration": run.iteration,
        "result": run.result,
        "context_changes": run.context_changes,
        "scheduled_for": run.scheduled_for,
        "lease_owner": lease[0] if lease else None,
        "lease_expires_at": lease[1] if lease else None,
        "created_at": now,
        "updated_at": now,
    }


def task_row(task: HumanTask, now: datetime) -> dict[str, Any]:
    """The ``workflow_human_tasks`` row of ``task``."""
    return {
        "id": task.id,
        "instance_id": task.instance_id,
        "step_execution_id": task.step_execution_id,
        "step_name": task.step_name,
        "title": task.title,
        "description": task.description,
        "form_schema": task.form_schema,
        "assignee_id": task.assignee_id,
        "assignee_group": task.assignee_group,
        "due_at": task.due_at,
        "reminder_at": task.reminder_at,
        "status": task.status.value,
        "completed_at": task.completed_at,
        "completed_by": task.completed_by,
        "created_at": task.created_at,
        "updated_at": now,
    }


def run_from_row(row: Mapping[Any, Any]) -> StepExecution:
    """Rebuild a step execution from its row."""
    return StepExecution(
        step_name=row["step_name"],
        status=StepStatus(row["status"]),
        result=row["result"],
        error=row["error"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        input_data=row["input_data"],
        output_data=row["output_data"],
        id=row["id"],
        step_type=StepType(row["step_type"]),
        attempt=row["attempt"],
        iteration=row["iteration"],
        scheduled_for=row["scheduled_for"],
        assigned_to=row["assigned_to"],
        completed_by=row["completed_by"],
        context_changes=row["context_changes"],
        error_type=row.get("error_type"),
        stack_trace=row.get("stack_trace"),
    )


def task_from_row(row: Mapping[Any, Any], data: dict[str, Any] | None = None) -> HumanTask:
    """Rebuild a human task from its row (plus the instance's name and tenant when joined)."""
    return HumanTask(
        id=row["id"],
        instance_id=row["instance_id"],
        step_execution_id=row["step_execution_id"],
        step_name=row["step_name"],
        title=row["title"],
        description=row["description"],
        form_schema=row["form_schema"],
        assignee_id=row["assignee_id"],
        assignee_group=row["assignee_group"],
        due_at=row["due_at"],
        reminder_at=row["reminder_at"],
        status=HumanTaskStatus(row["status"]),
        created_at=row["created_at"],
        completed_at=row["completed_at"],
        completed_by=row["completed_by"],
        data=data,
        workflow_name=row.get("workflow_name") or "",
        tenant_id=row.get("tenant_id"),
    )


def instance_from_rows(
    row: Mapping[Any, Any], runs: Iterable[Mapping[Any, Any]] = (), tasks: Iterable[Mapping[Any, Any]] = ()
) -> WorkflowInstanceData:
    """Rebuild an instance with its history, active executions, pending tasks and join state.

    Without ``runs`` (listings) the instance has its status and data but no history.
    """
    history = [run_from_row(r) for r in runs]
    state = row["runtime_state"] or {}
    runtime = RuntimeState(
        arrivals={k: dict(v) for k, v in (state.get("arrivals") or {}).items()},
        activations=dict(state.get("activations") or {}),
        failed_step=state.get("failed_step"),
        interrupted=tuple(state.get("interrupted") or ()),
        held=tuple(UUID(h) for h in state.get("held") or ()),
        paused_from=WorkflowStatus(state["paused_from"]) if state.get("paused_from") else None,
        deferred={(edge[0], edge[1]): None for edge in state.get("deferred") or []},
    )
    active = (StepStatus.SCHEDULED, StepStatus.RUNNING, StepStatus.WAITING)
    outputs = {}
    for run in history:
        if run.status in active:
            runtime.active[run.id.int] = run  # type: ignore[union-attr]
        outputs[run.id] = run.output_data
    for task_data in tasks:
        task = task_from_row(
            {**task_data, "workflow_name": row["workflow_name"], "tenant_id": row["tenant_id"]}
        )
        if task.status is HumanTaskStatus.PENDING:
            runtime.pending_tasks[task.id.int] = task
    context = WorkflowContext(
        workflow_id=row["workflow_name"],
        instance_id=row["id"],
        data=row["context_data"] or {},
        metadata=row["metadata"] or {},
        current_step=row["current_step"],
        step_history=history,
        started_at=row["started_at"],
        user_id=row["created_by"],
        tenant_id=row["tenant_id"],
    )
    return WorkflowInstanceData(
        id=row["id"],
        workflow_name=row["workflow_name"],
        workflow_version=row["workflow_version"],
        status=WorkflowStatus(row["status"]),
        context=context,
        current_step=row["current_step"],
        error=row["error"],
        started_at=row["started_at"],
        completed_at=row["completed_at"],
        tenant_id=row["tenant_id"],
        created_by=row["created_by"],
        version=row["version"],
        runtime=runtime,
        key=row.get("key"),
    )


__all__ = (
    "instance_from_rows",
    "instance_row",
    "run_from_row",
    "run_row",
    "task_from_row",
    "task_row",
)
