"""Recovery and the sweep of the local driver: continue work that no live process holds.

A durable store leases every execution it hands out. When a process dies its leases run out;
:meth:`RecoveryOperations.recover` claims such executions (and timers that came due) and continues
them here, and the sweep repeats that every ``poll_interval`` seconds while renewing the leases of
what runs here. Kept apart from the driving loop;
:class:`~litestar_workflows.engine.local.LocalExecutionEngine` mixes it in.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar_workflows.core.errors import WorkflowsError
from litestar_workflows.core.types import StepStatus, StepType
from litestar_workflows.engine.clock import LoopTimers

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.engine.clock import Timers
    from litestar_workflows.engine.live import Live
    from litestar_workflows.engine.registry import WorkflowRegistry
    from litestar_workflows.store.base import WorkflowStore
    from litestar_workflows.store.memory import MemoryStore

logger = logging.getLogger("litestar_workflows.engine")

_TIMED = (StepType.TIMER, StepType.HUMAN)
"""Waiting steps whose ``scheduled_for`` is a timer: timer steps, and task deadlines."""

DEADLINE_HORIZON = timedelta(minutes=5)
"""Task deadlines further away than this are left to the sweep instead of armed here."""

CLAIM_BATCH = 500
"""Executions claimed per query; recovery repeats until a batch comes back short."""


class RecoveryOperations:
    """Recovery and the sweep, for an engine that provides the members declared below."""

    if TYPE_CHECKING:
        store: WorkflowStore
        registry: WorkflowRegistry
        poll_interval: float
        _refused_definitions: set[tuple[str, str]]
        _live: dict[int, Live]

        clock: Callable[[], datetime]
        timers: Timers
        _memory: MemoryStore | None

        async def _live_instance(self, instance_id: UUID) -> Live: ...

        def _fire_timer(self, live: Live, run: StepExecution) -> None: ...

        def _spawn(self, live: Live, run: StepExecution, *, eager: bool = False) -> None: ...

    def _arms_here(self, run: StepExecution) -> bool:
        """Tell whether to arm the timer of ``run`` in this process, or leave it to the sweep.

        An armed timer keeps its instance in this process's memory until it fires: for a human
        task's deadline days away, that is every waiting instance for days. On a durable store the
        row is leased to this process only until it is due, and the sweep (this engine's or any
        other's) claims it then, so a far deadline is left to it. Timer steps, the memory store
        and a clock that schedules its own timers (a test clock) always arm.
        """
        if self._memory is not None or run.step_type is not StepType.HUMAN or run.scheduled_for is None:
            return True
        if not isinstance(self.timers, LoopTimers):
            return True
        return run.scheduled_for - self.clock() <= DEADLINE_HORIZON

    async def recover(self) -> int:
        """Claim and continue due work nobody holds (crashed processes' steps, due timers).

        Safe to call from several engines at once: each execution is claimed by one. Returns how
        many executions were claimed.
        """
        claim = getattr(self.store, "claim_due", None)
        if claim is None:
            return 0
        options: dict[str, Any] = {}
        if "workflows" in inspect.signature(claim).parameters:  # only work this process can run
            definitions = self.registry.list_definitions(active_only=False)
            refused = self._refused_definitions
            options["workflows"] = [
                (definition.name, definition.version)
                for definition in definitions
                if (definition.name, definition.version) not in refused
            ]
        total = 0
        while True:
            claimed = await claim(CLAIM_BATCH, **options)
            given_back = 0
            for instance_id, run_id in claimed:
                given_back += not await self._continue_claimed(instance_id, run_id)
            total += len(claimed)
            # A batch is followed by the next only while this process keeps what it claims: what
            # it gave back would be claimed again at once, and the loop would never end.
            if len(claimed) < CLAIM_BATCH or given_back:
                return total

    async def _continue_claimed(self, instance_id: UUID, run_id: UUID) -> bool:
        """Continue a claimed execution here; ``False`` if this process cannot and gave it back."""
        try:
            live = await self._live_instance(instance_id)
        except WorkflowsError as error:
            logger.error("cannot continue instance %s here (%s); left to another process", instance_id, error)
            release = getattr(self.store, "release_executions", None)
            if release is not None:  # or this process would hold it until its lease ran out, again and again
                await release([run_id])
            return False
        run = live.instance.runtime.active.get(run_id.int)
        if run is None or run_id.int in live.running or run_id.int in live.timers:
            return True
        if run.status is StepStatus.WAITING and run.step_type in _TIMED:
            self._fire_timer(live, run)  # a timer step, or a human task's deadline
        elif run.status is not StepStatus.WAITING:
            self._spawn(live, run)
        return True

    async def _sweep(self) -> None:
        """Every ``poll_interval``: renew the leases of what runs here (now and then), recover."""
        renew: Any = getattr(self.store, "renew_leases", None)
        lease: Any = getattr(self.store, "lease", None)
        # Leases are renewed every third of a lease, however long ``poll_interval`` is: a poll
        # interval longer than the lease must not let healthy steps' leases run out.
        renew_every = lease.total_seconds() / 3 if lease is not None and renew is not None else math.inf
        tick = min(self.poll_interval, renew_every)
        loop = asyncio.get_running_loop()
        renewed = recovered = loop.time()
        while True:
            await asyncio.sleep(tick)
            try:
                if loop.time() - renewed >= renew_every:
                    renewed = loop.time()
                    await renew([UUID(int=key) for live in self._live.values() for key in live.running])
                if loop.time() - recovered >= self.poll_interval - tick / 2:  # not one tick late
                    recovered = loop.time()
                    await self.recover()
            except Exception:  # the database may be briefly away; try again next round
                logger.exception("sweeping for due work failed")


__all__ = ("CLAIM_BATCH", "RecoveryOperations")
