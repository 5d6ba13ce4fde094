"""What each page shows, gathered from the engine and the registry: the pages' data, no HTML.

Every read goes through the calls the REST API makes (``find_instances``, ``find_tasks``,
``load_instance`` / ``load_task`` with their tenant check, the registry's definitions), and long
lists are read one page at a time: an inbox of 10,000 tasks or a history of 200 steps never
renders whole.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, tzinfo
from typing import TYPE_CHECKING, Any, Final

from litestar_workflows.core.errors import WorkflowNotFoundError
from litestar_workflows.core.types import HumanTaskStatus, WorkflowStatus
from litestar_workflows.store.base import InstanceQuery, TaskQuery
from litestar_workflows.web.presenters import instance_graph
from litestar_workflows.web.ui.permissions import instance_actions, task_actions
from litestar_workflows.web.ui.rendering import json_text
from litestar_workflows.web.ui.schema_form import TASK_JSON_FIELD, form_fields, form_schema_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.engine.registry import WorkflowRegistry
    from litestar_workflows.web.engine import WorkflowEngine
    from litestar_workflows.web.identity import Actor

__all__ = (
    "HISTORY_PAGE",
    "LIST_PAGE",
    "Pager",
    "inbox",
    "instance_page",
    "task_page",
    "workflow_card",
)

LIST_PAGE: Final = 25
"""Rows per page of the instance list and the task inbox."""
HISTORY_PAGE: Final = 50
"""Step executions per page of an instance's timeline."""
MAX_CONTEXT_CHARS: Final = 20_000
"""Longest context data shown on an instance page (the API has all of it)."""
MAX_PENDING_SHOWN: Final = 20
"""Pending tasks an instance page lists (a wide fan-out of approvals shows its first ones)."""
MAX_CASE_FACTS: Final = 50
"""Instance data entries a task page shows beside its form."""
MAX_FACT_CHARS: Final = 500
"""Longest text of one entry there."""


@dataclass(frozen=True, slots=True)
class Pager:
    """Where a page is in a long list: its offset, size and the total, for "previous/next" links."""

    offset: int
    limit: int
    total: int

    @property
    def first(self) -> int:
        """Number of the first row shown (1-based; 0 when there are none)."""
        return min(self.offset + 1, self.total)

    @property
    def last(self) -> int:
        """Number of the last row shown."""
        return min(self.offset + self.limit, self.total)

    @property
    def previous(self) -> int | None:
        """Offset of the previous page, if any."""
        return max(self.offset - self.limit, 0) if self.offset > 0 else None

    @property
    def next(self) -> int | None:
        """Offset of the next page, if any."""
        return self.offset + self.limit if self.offset + self.limit < self.total else None


def _versions(registry: WorkflowRegistry, name: str) -> list[str]:
    try:
        return registry.get_versions(name)
    except WorkflowNotFoundError:
        return []


def workflow_card(registry: WorkflowRegistry, definition: WorkflowDefinition) -> dict[str, Any]:
    """A workflow as its card shows it: description, versions, steps (with their types), graph."""
    return {
        "definition": definition,
        "versions": _versions(registry, definition.name),
        "steps": [(name, str(step.step_type)) for name, step in definition.steps.items()],
        "mermaid": definition.to_mermaid(),
        "input_schema": getattr(definition, "input_schema", None),
    }


def _definition_of(registry: WorkflowRegistry, instance: WorkflowInstanceData) -> WorkflowDefinition | None:
    try:
        return registry.get_definition(instance.workflow_name, instance.workflow_version)
    except WorkflowNotFoundError:  # a version no longer registered: the page shows the rest
        return None


def _context_text(data: dict[str, Any]) -> tuple[str, bool]:
    text = json_text(data)  # as typed: the template escapes it for HTML
    if len(text) > MAX_CONTEXT_CHARS:
        return text[:MAX_CONTEXT_CHARS], True
    return text, False


async def instance_page(
    engine: WorkflowEngine,
    registry: WorkflowRegistry,
    actor: Actor,
    instance: WorkflowInstanceData,
    history_offset: int,
) -> dict[str, Any]:
    """The instance page: status, coloured graph, one page of the timeline, data, allowed actions.

    An engine that drives the instance in this process hands out its live copy, which moves on
    whenever this function awaits (the tasks, the permissions). So what the page says of the
    instance (status, version, whether it is still live) is read in one moment with what it
    draws (graph, timeline, data), before the first await: a page must never claim a version
    or an end that its graph does not show yet, or the live page would stop reloading with a
    stale graph. A later moment shows on the next reload.
    """
    shown = copy.copy(instance)  # the scalar fields as of now; the rest is read before any await
    definition = _definition_of(registry, shown)
    graph = instance_graph(definition, shown) if definition is not None else None
    history = shown.step_history
    # Newest first: the page that matters while an instance runs is the latest one.
    newest_first = history[::-1][history_offset : history_offset + HISTORY_PAGE]
    pager = Pager(history_offset, HISTORY_PAGE, len(history))
    context_text, truncated = _context_text(shown.data)
    # The instance's own pending tasks: a driving engine's live copy can be ahead of its store
    # for a moment, and the page must show the task its status says it waits for.
    tasks = list(shown.runtime.pending_tasks.values())
    live = not shown.is_finished
    if not tasks and shown.status is WorkflowStatus.WAITING:
        query = TaskQuery(instance_id=shown.id, status=HumanTaskStatus.PENDING, limit=MAX_PENDING_SHOWN)
        tasks = (await engine.find_tasks(query)).items
    return {
        "instance": shown,
        "status": str(shown.status),
        "definition": definition,
        "mermaid": graph.mermaid if graph is not None else "",
        "states": graph.states if graph is not None else {},
        "timeline": newest_first,
        "pager": pager,
        "context_text": context_text,
        "context_truncated": truncated,
        "actions": await instance_actions(engine, actor, shown),
        "pending_tasks": tasks[:MAX_PENDING_SHOWN],
        "live": live,
    }


