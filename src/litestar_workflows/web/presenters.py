"""Turn engine objects (definitions, instances, tasks) into the API's bodies.

One place decides what a client sees, so the REST API and the CLI's ``--json`` output agree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar_workflows.core.types import StepStatus
from litestar_workflows.web.graph import generate_mermaid_graph_with_state, parse_graph_to_dict
from litestar_workflows.web.schemas import (
    DefinitionDetail,
    DefinitionSummary,
    EdgeInfo,
    GraphEdge,
    GraphNode,
    GraphOut,
    InstanceDetail,
    InstanceSummary,
    StepExecutionOut,
    StepInfo,
    TaskOut,
)

if TYPE_CHECKING:
    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData

__all__ = (
    "definition_detail",
    "definition_graph",
    "definition_summary",
    "instance_detail",
    "instance_graph",
    "instance_summary",
    "step_states",
    "task_out",
)

CORRELATION_KEY = "correlation_id"
"""Where a start request's ``correlation_id`` is kept in the instance's metadata."""

# What the latest execution of a step says about the step, for the live graph.
_STATE_OF: dict[StepStatus, str] = {
    StepStatus.SUCCEEDED: "completed",
    StepStatus.FAILED: "failed",
    StepStatus.SKIPPED: "skipped",
    StepStatus.WAITING: "waiting",
    StepStatus.PENDING: "current",
    StepStatus.SCHEDULED: "current",
    StepStatus.RUNNING: "current",
}


def _outline(definition: WorkflowDefinition, versions: list[str]) -> dict[str, Any]:
    """The fields a definition is listed with: the documented ones, plus its versions."""
    return {
        "name": definition.name,
        "version": definition.version,
        "description": definition.description,
        "steps": list(definition.steps),
        "edges": [
            EdgeInfo(source=e.get_source_name(), target=e.get_target_name(), condition=e.condition_label())
            for e in definition.edges
        ],
        "initial_step": definition.initial_step,
        "terminal_steps": sorted(definition.terminal_steps),
        "versions": versions,
        "input_schema": definition.input_schema,
    }


def definition_summary(definition: WorkflowDefinition, versions: list[str]) -> DefinitionSummary:
    """A definition as listed: step names, edges, initial and terminal steps, versions."""
    return DefinitionSummary(**_outline(definition, versions))


def definition_detail(definition: WorkflowDefinition, versions: list[str]) -> DefinitionDetail:
    """A definition as listed, plus each step's details (human steps with their form)."""
    steps = [
        StepInfo(
            name=name,
            type=step.step_type,
            description=_text(getattr(step, "description", "")) or "",
            title=_text(getattr(step, "title", None)),
            form_schema=_mapping(getattr(step, "form_schema", None)),
            assignee_group=_text(getattr(step, "assignee_group", None)),
        )
        for name, step in definition.steps.items()
    ]
    return DefinitionDetail(**_outline(definition, versions), step_details=steps)


def definition_graph(definition: WorkflowDefinition, *, with_mermaid: bool = True) -> GraphOut:
    """The definition's graph, plain; without Mermaid text for ``graph_format=json``."""
    return _graph(definition, definition.to_mermaid() if with_mermaid else "", {})


def step_states(instance: WorkflowInstanceData) -> dict[str, str]:
    """Each executed step's state, from its latest execution (a loop's last iteration wins)."""
    states: dict[str, str] = {}
    for execution in instance.step_history:
        state = _STATE_OF.get(execution.status)
        if state is None:  # canceled: the step is back to not having run
            states.pop(execution.step_name, None)
        else:
            states[execution.step_name] = state
    return states


def instance_graph(definition: WorkflowDefinition, instance: WorkflowInstanceData) -> GraphOut:
    """The definition's graph with the instance's progress (completed, failed, skipped, waiting, current)."""
    states = step_states(instance)

    def having(state: str) -> list[str]:
        return [name for name, value in states.items() if value == state]

    running = having("current")
    current = instance.current_step if instance.current_step in running else next(iter(running), None)
    mermaid = generate_mermaid_graph_with_state(
        definition,
        current_step=current,
        completed_steps=having("completed"),
        failed_steps=having("failed"),
        skipped_steps=having("skipped"),
        waiting_steps=having("waiting"),
    )
    return _graph(definition, mermaid, states)


