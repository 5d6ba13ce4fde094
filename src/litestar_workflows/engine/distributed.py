"""The distributed driver: steps run on worker processes that a broker feeds with messages.

Everything a workflow means stays where it is for the other engines: the interpreter decides,
the step runner calls user code, the SQLAlchemy store commits each transition with its version
check and lease check (group commit included). What changes is only where started executions
run. Instead of a local task, a committed transition publishes "run execution X, attempt N"
through a :class:`~litestar_workflows.engine.messages.Transport`; a worker's :meth:`handle`
claims that execution with a lease in the database, runs it through the local driver's
``_drive`` and commits its outcome while holding the lease. The execution that continues the
step's chain (the first one its transition starts) is leased to that worker in the same commit
and run there next, inline, as the local driver does: only the others are published.

The broker may deliver a message twice, late or never, so the database decides: a message that
claims nothing is dropped, and the sweep of every running engine publishes again the executions
whose lease ran out (their worker died) or that nobody claimed for ``lease_seconds`` (the message
was lost, e.g. in a Redis restart), and fires due timers. A worker renews the leases of what it
runs and stops a step whose execution was cancelled or taken over elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar_workflows.core.errors import WorkflowNotFoundError, WorkflowsError
from litestar_workflows.core.step_settings import require_positive
from litestar_workflows.db.claims import ClaimLedger
from litestar_workflows.db.connection import check_synchronous_commit
from litestar_workflows.db.store import SQLAlchemyStore, continued_run, store_from
from litestar_workflows.engine.local import LocalExecutionEngine
from litestar_workflows.engine.messages import MalformedMessageError, StepMessage
from litestar_workflows.engine.registry import WorkflowRegistry
from litestar_workflows.runtime.runner import StepRunner

if TYPE_CHECKING:
    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.events import EventBus
    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.engine.live import Live
    from litestar_workflows.engine.messages import Transport
    from litestar_workflows.runtime.runner import Outcome, StepPlan
    from litestar_workflows.runtime.transition import Transition

logger = logging.getLogger("litestar_workflows.distributed")


class _TrackingRunner(StepRunner):
    """The step runner, noting which task runs user code for which execution right now.

    A worker that learns its lease is gone cancels a step only while it is in user code: once
    the outcome is on its way to the database, the commit's lease check decides.
    """

    def __init__(self, runner: StepRunner) -> None:
        super().__init__(runner.clock, runner.rng)
        self.executing: dict[int, asyncio.Task[Any]] = {}

    async def run(self, plan: StepPlan, instance: WorkflowInstanceData, run: StepExecution) -> Outcome:
        key = run.id.int  # type: ignore[union-attr]
        task = asyncio.current_task()
        if task is not None:
            self.executing[key] = task
        try:
            return await super().run(plan, instance, run)
        finally:
            self.executing.pop(key, None)


def _store_for(
    persistence: Any, lease_seconds: float, owner: str | None, synchronous_commit: bool | None, **options: Any
) -> SQLAlchemyStore:
    """The store on ``persistence``, leasing for ``lease_seconds`` under ``owner`` (when given).

    A store passed in was built with its own lease (30 s unless told otherwise) and a random
    owner; the engine's ``lease_seconds`` replaces that lease, because the renewals, the sweep
    of unclaimed work and the shutdown grace are all timed from it: a store leasing for less
    would lose steps that are still running, one leasing for more would hold a dead worker's
    steps past the sweep that is meant to bring them back. A differing lease is logged.

    Its commit durability cannot be replaced that way (it decides which database engine the store
    connects through): ``synchronous_commit=None`` keeps the given store's, and a setting that
    differs from it is refused rather than ignored. A store built here commits fully unless told
    ``synchronous_commit=False``.

    Raises:
        TypeError: ``synchronous_commit`` is not a bool.
        ValueError: ``persistence`` is a store built with the other ``synchronous_commit``.
    """
    if synchronous_commit is not None:
        check_synchronous_commit(synchronous_commit)
    full = True if synchronous_commit is None else synchronous_commit
    options.update(lease_seconds=lease_seconds, owner=owner, synchronous_commit=full)
    if isinstance(persistence, str):
        return SQLAlchemyStore.from_url(persistence, **options)
    if not isinstance(persistence, SQLAlchemyStore):
        return store_from(persistence, **options)
    if synchronous_commit is not None and persistence.synchronous_commit != synchronous_commit:
        msg = (
            "the store given as persistence was built with "
            f"synchronous_commit={persistence.synchronous_commit}, but the engine is asked for "
            f"synchronous_commit={synchronous_commit}: pass the same setting to both (or give a URL "
            "or a database engine, and let the engine build its store)"
        )
        raise ValueError(msg)
    lease = timedelta(seconds=lease_seconds)
    if persistence.lease != lease:
        logger.warning(
            "the store given as persistence leased for %ss; it now leases for the engine's lease_seconds=%s",
            persistence.lease.total_seconds(),
            lease_seconds,
        )
        persistence.lease = lease
    if owner is not None:
        persistence.owner = owner
    return persistence


class DistributedExecutionEngine(LocalExecutionEngine):
    """Runs steps on workers fed by a broker; any process may start and act on instances.

    The broker-specific engines (``SAQExecutionEngine``, ``CeleryExecutionEngine``) subclass it
    and only provide a transport and a worker entry that calls :meth:`handle`.

    Args:
        persistence: A database URL, an ``AsyncEngine``, an ``async_sessionmaker``, an
            ``AsyncSession`` or a :class:`~litestar_workflows.db.store.SQLAlchemyStore`. A store
            is set up for this engine: it leases for ``lease_seconds`` (a different lease it was
            built with is replaced, with a warning) and, when ``owner`` is given, under that name;
            it keeps its own ``synchronous_commit`` (asking the engine for the other setting
            raises ``ValueError``).
        transport: Publishes step messages to the broker.
        registry: Where workflows are looked up; a new empty one when omitted (register the
            workflows on ``engine.registry`` in the module that workers import too).
        lease_seconds: How long a worker holds an execution without renewing; also how long a
            published execution may stay unclaimed before the sweep publishes it again.
        sweep_interval: Seconds between sweeps (lost work, due timers).
        event_bus: Receives the events of the transitions this process commits.
        poll_interval: How often :meth:`wait` looks at the database (others run the steps).
        owner: This process's name in leases (default: host, pid and an id).
        synchronous_commit: How the store this engine builds commits (on the store's own
            connections only); ``None`` (the default): as a store given as ``persistence`` does,
            else ``True``. ``True``: a commit is on disk before it is reported.
            ``False`` (relaxed commits, opt-in): it survives a crash of the process but a power
            loss or an operating system crash may lose the last moments of commits (see
            :class:`~litestar_workflows.db.SQLAlchemyStore`). It applies to the commits this
            process makes: give every process of the deployment (web app and workers) the setting
            meant for it.
        **options: Passed to :class:`~litestar_workflows.engine.local.LocalExecutionEngine`.

    Raises:
        TypeError: ``synchronous_commit`` is not a bool.
        ValueError: ``persistence`` is a store built with the other ``synchronous_commit``.
    """

    def __init__(
        self,
        persistence: Any,
        transport: Transport,
        registry: WorkflowRegistry | None = None,
        *,
        lease_seconds: float = 30.0,
        sweep_interval: float = 5.0,
        event_bus: EventBus | None = None,
        poll_interval: float = 0.5,
        owner: str | None = None,
        synchronous_commit: bool | None = None,
        **options: Any,
    ) -> None:
        require_positive("lease_seconds", lease_seconds)
        require_positive("sweep_interval", sweep_interval)
        require_positive("poll_interval", poll_interval)
        store_options: dict[str, Any] = {"clock": options["clock"]} if "clock" in options else {}
        store = _store_for(persistence, lease_seconds, owner, synchronous_commit, **store_options)
        store.lease_started = False  # started executions wait, unleased, for a worker's claim
        store.lease_continued = True  # except the next step of a chain, run by the step's worker
        super().__init__(
            registry if registry is not None else WorkflowRegistry(),
            store,
            event_bus,
            poll_interval=poll_interval,
            **options,
        )
        self.sql_store = store
        self.transport = transport
        self.ledger = ClaimLedger(store)
        self.lease_seconds = lease_seconds
        self.sweep_interval = sweep_interval
        self.runner = self._tracking = _TrackingRunner(self.runner)
        self._outbox: list[StepMessage] = []
        self._flusher: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect to the broker, check the database, publish lost work, then sweep periodically.

        Raises:
            BrokerUnavailableError: The broker does not answer (the message names its URL).
            StoreError: The database is unreachable or not migrated.
        """
        await self.open_transport()
        await super().start()

    async def stop(self) -> None:
        """Stop sweeping, abandon steps running here and publish them again; close what we opened."""
        abandoned = [
            StepMessage(run.id, run.attempt)  # type: ignore[arg-type]
            for live in self._live.values()
            for key in live.running
            if (run := live.instance.runtime.active.get(key)) is not None
        ]
        await super().stop()  # cancels them and releases every lease we hold
        self._outbox.extend(abandoned)
        await self._flush()
        await self.close_transport()
        await self.sql_store.close()

    async def open_transport(self) -> None:
        """Connect to the broker (subclasses); fail clearly, naming it, when it does not answer."""

    async def close_transport(self) -> None:
        """Disconnect from the broker (subclasses)."""

    # ------------------------------------------------------------------ publishing

    def _dispatch(self, live: Live, tr: Transition, inline: bool) -> StepExecution | None:
        """Publish what a committed transition started, except a chain's next step on a worker.

        A worker that ran a step runs the execution continuing its chain itself, inline (as the
        local driver does): the commit leased it to this worker (see ``continued_run``), so no
        message, no claim and no reload of the instance, whose copy here is the stored one.
        Every other execution (parallel branches, anything a client starts) is published.
        """
        follow = continued_run(tr) if inline else None
        if self.telemetry is not None:
            self.telemetry.committed(live.instance, tr)
        if tr.cancel:
            self._abandon(live, tr.cancel)
        for run in tr.timers:
            if self._arms_here(run):  # a far task deadline is left to the sweep (recovery.py)
                self._arm(live, run, self._fire_timer)
        now = self.clock()
        for run in tr.start:
            if run is follow:
                continue
            if run.scheduled_for is not None and run.scheduled_for > now:
                self._arm(live, run, self._spawn)
            else:
                self._spawn(live, run)
        if live.waiters:
            self._notify(live)
        if follow is None:
            self._release_if_idle(live)
        return follow

    def _spawn(self, live: Live, run: StepExecution, *, eager: bool = False) -> None:
        """Publish ``run`` (its transition has committed) instead of running it here."""
        live.timers.pop(run.id.int, None)  # type: ignore[union-attr]
        message = StepMessage(run.id, run.attempt)  # type: ignore[arg-type]
        if self.telemetry is not None:  # the worker's span joins the instance's trace
            message = self.telemetry.stamp(message, live.instance)
        self._outbox.append(message)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def flush(self) -> None:
        """Wait until every message of the transitions committed so far is handed to the broker.

        :meth:`stop` does it too; a script that starts workflows and exits needs one of them.
        """
        while self._flusher is not None and not self._flusher.done():
            await asyncio.shield(self._flusher)
        await self._flush()

    async def _flush(self) -> None:
        """Publish what the last loop turns committed, in one call per batch."""
        while self._outbox:
            batch, self._outbox = self._outbox, []
            try:
                await self.transport.publish(batch)
            except Exception:
                logger.warning(
                    "publishing %d step messages failed; the sweep publishes them again after %ss",
                    len(batch),
                    self.lease_seconds,
                    exc_info=True,
                )

    # ------------------------------------------------------------------ the worker side

    async def handle(self, raw: str | bytes | dict[str, Any] | StepMessage) -> bool:
        """Run the execution a broker message names, if this worker can claim it.

        Returns once its outcome is committed (or dropped); ``True`` when it ran here. Nothing
        raises for bad input: a malformed message, an unknown execution, a duplicate or stale
        message and a workflow this worker's registry lacks are logged and dropped, so the
        broker acknowledges them.
        """
        drive = await self.accept(raw)
        if drive is None:
            return False
        try:
            await drive
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this worker stops; the step's lease is released and it runs elsewhere
            return False  # abandoned here: cancelled, or taken over by another worker
        return True

    async def accept(self, raw: str | bytes | dict[str, Any] | StepMessage) -> asyncio.Task[None] | None:
        """Claim the execution a broker message names and start running it in this loop.

        Returns the task that runs it once the claim is committed, or ``None`` when the message
        was dropped (logged as :meth:`handle` says). For brokers whose task must return before
        the step ends (Celery's sync tasks): the lease, not the broker, guards the running step.
        """
        try:
            message = StepMessage.parse(raw)
        except MalformedMessageError as error:
            logger.warning("dropping a malformed broker message: %s", error)
            return None
        if self.telemetry is not None:
            self.telemetry.received(message)
        instance_id = await self.ledger.claim(message.execution_id, message.attempt)
        if instance_id is None:
            await self._log_unclaimed(message)
            return None
        live = await self._claimed(instance_id, message)
        if live is None:
            return None
        run = live.instance.runtime.active[message.execution_id.int]
        return asyncio.create_task(self._drive(live, run))

    async def _claimed(self, instance_id: UUID, message: StepMessage) -> Live | None:
        """The instance of a claimed execution with that execution active; releases it if impossible."""
        key = message.execution_id.int
        try:
            live = await self._live_instance(instance_id)
            run = live.instance.runtime.active.get(key)
            if (
                run is None
                or run.attempt != message.attempt
                or key in live.running
                or run.id in live.instance.runtime.held  # paused here; maybe resumed elsewhere since
            ):
                live.instance.runtime.stale = True  # a cached copy from before this execution
                await self._reload(live)
                run = live.instance.runtime.active.get(key)
        except WorkflowNotFoundError as error:
            logger.error(
                "cannot run execution %s of instance %s: %s in this worker's registry; "
                "released for a worker that has it",
                message.execution_id,
                instance_id,
                error,
            )
            await self.ledger.release([message.execution_id], publish_again=True)
            return None
        except WorkflowsError:
            logger.exception("cannot load instance %s for execution %s", instance_id, message.execution_id)
            await self.ledger.release([message.execution_id], publish_again=True)
            return None
        if run is not None and run.id in live.instance.runtime.held:
            logger.debug("execution %s waits for its paused instance to resume; dropped", run.id)
            await self.ledger.release([message.execution_id])
            return None
        if run is None or run.attempt != message.attempt or key in live.running:
            logger.warning(
                "execution %s (attempt %s) is not active in instance %s as stored; dropped",
                message.execution_id,
                message.attempt,
                instance_id,
            )
            await self.ledger.release([message.execution_id])
            return None
        return live

    async def _log_unclaimed(self, message: StepMessage) -> None:
        try:
            unclaimed = await self.ledger.explain(message.execution_id, message.attempt)
        except WorkflowsError:
            logger.debug("message for execution %s claims nothing", message.execution_id)
            return
        if unclaimed.unknown:
            logger.warning("dropping a message for unknown execution %s", message.execution_id)
        else:
            logger.debug(
                "dropping a message for execution %s attempt %s: %s",
                message.execution_id,
                message.attempt,
                unclaimed.reason(),
            )

    # ------------------------------------------------------------------ leases and the sweep

    async def recover(self) -> int:
        """Publish lost work again and fire due timers; returns how many executions were found."""
        lost = await self.ledger.lost_work(timedelta(seconds=self.lease_seconds))
        if lost:
            logger.info("publishing %d executions again (lease expired or never claimed)", len(lost))
            messages = [StepMessage(execution_id, attempt) for execution_id, attempt, _ in lost]
            # A transport that can tell a lost message from one still queued behind a backlog
            # publishes only the lost ones (see SAQTransport.republish); others publish them all.
            republish = getattr(self.transport, "republish", None)
            if republish is None:
                self._outbox.extend(messages)
                await self._flush()
            else:
                try:
                    await republish(messages)
                except Exception:
                    logger.warning(
                        "publishing %d step messages again failed; the next sweep tries again",
                        len(messages),
                        exc_info=True,
                    )
        timers = await self.ledger.due_timers()
        for execution_id, _, instance_id in timers:
            await self._continue_claimed(instance_id, execution_id)
        return len(lost) + len(timers)

    async def _sweep(self) -> None:
        """Renew leases every third of a lease; sweep for lost work every ``sweep_interval``."""
        loop = asyncio.get_running_loop()
        tick = min(self.sweep_interval, self.lease_seconds / 3)
        swept = loop.time()
        while True:
            await asyncio.sleep(tick)
            try:
                await self._renew()
                if loop.time() - swept >= self.sweep_interval:
                    swept = loop.time()
                    await self.recover()
            except Exception:  # the database may be briefly away; try again next round
                logger.exception("the sweep failed; retrying")

    async def _renew(self) -> None:
        running = [key for live in self._live.values() for key in live.running]
        if not running:
            return
        held = {execution_id.int for execution_id in await self.ledger.renew(UUID(int=k) for k in running)}
        for key in running:
            task = self._tracking.executing.get(key)
            if key not in held and task is not None:
                logger.info(
                    "execution %s is no longer ours (cancelled or taken over); stopping it", UUID(int=key)
                )
                task.cancel()


__all__ = ("DistributedExecutionEngine",)