async def instance_list(
    engine: WorkflowEngine,
    actor: Actor,
    query: InstanceQuery,
) -> dict[str, Any]:
    """One page of the instance list with its filters."""
    page = await engine.find_instances(query)
    return {
        "instances": page.items,
        "pager": Pager(query.offset, query.limit, page.total),
        "statuses": [str(status) for status in WorkflowStatus],
    }


def _now(engine: WorkflowEngine) -> datetime:
    """The engine's time (a test clock's, when it has one), else the wall clock's, in UTC."""
    clock = getattr(engine, "clock", None)
    now = clock() if callable(clock) else datetime.now(UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def _start_of_day(now: datetime, zone: tzinfo) -> datetime:
    """The midnight that began ``now``'s day in ``zone``, in UTC (what the store compares)."""
    local = now.astimezone(zone)
    return datetime.combine(local.date(), time(), tzinfo=zone).astimezone(UTC)


async def _completed_today(engine: WorkflowEngine, actor: Actor, now: datetime, zone: tzinfo) -> int:
    """Tasks the actor completed (in their tenant) since midnight in the user's time zone."""
    if actor.user_id is None:
        return 0
    done = TaskQuery(
        status=HumanTaskStatus.COMPLETED,
        completed_by=actor.user_id,
        completed_after=_start_of_day(now, zone),
        tenant_id=actor.tenant_id,
        limit=1,
    )
    return (await engine.find_tasks(done)).total


async def inbox(engine: WorkflowEngine, actor: Actor, offset: int, zone: tzinfo = UTC) -> dict[str, Any]:
    """The actor's queue (assigned to them or open to their groups), a page of it, and its counters.

    "Completed today" counts from midnight in ``zone``, the user's time zone (the page names it).
    An anonymous request sees every pending task of its tenant, as the API's ``GET /tasks`` does.
    """
    queue = TaskQuery(
        status=HumanTaskStatus.PENDING,
        workable_by=actor.user_id,
        workable_groups=tuple(actor.groups),
        tenant_id=actor.tenant_id,
        limit=LIST_PAGE,
        offset=offset,
    )
    page = await engine.find_tasks(queue)
    now = _now(engine)
    overdue = await engine.find_tasks(replace(queue, due_before=now, limit=1, offset=0))
    return {
        "tasks": page.items,
        "pager": Pager(offset, LIST_PAGE, page.total),
        "pending": page.total,
        "overdue": overdue.total,
        "completed_today": await _completed_today(engine, actor, now, zone),
        "today_zone": str(zone),
    }


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def is_overdue(task: HumanTask, now: datetime) -> bool:
    """Tell whether a pending task is past its due time."""
    return task.is_pending and task.due_at is not None and _utc(task.due_at) < now


async def task_page(
    engine: WorkflowEngine,
    actor: Actor,
    task: HumanTask,
    values: dict[str, Any] | None = None,
    errors: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """The task page: the case, the form (a refused submission's values and errors), the actions."""
    allowed = await task_actions(engine, actor, task)
    instance = await engine.get_instance(task.instance_id)  # the task's tenant is the instance's
    paused = instance.status is WorkflowStatus.PAUSED
    if paused:  # the engine refuses both until the instance is resumed: offer neither
        allowed -= {"complete", "claim"}
    return {
        "task": task,
        "case": case_facts(instance.data),
        "fields": form_fields(task.form_schema, values if values is not None else task.data),
        # A form schema with no properties to make inputs of: the data is asked for as JSON.
        "json_form": bool(task.form_schema) and form_schema_of(task.form_schema) is None,
        "raw_json": (values or {}).get(TASK_JSON_FIELD, ""),
        "errors": list(errors),
        "allowed": allowed,
        "paused": paused,
    }


def case_facts(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The instance data a person decides on, as ``(key, text)`` rows (nested values as JSON)."""
    rows = []
    for key, value in list(data.items())[:MAX_CASE_FACTS]:
        if isinstance(value, dict | list):
            text = json.dumps(value, default=str)
        elif isinstance(value, bool):
            text = "yes" if value else "no"
        else:
            text = "" if value is None else str(value)
        rows.append((str(key), text if len(text) <= MAX_FACT_CHARS else text[:MAX_FACT_CHARS] + "…"))
    return rows
