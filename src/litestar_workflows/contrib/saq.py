"""SAQ driver: step messages travel as SAQ jobs; workers are started with SAQ's own CLI.

This module only moves messages: a job carries ``{"execution": ..., "attempt": ...}`` and its
function hands it to :meth:`DistributedExecutionEngine.handle`. Claims, leases, the sweep and
everything a workflow means live in :mod:`litestar_workflows.engine.distributed`.

Jobs are made so that SAQ never second-guesses the database: no SAQ timeout (the engine's lease
notices a dead worker, and a step may run as long as its own ``timeout`` allows), one try (a
lost or failed job is published again by the engine's sweep), and nothing kept in Redis after
the job ends.

Example worker module (``saq myapp.worker.settings``)::

    from saq import Queue
    from litestar_workflows.contrib.saq import SAQExecutionEngine
    from myapp.workflows import registry

    queue = Queue.from_url("redis://localhost:6379/0")
    engine = SAQExecutionEngine(queue=queue, persistence="postgresql+asyncpg://...", registry=registry)
    settings = engine.worker_settings()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.step_settings import require_positive
from litestar_workflows.engine.distributed import DistributedExecutionEngine
from litestar_workflows.engine.messages import BrokerUnavailableError

try:
    from redis.exceptions import RedisError
    from saq import Job
    from saq.job import Status
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError("SAQExecutionEngine needs SAQ: pip install 'litestar-workflows[saq]'") from error

if TYPE_CHECKING:
    from collections.abc import Sequence

    from saq import Queue

    from litestar_workflows.core.events import EventBus
    from litestar_workflows.engine.messages import StepMessage
    from litestar_workflows.engine.registry import WorkflowRegistry

logger = logging.getLogger("litestar_workflows.distributed")

JOB_FUNCTION = "litestar_workflows.run_step"
"""The SAQ function name of step jobs (distinct from an application's own jobs on the same queue)."""
_CONNECT_TIMEOUT = 5.0
_STALE_JOB = "taken by a worker that never claimed its step; the sweep published it again"


def broker_url(queue: Queue) -> str:
    """Where ``queue`` looks for Redis, for error messages (without a password)."""
    redis = getattr(queue, "redis", None)
    kwargs = getattr(getattr(redis, "connection_pool", None), "connection_kwargs", {})
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    if "host" in kwargs:
        return f"redis://{kwargs['host']}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
    return repr(queue)


class SAQTransport:
    """Publishes step messages as SAQ jobs on one queue."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    async def publish(self, messages: Sequence[StepMessage]) -> None:
        """Enqueue one job per message (concurrently; SAQ bounds the Redis operations in flight)."""
        jobs = [_job(message) for message in messages]
        await asyncio.gather(*(self.queue.enqueue(job) for job in jobs))

    async def republish(self, messages: Sequence[StepMessage]) -> None:
        """Publish again what the sweep found unclaimed, unless its earlier job still waits in the queue.

        A queue backed up for longer than a lease holds executions that nobody claimed yet but
        whose jobs are not lost: publishing each again at every sweep made the backlog grow by
        one job per waiting execution and lease. The sweep's job for an execution and attempt has
        one key, so SAQ keeps at most one of them queued. A job under that key that a worker took
        and never claimed in the database (the worker died in between; SAQ does not sweep a job
        without a timeout) is dropped and the job enqueued afresh.
        """
        jobs = [
            _job(message, key=f"{JOB_FUNCTION}:{message.execution_id}:{message.attempt}:again")
            for message in messages
        ]
        queued = await asyncio.gather(*(self.queue.enqueue(job) for job in jobs))
        taken = [job for job, enqueued in zip(jobs, queued, strict=True) if enqueued is None]
        if not taken:
            return
        for job, earlier in zip(taken, await self.queue.jobs([job.key for job in taken]), strict=True):
            if earlier is not None and earlier.status == Status.QUEUED:
                continue  # still waiting for a worker: not lost
            if earlier is not None:
                await self.queue.finish(earlier, Status.ABORTED, error=_STALE_JOB)
            await self.queue.enqueue(job)


def _job(message: StepMessage, key: str | None = None) -> Job:
    """A step job: no SAQ timeout, one try, nothing kept after it ends (see the module's docstring)."""
    options: dict[str, Any] = {} if key is None else {"key": key}
    return Job(JOB_FUNCTION, kwargs={"message": message.to_json()}, timeout=0, retries=1, ttl=-1, **options)


class SAQExecutionEngine(DistributedExecutionEngine):
    """Runs workflow steps as SAQ jobs on worker processes; any process may start and act.

    Args:
        queue: The SAQ queue step jobs go to (``saq.Queue.from_url("redis://...")``).
        persistence: A database URL, an ``AsyncEngine``, an ``async_sessionmaker``, an
            ``AsyncSession`` or a ``SQLAlchemyStore`` (the same database for every process); a
            store then leases for this engine's ``lease_seconds`` and ``owner``.
        registry: Where workflows are looked up; when omitted the engine starts with an empty
            one: register your workflows on ``engine.registry`` in a module the web app and the
            workers both import.
        lease_seconds: How long a worker holds a step without renewing it (a dead worker's steps
            run again after this), and how long a published step may wait unclaimed before the
            sweep publishes it again (a lost job).
        sweep_interval: Seconds between sweeps for lost work and due timers.
        event_bus: Receives the events of transitions this process commits.
        concurrency: Jobs one worker process handles at once (their commits are grouped).
        synchronous_commit: How this process's store commits (relaxed commits are opt-in): as
            :class:`DistributedExecutionEngine` takes it.
        **options: Passed to :class:`DistributedExecutionEngine`.

    Examples:
        >>> queue = Queue.from_url("redis://localhost:6379/0")  # doctest: +SKIP
        >>> engine = SAQExecutionEngine(queue=queue, persistence=url, registry=registry)  # doctest: +SKIP
        >>> async with engine:  # doctest: +SKIP
        ...     instance = await engine.start_workflow("expense", {"amount": 120})
    """

    def __init__(
        self,
        queue: Queue,
        persistence: Any,
        registry: WorkflowRegistry | None = None,
        *,
        lease_seconds: float = 30.0,
        sweep_interval: float = 5.0,
        event_bus: EventBus | None = None,
        concurrency: int = 64,
        synchronous_commit: bool | None = None,
        **options: Any,
    ) -> None:
        require_positive("concurrency", concurrency, integer=True)
        super().__init__(
            persistence,
            SAQTransport(queue),
            registry,
            lease_seconds=lease_seconds,
            sweep_interval=sweep_interval,
            event_bus=event_bus,
            synchronous_commit=synchronous_commit,
            **options,
        )
        self.queue = queue
        self.concurrency = concurrency
        self.grace = min(lease_seconds, 30.0)
        """Seconds the steps still running when the worker stops get to finish."""
        self._connected_here = False
        self._in_worker = False
        self._running: set[asyncio.Task[None]] = set()

    def worker_settings(self) -> dict[str, Any]:
        """The settings dict SAQ's CLI takes: ``settings = engine.worker_settings()``.

        The worker's startup starts this engine (database check, sweep) and its shutdown stops
        it; on shutdown, running steps get ``lease_seconds`` (at most 30) to finish, then are
        cancelled and published again for another worker. That grace is ours, not SAQ's
        (``shutdown_grace_period_s`` is 0): SAQ's would also wait for its own idle upkeep loops,
        which sleep up to a minute, so that every stop, even of an idle worker, took all of it.
        """
        self._in_worker = True
        return {
            "queue": self.queue,
            "functions": [(JOB_FUNCTION, self._run_job)],
            "concurrency": self.concurrency,
            "dequeue_timeout": 1,  # idle job slots look up now and then, so a shutdown is prompt
            "startup": self._worker_startup,
            "shutdown": self._worker_shutdown,
            "shutdown_grace_period_s": 0,  # SAQ cancels its tasks at once; our steps go on (_run_job)
            # SAQ's own sweep only cleans up after dead workers' jobs; ours publishes the work again.
            "timers": {"sweep": max(60, int(self.lease_seconds))},
        }

    async def run_worker(self) -> None:
        """Run a SAQ worker in this process until SIGINT or SIGTERM (``litestar workflows worker``).

        The same as ``saq module.settings`` on a module holding ``engine.worker_settings()``.
        """
        from saq import Worker

        worker = Worker(**self.worker_settings())
        await self.queue.connect()
        try:
            await worker.start()
        finally:
            await self.queue.disconnect()

    async def _run_job(self, ctx: dict[str, Any], *, message: str) -> bool:
        """The SAQ job: claim and run the step, which SAQ's cancelling on shutdown does not reach.

        When the worker stops, SAQ cancels this job (and enqueues it again, which then claims
        nothing while our lease holds); the step goes on until the shutdown hook's grace ends.
        """
        drive = await self.accept(message)
        if drive is None:
            return False
        self._running.add(drive)
        drive.add_done_callback(self._running.discard)
        try:
            await asyncio.shield(drive)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the worker stops; the step runs on through the grace (_worker_shutdown)
            return False  # abandoned here: cancelled, or taken over by another worker
        return True

    async def _worker_startup(self, ctx: dict[str, Any]) -> None:
        await self.start()

    async def _worker_shutdown(self, ctx: dict[str, Any]) -> None:
        """Let the steps still running finish (up to :attr:`grace`), then stop the engine.

        Stopping cancels what still runs, releases its leases and publishes it again at once.
        """
        if self._running:
            logger.info("waiting up to %ss for %d running steps", self.grace, len(self._running))
            await asyncio.wait(set(self._running), timeout=self.grace)
        await self.stop()

    async def open_transport(self) -> None:
        """Connect the queue (unless SAQ's worker did) and check that Redis answers.

        Raises:
            BrokerUnavailableError: Redis does not answer; the message names its URL.
        """
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                if not self._in_worker:
                    self._connected_here = True
                    await self.queue.connect()
                redis = getattr(self.queue, "redis", None)
                if redis is not None:
                    await redis.ping()
        except (OSError, TimeoutError, RedisError) as error:
            with contextlib.suppress(OSError, TimeoutError, RedisError):
                await self.close_transport()  # it talks to Redis too, and Redis is away
            where = broker_url(self.queue)
            raise BrokerUnavailableError(
                f"the SAQ broker at {where} does not answer ({type(error).__name__}: {error})"
            ) from error

    async def close_transport(self) -> None:
        """Disconnect the queue if this engine connected it (SAQ's worker disconnects its own)."""
        if self._connected_here:
            self._connected_here = False
            await self.queue.disconnect()


__all__ = ("JOB_FUNCTION", "SAQExecutionEngine", "SAQTransport", "broker_url")
