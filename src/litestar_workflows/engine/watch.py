"""One watcher per engine for the instances its waiters wait on, when another process may move them.

``engine.wait()`` on a durable store is woken by this process's own commits. An instance can also
change in another process (a second server, a worker that took over an expired lease); then only
the database knows. Each waiter reloading its instance every ``poll_interval`` made 300 idle long
polls cost a whole core. Instead the waiters of a process share this watcher: once per interval it
asks the store for the versions of every watched instance in one query (``instance_versions``) and
reloads only those whose version moved; reloading wakes their waiters.

Instances this process is driving (a step running, a commit in flight) are left out: their own
transitions wake their waiters. An armed timer does not count: a timer step or a task deadline may
be days away, and meanwhile another process may well complete the task or cancel the instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.errors import WorkflowsError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Collection
    from uuid import UUID

    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.engine.live import Live

logger = logging.getLogger("litestar_workflows.engine")

__all__ = ("InstanceWatcher",)


class InstanceWatcher:
    """Polls the store once per interval for all instances that waiters of this engine watch.

    Args:
        store: The engine's store; its ``instance_versions(ids)`` answers for many instances at
            once (a store without it is asked ``load_instance`` per instance, as before).
        interval: Seconds between two looks at the store.
        install: Called with an instance's ``Live`` and its fresh stored copy; wakes its waiters.
    """

    def __init__(
        self,
        store: Any,
        interval: float,
        install: Callable[[Live, WorkflowInstanceData], None],
    ) -> None:
        self.store = store
        self.interval = interval
        self._install = install
        self._watched: dict[int, tuple[Live, int]] = {}
        """Watched instances by ``id.int``: their ``Live`` and how many waiters watch it."""
        self._task: asyncio.Task[None] | None = None
        self._failing = False
        self._nudged = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        subscribe: Callable[[Any], None] | None = getattr(store, "subscribe", None)
        if subscribe is not None:
            subscribe(self)

    def __len__(self) -> int:
        """How many instances are watched."""
        return len(self._watched)

    def watch(self, live: Live) -> None:
        """Look at ``live``'s instance in the store every interval until :meth:`unwatch`."""
        key = live.instance.id.int
        entry = self._watched.get(key)
        self._watched[key] = (live, 1 if entry is None else entry[1] + 1)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())

    def unwatch(self, live: Live) -> None:
        """One waiter of ``live`` is done; the instance is dropped with its last waiter."""
        key = live.instance.id.int
        entry = self._watched.get(key)
        if entry is None:
            return
        if entry[1] <= 1:
            del self._watched[key]
        else:
            self._watched[key] = (entry[0], entry[1] - 1)

    async def stop(self) -> None:
        """End the polling task (the engine stops; its waiters are cancelled separately)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._watched.clear()

    def committed(self, store: object, instance_keys: set[int]) -> None:
        """Another store of this process committed these instances: look at once if one is watched.

        (Engines built per request share a database engine; their stores tell each other.)
        """
        if store is self.store or self._loop is not asyncio.get_running_loop():
            return
        if not instance_keys.isdisjoint(self._watched):
            self._nudged.set()

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        while self._watched:
            if not self._nudged.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._nudged.wait(), self.interval)
            self._nudged.clear()
            await self.poll_once()

    async def poll_once(self) -> int:
        """Look at the store once for every watched instance not driven here; reload the changed ones.

        Returns:
            How many instances were reloaded. A failing store is logged (once per outage) and
            looked at again next interval; the waiters' own timeouts bound their wait.
        """
        candidates = [live for live, _ in self._watched.values() if _idle_here(live)]
        if not candidates:
            return 0
        try:
            versions = await self._versions([live.instance.id for live in candidates])
            changed = [
                live
                for live in candidates
                if versions.get(live.instance.id, live.instance.version) != live.instance.version
            ]
            for live in changed:
                await self._reload(live)
        except WorkflowsError as error:
            if not self._failing:
                logger.warning(
                    "watching instances for waiters failed (retrying every %ss): %s", self.interval, error
                )
            self._failing = True
            return 0
        self._failing = False
        return len(changed)

    async def _versions(self, ids: Collection[UUID]) -> dict[UUID, int]:
        bulk: Callable[[Collection[UUID]], Awaitable[dict[UUID, int]]] | None = getattr(
            self.store, "instance_versions", None
        )
        if bulk is not None:
            return await bulk(ids)
        found = {}
        for instance_id in ids:
            instance = await self.store.load_instance(instance_id)
            if instance is not None:
                found[instance_id] = instance.version
        return found

    async def _reload(self, live: Live) -> None:
        copy, version = live.instance, live.instance.version
        fresh = await self.store.load_instance(copy.id)
        # Install it only if nothing here touched the instance meanwhile: a transition of ours
        # would be newer than what we just read (and wakes the waiters itself).
        if fresh is not None and live.instance is copy and copy.version == version and _idle_here(live):
            self._install(live, fresh)


def _idle_here(live: Live) -> bool:
    return not (live.running or live.committing)
