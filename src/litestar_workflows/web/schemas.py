"""Request and response bodies of the REST API (msgspec Structs; the CLI's ``--json`` uses them too).

No ``from __future__ import annotations`` here: Litestar and msgspec read these annotations at
runtime to validate bodies and build the OpenAPI schema.
"""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

from litestar_workflows.core.types import HumanTaskStatus, StepStatus, StepType, WorkflowStatus

__all__ = (
    "CancelRequest",
    "CompleteTaskRequest",
    "DefinitionDetail",
    "DefinitionSummary",
    "EdgeInfo",
    "ErrorBody",
    "FieldError",
    "GraphEdge",
    "GraphNode",
    "GraphOut",
    "InstanceDetail",
    "InstancePage",
    "InstanceSummary",
    "ReassignTaskRequest",
    "RetryRequest",
    "StartWorkflowRequest",
    "StepExecutionOut",
    "StepInfo",
    "TaskOut",
    "TaskPage",
    "WebhookAccepted",
)

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class _Body(msgspec.Struct, kw_only=True):
    """Base of every body: keyword-only fields, so adding one never breaks callers."""


class _Request(_Body, forbid_unknown_fields=True):
    """Base of request bodies: a field the API does not know is refused (400 naming it).

    A misspelled field (``inputs`` for ``input_data``) would otherwise be dropped silently and
    the request would go ahead without what the caller meant to send.
    """


# ---------------------------------------------------------------------- requests


class StartWorkflowRequest(_Request):
    """Start an instance of a registered workflow."""

    definition_name: NonEmpty
    input_data: dict[str, Any] | None = msgspec.field(default_factory=dict)
    version: NonEmpty | None = None
    correlation_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | None = None
    user_id: NonEmpty | None = None
    """Who starts it, as the documented body names it: must be the authenticated user when there
    is one (else 403); an anonymous request may name its creator this way."""
    tenant_id: NonEmpty | None = None
    """Must be the request's tenant when the app resolves tenants (else 403)."""


class CancelRequest(_Request):
    """Cancel an unfinished instance."""

    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RetryRequest(_Request):
    """Restart a failed instance from its failed step, or from ``from_step``."""

    from_step: NonEmpty | None = None


class CompleteTaskRequest(_Request):
    """Complete a human task. ``completed_by`` may only repeat the authenticated user."""

    output_data: dict[str, Any] = msgspec.field(default_factory=dict)
    comment: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    completed_by: str | None = None


class ReassignTaskRequest(_Request):
    """Give a pending task to another user."""

    new_assignee: NonEmpty
    reason: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


# ---------------------------------------------------------------------- definitions


class EdgeInfo(_Body):
    """A transition between two steps, with its condition when it has one."""

    source: str
    target: str
    condition: str | None = None


class DefinitionSummary(_Body):
    """A registered workflow (its newest version): its step names and edges, and the versions available."""

    name: str
    version: str
    description: str
    steps: list[str]
    edges: list[EdgeInfo]
    initial_step: str
    terminal_steps: list[str]
    versions: list[str]
    input_schema: dict[str, Any] | None = None
    """JSON Schema of the start data (``input_data``); ``null`` when the workflow accepts any object."""


class StepInfo(_Body):
    """One step of a definition; human steps add their title, form and group."""

    name: str
    type: StepType
    description: str
    title: str | None = None
    form_schema: dict[str, Any] | None = None
    assignee_group: str | None = None


class DefinitionDetail(DefinitionSummary, kw_only=True):
    """A definition as listed, plus each step's type, description and (human steps) form."""

    step_details: list[StepInfo]


class GraphNode(_Body):
    """A step as a graph node (``id`` is the step name)."""

    id: str
    label: str
    type: str
    description: str
    is_initial: bool
    is_terminal: bool
    initial: bool
    terminal: bool


class GraphEdge(_Body, omit_defaults=True):
    """A graph edge between step names (``condition`` is left out when there is none, as documented)."""

    source: str
    target: str
    condition: str | None = None


class GraphOut(_Body):
    """A workflow graph as Mermaid text and as nodes and edges.

    ``mermaid_source`` (the documented name) and ``mermaid`` hold the same text; both are empty
    when ``graph_format=json`` asked for the nodes and edges only. For an instance, ``states``
    maps steps to ``completed``, ``failed``, ``skipped``, ``waiting`` or ``current``, and the
    Mermaid text is styled accordingly.
    """

    name: str
    version: str
    mermaid_source: str
    mermaid: str
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    states: dict[str, str] = msgspec.field(default_factory=dict)


# ---------------------------------------------------------------------- instances


class StepExecutionOut(_Body):
    """One execution of one step: a row of an instance's history."""

    id: UUID | None
    step_name: str
    step_type: StepType
    status: StepStatus
    attempt: int
    started_at: datetime | None
    completed_at: datetime | None
    error: str | None
    result: Any = None
    output_data: dict[str, Any] | None = None
    assigned_to: str | None = None
    completed_by: str | None = None
    error_type: str | None = None
    """Class of the exception a failed (or retried) attempt raised, e.g. ``"ConnectionError"``."""
    stack_trace: str | None = None
    """Its traceback (innermost frames, at most 8 KB, no local variables)."""


class InstanceSummary(_Body):
    """An instance's status and position."""

    id: UUID
    definition_name: str
    workflow_name: str
    workflow_version: str
    status: WorkflowStatus
    current_step: str | None
    error: str | None
    started_at: datetime
    completed_at: datetime | None
    created_by: str | None
    correlation_id: str | None = None


class InstanceDetail(InstanceSummary, kw_only=True):
    """An instance with its data (``context_data``, as documented, and ``data``), metadata and history."""

    context_data: dict[str, Any]
    data: dict[str, Any]
    metadata: dict[str, Any]
    step_history: list[StepExecutionOut]


class InstancePage(_Body):
    """A page of instances, newest first, and how many match in total."""

    items: list[InstanceSummary]
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------------- tasks


class TaskOut(_Body):
    """A human task: what to fill in, who may do it, by when, and how it ended."""

    id: UUID
    instance_id: UUID
    workflow_name: str
    step_name: str
    title: str
    description: str | None
    form_schema: dict[str, Any] | None
    assignee: str | None
    assignee_id: str | None
    assignee_group: str | None
    status: HumanTaskStatus
    created_at: datetime
    due_date: datetime | None = None
    due_at: datetime | None = None
    reminder_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    data: dict[str, Any] | None = None


class TaskPage(_Body):
    """A page of tasks, oldest first, and how many match in total."""

    items: list[TaskOut]
    total: int
    limit: int
    offset: int


# ---------------------------------------------------------------------- webhooks


class WebhookAccepted(_Body):
    """A signed delivery the instance took: where it stands now (not its data: the sender is no user)."""

    instance_id: UUID
    step_name: str
    status: WorkflowStatus


# ---------------------------------------------------------------------- errors


class FieldError(_Body):
    """One failing field of submitted data (``field`` is a JSON path such as ``items/0/price``)."""

    field: str
    message: str


class ErrorBody(_Body):
    """The body of every error the workflows API returns."""

    status_code: int
    detail: str
    error: str = ""
    """The error's class name; absent only from answers to paths or methods the API lacks (404, 405)."""
    errors: list[FieldError] = msgspec.field(default_factory=list)
