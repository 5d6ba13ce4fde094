"""The copies of instances an engine on a database keeps after it stops working on them.

Loading an instance from the database reads its row, all its step executions and its tasks: a
few milliseconds, many times what a read from memory costs. Yet the documented way of using an
engine reads instances it has just driven again and again (``wait``, then ``get_instance``), and
an operation on a waiting instance (a task completion) follows its last transition here more
often than not. So an engine keeps its copies of the instances it released, most recently used
last, up to a bound, and:

- an operation takes the copy back (marked *unverified*): it acts on it without asking the
  database first, because the commit's version check refuses a copy that another process has
  moved on since, and a refusal is confirmed on the stored instance (``engine/local.py``);
- a read (:meth:`IdleCache.current`) returns the copy when it is current: at once for a
  completed or canceled instance (nothing changes those any more), otherwise after asking the
  store for the instance's version alone, one small query, and only loading the whole history
  again when that version moved.

With a memory store the engine holds the stored objects themselves and keeps no cache.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.types import StepStatus, WorkflowStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection
    from uuid import UUID

    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.engine.live import Live

__all__ = ("FINAL", "IdleCache")

FINAL = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.CANCELED})
"""Statuses no operation leaves: a copy in one of them stays current for good."""


class IdleCache:
    """A bounded, least-recently-used set of instance copies keyed by ``instance_id.int``.

    Args:
        size: How many copies to keep; the least recently used one goes first.
        store: The engine's store. One with ``instance_versions(ids)`` (the SQLAlchemy store)
            lets a read check a copy in one query; without it, non-final copies are not served.
    """

    def __init__(self, size: int, store: Any) -> None:
        self.size = size
        self._copies: OrderedDict[int, Live] = OrderedDict()
        self._store = store

    def __len__(self) -> int:
        return len(self._copies)

    def __contains__(self, key: int) -> bool:
        return key in self._copies

    def clear(self) -> None:
        """Forget every copy (the engine stops)."""
        self._copies.clear()

    def keep(self, live: Live) -> None:
        """Keep the copy of an instance nothing runs or waits for here any more."""
        if self.size <= 0 or live.instance.runtime.stale:
            return
        key = live.instance.id.int
        self._copies[key] = live
        self._copies.move_to_end(key)
        if len(self._copies) > self.size:
            self._copies.popitem(last=False)

    def take(self, key: int) -> Live | None:
        """Remove and return the copy for an operation that will act on it (or ``None``).

        The copy is marked unverified: another process may have moved the stored instance on.
        """
        live = self._copies.pop(key, None)
        if live is not None:
            live.unverified = True
        return live

    async def current(self, instance_id: UUID) -> WorkflowInstanceData | None:
        """The cached copy of the instance if it is known to be the stored one, else ``None``.

        A completed or canceled copy is current without asking; one whose steps all wait (for a
        person, a timer, a webhook) or that has none left (failed, paused) is checked against the
        stored version (one query). One with a step scheduled or running is not served: another
        process's sweep may claim that step again, moving its attempt on without a new version.
        A copy found outdated is dropped: the caller loads the instance again (and may
        :meth:`keep` the fresh copy).

        Raises:
            StoreError: The version could not be read.
        """
        key = instance_id.int
        live = self._copies.get(key)
        if live is None:
            return None
        instance = live.instance
        if instance.status not in FINAL:
            versions: Callable[[Collection[UUID]], Awaitable[dict[UUID, int]]] | None = getattr(
                self._store, "instance_versions", None
            )
            if versions is None or _steps_in_flight(instance):
                return None
            stored = (await versions((instance_id,))).get(instance_id)
            live = self._copies.get(key)
            if live is None or live.instance is not instance:  # taken or replaced meanwhile
                return None
            if stored != instance.version:
                del self._copies[key]
                return None
        self._copies.move_to_end(key)
        return instance


def _steps_in_flight(instance: WorkflowInstanceData) -> bool:
    """Whether an execution of the instance is scheduled or running (not waiting for an event)."""
    waiting = StepStatus.WAITING
    return any(run.status is not waiting for run in instance.runtime.active.values())