def _graph(definition: WorkflowDefinition, mermaid: str, states: dict[str, str]) -> GraphOut:
    graph = parse_graph_to_dict(definition)
    return GraphOut(
        name=definition.name,
        version=definition.version,
        mermaid_source=mermaid,
        mermaid=mermaid,
        nodes=[_node(node) for node in graph["nodes"]],
        edges=[
            # The API keeps naming a callable condition by its function (parse_graph_to_dict marks it).
            GraphEdge(
                source=edge["source"],
                target=edge["target"],
                condition=edge.get("condition_name", edge.get("condition")),
            )
            for edge in graph["edges"]
        ],
        states=states,
    )


def _node(node: dict[str, Any]) -> GraphNode:
    # Both spellings of the markers are answered; read whichever the graph helper produced.
    initial = bool(node.get("is_initial", node.get("initial", False)))
    terminal = bool(node.get("is_terminal", node.get("terminal", False)))
    return GraphNode(
        id=node["id"],
        label=str(node.get("label", node["id"])),
        type=str(node.get("type", "")),
        description=str(node.get("description") or ""),
        is_initial=initial,
        is_terminal=terminal,
        initial=initial,
        terminal=terminal,
    )


def _summary_fields(instance: WorkflowInstanceData) -> dict[str, Any]:
    correlation = instance.context.metadata.get(CORRELATION_KEY)
    if correlation is None:  # started by code with a key: the key is its correlation id
        correlation = instance.key
    return {
        "id": instance.id,
        "definition_name": instance.workflow_name,
        "workflow_name": instance.workflow_name,
        "workflow_version": instance.workflow_version,
        "status": instance.status,
        "current_step": instance.current_step,
        "error": instance.error,
        "started_at": instance.started_at,
        "completed_at": instance.completed_at,
        "created_by": instance.created_by,
        "correlation_id": None if correlation is None else str(correlation),
    }


def instance_summary(instance: WorkflowInstanceData) -> InstanceSummary:
    """An instance as listed: status and position, without data or history."""
    return InstanceSummary(**_summary_fields(instance))


def instance_detail(instance: WorkflowInstanceData) -> InstanceDetail:
    """An instance with a copy of its data and its step history (oldest first)."""
    data = dict(instance.data)
    return InstanceDetail(
        **_summary_fields(instance),
        context_data=data,
        data=data,
        metadata=dict(instance.context.metadata),
        step_history=[_execution(e) for e in instance.step_history],
    )


def _execution(execution: StepExecution) -> StepExecutionOut:
    return StepExecutionOut(
        id=execution.id,
        step_name=execution.step_name,
        step_type=execution.step_type,
        status=execution.status,
        attempt=execution.attempt,
        started_at=execution.started_at,
        completed_at=execution.completed_at,
        error=execution.error,
        error_type=execution.error_type,
        stack_trace=execution.stack_trace,
        result=execution.result,
        output_data=execution.output_data,
        assigned_to=execution.assigned_to,
        completed_by=execution.completed_by,
    )


def task_out(task: HumanTask) -> TaskOut:
    """A human task as the API shows it."""
    return TaskOut(
        id=task.id,
        instance_id=task.instance_id,
        workflow_name=task.workflow_name,
        step_name=task.step_name,
        title=task.title,
        description=task.description,
        form_schema=task.form_schema,
        assignee=task.assignee_id,
        assignee_id=task.assignee_id,
        assignee_group=task.assignee_group,
        status=task.status,
        created_at=task.created_at,
        due_date=task.due_at,
        due_at=task.due_at,
        reminder_at=task.reminder_at,
        completed_at=task.completed_at,
        completed_by=task.completed_by,
        data=task.data,
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _mapping(value: object) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) else None
