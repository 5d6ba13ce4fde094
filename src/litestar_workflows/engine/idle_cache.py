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

A completed or canceled copy is kept with its history packed (``WorkflowContext.pack_step_history``:
4 objects for the cyclic garbage collector instead of 27 for ten steps), as the memory store keeps
finished instances. A copy the bound pushes out is dropped, unless its instance is completed
or canceled: such a copy never goes stale, and the documented usage reads finished instances
back long after they finished (start thousands, then ``wait`` on each, then ``get_instance`` on
each). Those copies go
to a second tier, frozen: pickled and compressed into one ``bytes`` object of about 1 KB for a
ten-step instance, against about 8 KB of live objects, and invisible to the cyclic garbage
collector (which otherwise walks every object of every cached copy in each full collection). A
read of a frozen copy thaws it (50 to 90 µs here, against half a millisecond and more for a load from
the database) and keeps it frozen. That tier is bounded by its total size in bytes.

The pickles never leave the process: they are made here from the engine's own objects and read
back only here.

With a memory store the engine holds the stored objects themselves and keeps no cache.
"""

from __future__ import annotations

import logging
import pickle
import zlib
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.types import FINAL_WORKFLOW_STATUSES as FINAL
from litestar_workflows.core.types import StepStatus

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection
    from uuid import UUID

    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.engine.live import Live

__all__ = ("FINAL", "IdleCache")

logger = logging.getLogger("litestar_workflows.engine")


class IdleCache:
    """A bounded, least-recently-used set of instance copies keyed by ``instance_id.int``.

    Args:
        size: How many live copies to keep; the least recently used one goes first (to the
            frozen tier if its instance is completed or canceled).
        store: The engine's store. One with ``instance_versions(ids)`` (the SQLAlchemy store)
            lets a read check a copy in one query; without it, non-final copies are not served.
        frozen_bytes: The bound of the frozen tier, in bytes of compressed pickles; the least
            recently used frozen copy goes first. ``0`` keeps no frozen copies.

    Raises:
        TypeError: A bound is not an integer.
        ValueError: A bound is negative.
    """

    def __init__(self, size: int, store: Any, frozen_bytes: int = 0) -> None:
        _check_bound(size, "idle_cache_size")
        _check_bound(frozen_bytes, "finished_cache_bytes")
        self.size = size
        self.frozen_bytes = frozen_bytes
        self._copies: OrderedDict[int, Live] = OrderedDict()
        self._frozen: OrderedDict[int, bytes] = OrderedDict()
        self._frozen_total = 0
        self._store = store

    def __len__(self) -> int:
        return len(self._copies)

    def __contains__(self, key: int) -> bool:
        return key in self._copies

    @property
    def frozen(self) -> tuple[int, int]:
        """How many frozen copies there are, and their total size in bytes."""
        return len(self._frozen), self._frozen_total

    def clear(self) -> None:
        """Forget every copy (the engine stops)."""
        self._copies.clear()
        self._frozen.clear()
        self._frozen_total = 0

    def keep(self, live: Live) -> None:
        """Keep the copy of an instance nothing runs or waits for here any more."""
        if self.size <= 0 or live.instance.runtime.stale:
            return
        key = live.instance.id.int
        if key in self._frozen:  # this copy is newer, or the same instance
            self._frozen_total -= len(self._frozen.pop(key))
        self._copies[key] = live
        self._copies.move_to_end(key)
        instance = live.instance
        if instance.status in FINAL and not instance.runtime.active:
            # Its history is read rarely from now on: packed, it is 4 objects for the collector
            # instead of 27 (see MemoryStore), and it pickles as the packed form when frozen.
            instance.context.pack_step_history()
        if len(self._copies) > self.size:
            key, pushed_out = self._copies.popitem(last=False)
            if pushed_out.instance.status in FINAL:
                self._freeze(key, pushed_out.instance)

    def _freeze(self, key: int, instance: WorkflowInstanceData) -> None:
        if self.frozen_bytes <= 0:
            return
        try:
            frozen = zlib.compress(pickle.dumps(instance, pickle.HIGHEST_PROTOCOL), 1)
        except Exception:  # a cache: the copy is dropped, and the next read loads the instance
            logger.warning("could not freeze the cached copy of instance %s", instance.id, exc_info=True)
            return
        self._frozen[key] = frozen
        self._frozen_total += len(frozen)
        while self._frozen_total > self.frozen_bytes:
            self._frozen_total -= len(self._frozen.popitem(last=False)[1])

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
        :meth:`keep` the fresh copy). A frozen copy (completed or canceled) is thawed into new
        objects at each read.

        Raises:
            StoreError: The version could not be read.
        """
        key = instance_id.int
        live = self._copies.get(key)
        if live is None:
            frozen = self._frozen.get(key)
            if frozen is None:
                return None
            self._frozen.move_to_end(key)
            # Made by _freeze, in this process: never bytes from outside.
            thawed: WorkflowInstanceData = pickle.loads(zlib.decompress(frozen))
            return thawed
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


def _check_bound(value: Any, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")


def _steps_in_flight(instance: WorkflowInstanceData) -> bool:
    """Whether an execution of the instance is scheduled or running (not waiting for an event)."""
    waiting = StepStatus.WAITING
    return any(run.status is not waiting for run in instance.runtime.active.values())
