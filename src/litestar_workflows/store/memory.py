"""The in-memory store: a real store that forgets everything when the process ends.

Transitions mutate the instance objects in place, so ``commit`` only has to remember new
instances and tasks; queries scan the dictionaries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar_workflows.core.errors import InstanceKeyTakenError
from litestar_workflows.core.types import FINAL_WORKFLOW_STATUSES

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Sequence
    from uuid import UUID

    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.runtime.transition import Transition
    from litestar_workflows.store.base import InstanceQuery, TaskQuery


class MemoryStore:
    """Keeps instances and tasks in dictionaries of this process.

    Instances are kept for as long as the process runs. Once nothing runs or waits for a completed
    or canceled instance, its history is packed
    (:meth:`~litestar_workflows.core.context.WorkflowContext.pack_step_history`) until something
    reads it: a finished ten-step instance then holds 4 objects for the cyclic garbage collector
    instead of 27, and about 3.7 KB instead of 7.9. Each full collection walks every object the
    process holds; with 100,000 finished instances those walks took 40 % of the engine's time, and
    each one paused the process for half a second. At a thousand instances, packing costs 0 to 3 %
    of the instructions per transition (callgrind, ``benchmarks/instructions.py --neutral``).
    """

    def __init__(self) -> None:
        # Keyed by ``id.int``: hashing an int is C code, hashing a UUID is a Python call.
        self.instances: dict[int, WorkflowInstanceData] = {}
        self.tasks: dict[int, HumanTask] = {}
        self.definitions: dict[tuple[str, str], WorkflowDefinition] = {}
        self.keys: dict[tuple[str, str], WorkflowInstanceData] = {}
        """Instances started with a key, by (workflow name, key): one each, ever."""

    async def commit(self, transitions: Sequence[Transition]) -> None:
        """Remember new instances and tasks (everything else changed in place)."""
        for tr in transitions:
            self.record(tr)

    def record(self, tr: Transition) -> None:
        """Synchronous form of :meth:`commit` for one transition (the local engine's fast path).

        Raises:
            InstanceKeyTakenError: A new instance has a key another instance of its workflow has.
        """
        if tr.created:
            instance = tr.instance
            if instance.key is not None:
                ident = (instance.workflow_name, instance.key)
                if ident in self.keys:
                    raise InstanceKeyTakenError(*ident)
                self.keys[ident] = instance
            self.instances[instance.id.int] = instance
        for task in tr.tasks:
            self.tasks[task.id.int] = task

    def settled(self, instance: WorkflowInstanceData) -> None:
        """Note that nothing runs or waits for ``instance`` in the engine any more.

        A completed or canceled one has its history packed at once: its executions were made
        moments ago, so the collector frees them young, before they count towards its next full
        collection (packing them some thousand instances later saved little).
        """
        if instance.status in FINAL_WORKFLOW_STATUSES and not instance.runtime.active:
            instance.context.pack_step_history()

    async def save_definition(self, definition: WorkflowDefinition) -> None:
        """Remember the definition."""
        self.definitions[(definition.name, definition.version)] = definition

    async def load_instance(self, instance_id: UUID) -> WorkflowInstanceData | None:
        """The live instance object, or ``None``."""
        return self.instances.get(instance_id.int)

    async def instance_with_key(self, workflow_name: str, key: str) -> WorkflowInstanceData | None:
        """The instance of ``workflow_name`` started with ``key``, or ``None``."""
        return self.keys.get((workflow_name, key))

    async def find_instances(self, query: InstanceQuery) -> tuple[list[WorkflowInstanceData], int]:
        """Instances matching ``query``, newest first."""
        statuses = _as_set(query.status)
        matches = [
            i
            for i in self.instances.values()
            if (statuses is None or i.status in statuses)
            and (query.workflow_name is None or i.workflow_name == query.workflow_name)
            and (query.workflow_version is None or i.workflow_version == query.workflow_version)
            and (query.tenant_id is None or i.tenant_id == query.tenant_id)
            and (query.created_by is None or i.created_by == query.created_by)
            and (query.current_step is None or i.current_step == query.current_step)
            and (query.started_after is None or i.started_at >= query.started_after)
            and (query.started_before is None or i.started_at < query.started_before)
        ]
        matches.sort(key=lambda i: i.started_at, reverse=True)
        return matches[query.offset : query.offset + query.limit], len(matches)

    async def get_task(self, task_id: UUID) -> HumanTask | None:
        """The task, or ``None``."""
        return self.tasks.get(task_id.int)

    async def find_tasks(self, query: TaskQuery) -> tuple[list[HumanTask], int]:
        """Tasks matching ``query``, oldest first (the order people work through them)."""
        groups = _as_set(query.assignee_group)
        user, open_to = query.workable_by, set(query.workable_groups)
        queue = user is not None or bool(open_to)
        matches = [
            t
            for t in self.tasks.values()
            if (query.status is None or t.status == query.status)
            and (
                not queue
                or (user is not None and t.assignee_id == user)
                or (t.assignee_id is None and (t.assignee_group is None or t.assignee_group in open_to))
            )
            and (query.assignee_id is None or t.assignee_id == query.assignee_id)
            and (groups is None or t.assignee_group in groups)
            and (query.instance_id is None or t.instance_id == query.instance_id)
            and (query.workflow_name is None or t.workflow_name == query.workflow_name)
            and (query.tenant_id is None or t.tenant_id == query.tenant_id)
            and (query.due_before is None or (t.due_at is not None and t.due_at < query.due_before))
            and (query.completed_by is None or t.completed_by == query.completed_by)
            and (
                query.completed_after is None
                or (t.completed_at is not None and t.completed_at >= query.completed_after)
            )
        ]
        matches.sort(key=lambda t: t.created_at)
        return matches[query.offset : query.offset + query.limit], len(matches)

    async def instance_versions(self, instance_ids: Collection[UUID]) -> dict[UUID, int]:
        """The version of each instance that exists (the same objects the engine holds)."""
        found = (self.instances.get(instance_id.int) for instance_id in instance_ids)
        return {instance.id: instance.version for instance in found if instance is not None}


def _as_set(value: str | Iterable[str] | None) -> set[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {value}
    return set(value)


__all__ = ("MemoryStore",)
