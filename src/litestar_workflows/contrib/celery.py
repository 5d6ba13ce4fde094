"""Celery driver: step messages travel as Celery tasks; workers are started with Celery's own CLI.

This module only moves messages: a task carries ``{"execution": ..., "attempt": ...}`` as its one
JSON argument, and the task hands it to :meth:`DistributedExecutionEngine.accept` in the worker
process's event loop (:mod:`litestar_workflows.contrib._celery_loop`). Claims, leases, the sweep and
everything a workflow means live in :mod:`litestar_workflows.engine.distributed`.

Constructing the engine registers its task on the Celery app, with the settings that keep Celery
from second-guessing the database: ``acks_late`` with ``reject_on_worker_lost`` (a message whose
pool child died is delivered again rather than lost), no result stored anywhere, JSON only, and a
prefetch multiplier of 1 (a worker reserves no more messages than it can start). Celery retries,
countdowns and ETAs are never used: a failed or lost message is published again by the sweep, and
timers fire from the database.

Example worker module (``celery -A myapp.worker:celery_app worker``)::

    from celery import Celery
    from litestar_workflows.contrib.celery import CeleryExecutionEngine
    from myapp.workflows import registry

    celery_app = Celery("myapp", broker="redis://localhost:6379/0")
    engine = CeleryExecutionEngine(celery_app, "postgresql+asyncpg://...", registry)
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from litestar_workflows.contrib._celery_loop import WorkerLoop
from litestar_workflows.core.errors import WorkflowsError
from litestar_workflows.core.step_settings import require_positive
from litestar_workflows.engine.distributed import DistributedExecutionEngine
from litestar_workflows.engine.messages import BrokerUnavailableError

try:
    from celery import current_app, signals
except ImportError as error:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "CeleryExecutionEngine needs Celery: pip install 'litestar-workflows[celery]'"
    ) from error

if TYPE_CHECKING:
    from collections.abc import Sequence

    from celery import Celery

    from litestar_workflows.core.events import EventBus
    from litestar_workflows.engine.messages import StepMessage
    from litestar_workflows.engine.registry import WorkflowRegistry

logger = logging.getLogger("litestar_workflows.distributed")

TASK_NAME = "litestar_workflows.run_step"
"""The Celery task name of step messages (distinct from an application's own tasks)."""
_CONNECT_TIMEOUT = 5.0
TASK_OPTIONS: dict[str, Any] = {
    "acks_late": True,  # acknowledged once handed over, not when received
    "reject_on_worker_lost": True,  # a killed pool child's message is delivered again, not lost
    "ignore_result": True,  # no result backend: the database holds every outcome
    "store_errors_even_if_ignored": False,
    "serializer": "json",
    "max_retries": 0,  # the sweep publishes lost work again; Celery never retries blindly
    "typing": False,
    "bind": True,
}
"""The options our task is registered with (documented in the README)."""

_engines: dict[int, CeleryExecutionEngine] = {}
"""The engine each Celery app's task hands messages to (the last one built for that app)."""


def broker_url(celery_app: Celery) -> str:
    """Where ``celery_app`` publishes, for error messages (kombu masks the password)."""
    try:
        uri = str(celery_app.connection_for_write().as_uri())  # "redis://:**@host..." when masked
        return (
            uri.replace("//:**@", "//")
            if "//:**@" in uri and "@" not in str(celery_app.conf.broker_url)
            else uri
        )
    except Exception:  # a broken URL: say what was configured
        return str(celery_app.conf.broker_write_url or celery_app.conf.broker_url)


class CeleryTransport:
    """Publishes step messages as tasks, from a thread: ``apply_async`` blocks on the network.

    One call per batch acquires one producer (one broker connection) for all its messages, so
    the event loop pays one thread hop per batch, not per message.
    """

    def __init__(self, celery_app: Celery, queue: str | None = None) -> None:
        self.celery_app = celery_app
        self.queue = queue

    async def publish(self, messages: Sequence[StepMessage]) -> None:
        """Send one task per message, in a worker thread of the running loop."""
        bodies = [message.to_json() for message in messages]
        await asyncio.to_thread(self.publish_now, bodies)

    def publish_now(self, bodies: Sequence[str]) -> None:
        """Send the tasks from this thread (blocking)."""
        task = self.celery_app.tasks[TASK_NAME]
        options: dict[str, Any] = {"queue": self.queue} if self.queue else {}
        with self.celery_app.producer_or_acquire() as producer:
            for body in bodies:
                task.apply_async((body,), producer=producer, **options)


def _run_step(task: Any, message: str) -> None:
    """The Celery task: hand the message to this process's engine loop (see ``_celery_loop``)."""
    engine = _engines.get(id(task.app))
    if engine is None:  # pragma: no cover - the task is only registered by an engine
        raise RuntimeError("no CeleryExecutionEngine was built for this Celery app in this process")
    engine.worker_loop.submit(message)


class CeleryExecutionEngine(DistributedExecutionEngine):
    """Runs workflow steps as Celery tasks on worker processes; any process may start and act.

    Args:
        celery_app: The Celery app step tasks go through; its task is registered here.
        persistence: A database URL, an ``AsyncEngine``, an ``async_sessionmaker``, an
            ``AsyncSession`` or a ``SQLAlchemyStore`` (the same database for every process); a
            store then leases for this engine's ``lease_seconds`` and ``owner``.
        registry: Where workflows are looked up; when omitted the engine starts with an empty
            one: register your workflows on ``engine.registry`` in a module the web app and the
            workers both import.
        lease_seconds: How long a worker holds a step without renewing it (a dead worker's steps
            run again after this), and how long a published step may wait unclaimed before the
            sweep publishes it again (a lost message).
        sweep_interval: Seconds between sweeps for lost work and due timers.
        event_bus: Receives the events of transitions this process commits.
        queue: The Celery queue of step tasks (default: the app's default queue); workers must
            consume it (``-Q``).
        max_running: Steps one worker process runs at once (their claims and commits are grouped).
        synchronous_commit: How this process's store commits (relaxed commits are opt-in): as
            :class:`DistributedExecutionEngine` takes it.
        **options: Passed to :class:`DistributedExecutionEngine`.

    Examples:
        >>> celery_app = Celery("myapp", broker="redis://localhost:6379/0")  # doctest: +SKIP
        >>> engine = CeleryExecutionEngine(celery_app, url, registry)  # doctest: +SKIP
        >>> async with engine:  # doctest: +SKIP
        ...     instance = await engine.start_workflow("expense", {"amount": 120})
    """

    def __init__(
        self,
        celery_app: Celery,
        persistence: Any,
        registry: WorkflowRegistry | None = None,
        *,
        lease_seconds: float = 30.0,
        sweep_interval: float = 5.0,
        event_bus: EventBus | None = None,
        queue: str | None = None,
        max_running: int = 64,
        synchronous_commit: bool | None = None,
        **options: Any,
    ) -> None:
        require_positive("max_running", max_running, integer=True)
        super().__init__(
            persistence,
            CeleryTransport(celery_app, queue),
            registry,
            lease_seconds=lease_seconds,
            sweep_interval=sweep_interval,
            event_bus=event_bus,
            synchronous_commit=synchronous_commit,
            **options,
        )
        self.celery_app = celery_app
        self.worker_loop = WorkerLoop(self, max_running, grace=min(lease_seconds, 30.0))
        self._refused_start: Exception | None = None
        """Why this process's worker stopped at once (see ``_on_worker_ready``), for ``run_worker``."""
        self._register()

    def _register(self) -> None:
        """Register the step task on the app and follow the worker's lifecycle through signals."""
        app = self.celery_app
        if id(app) in _engines:
            logger.debug("a new CeleryExecutionEngine takes over the step task of %r", app)
        _engines[id(app)] = self
        if TASK_NAME not in app.tasks:
            app.task(name=TASK_NAME, **TASK_OPTIONS)(_run_step)
        app.conf.worker_prefetch_multiplier = 1  # reserve one message per pool slot, no more
        # Weak receivers: an engine nobody holds any more stops listening.
        signals.worker_process_init.connect(self._on_process_init)
        signals.worker_ready.connect(self._on_worker_ready)
        signals.worker_process_shutdown.connect(self._on_shutdown)
        signals.worker_shutdown.connect(self._on_shutdown)

    # ------------------------------------------------------------------ worker lifecycle

    def _on_process_init(self, **_: Any) -> None:
        """A prefork pool child (or the solo pool's process) starts: start the engine loop here.

        The signal names no app, and every engine built in the process hears it: only the engine
        of the app this worker runs (Celery makes it the current app first) starts, not a client
        engine on another app that the worker module happens to build too.
        """
        if _engines.get(id(self.celery_app)) is self and current_app._get_current_object() is self.celery_app:
            self._start_loop()

    def _on_worker_ready(self, sender: Any = None, **_: Any) -> None:
        """The worker consumes: start here too unless prefork children run the tasks (threads pool).

        A worker whose engine cannot start (the database is unreachable, or not migrated) stops
        at once, as a SAQ worker does, instead of taking every message and failing it: its
        supervisor sees it exit, and until then the other workers get the messages. Under
        prefork the children start their own loops; the main process only checks the database.

        Raises:
            WorkerShutdown: The engine could not start; the log says why.
        """
        if (
            _engines.get(id(self.celery_app)) is not self
            or getattr(sender, "app", None) is not self.celery_app
        ):
            return
        from celery.concurrency.prefork import TaskPool as PreforkPool
        from celery.exceptions import WorkerShutdown

        prefork = isinstance(getattr(sender, "pool", None), PreforkPool)
        try:
            if prefork:
                # In a thread of its own: ``litestar workflows worker`` runs Celery's worker inside
                # a running event loop, where asyncio.run() is refused.
                with ThreadPoolExecutor(1, thread_name_prefix="litestar-workflows-check") as probe:
                    probe.submit(asyncio.run, self._check_database()).result()
            else:
                self.worker_loop.ensure_started()
        except Exception as error:
            self._refused_start = error
            logger.critical("the workflow engine cannot run steps in this worker; stopping it", exc_info=True)
            raise WorkerShutdown(
                f"the workflow engine did not start: {type(error).__name__}: {error}"
            ) from error

    async def _check_database(self) -> None:
        """Fail unless the database answers and is migrated; leave no connection behind (fork)."""
        try:
            await self.sql_store.check()
        finally:
            await self.sql_store.db_engine.dispose()

    def _start_loop(self) -> None:
        try:
            self.worker_loop.ensure_started()
        except Exception:
            logger.exception("the workflow engine did not start in this worker; the first task tries again")

    def _on_shutdown(self, **_: Any) -> None:
        self.worker_loop.shutdown()

    async def run_worker(self, *argv: str) -> None:
        """Run a Celery worker in this process until it is stopped (``litestar workflows worker``).

        The same as ``celery -A module:celery_app worker`` (extra ``argv`` as on that command line,
        e.g. ``"--pool=threads"``). Celery's worker blocks and must own the main thread (its signal
        handlers), so it runs right here; the coroutine returns when the worker exits.

        Raises:
            WorkflowsError: The worker stopped because its engine could not start (the database
                is unreachable or not migrated): the error that stopped it, so that the command
                fails and a supervisor starts it again.
            SystemExit: Celery's worker exited with a failure code.
        """
        try:
            self.celery_app.worker_main(["worker", "--loglevel=INFO", *argv])
        except SystemExit as exit_:
            if exit_.code not in (None, 0):
                raise
        # Celery's programmatic start drops the worker's exit code: a worker stopped because
        # its engine could not start would otherwise end like one that was asked to stop.
        refused = self._refused_start
        if refused is not None:
            if isinstance(refused, WorkflowsError):
                raise refused
            raise SystemExit(f"the workflow engine did not start: {type(refused).__name__}: {refused}")

    # ------------------------------------------------------------------ the broker connection

    async def open_transport(self) -> None:
        """Check that the broker answers.

        Raises:
            BrokerUnavailableError: The broker does not answer; the message names its URL.
        """
        try:
            await asyncio.to_thread(self._ping)
        except Exception as error:
            raise BrokerUnavailableError(
                f"the Celery broker at {broker_url(self.celery_app)} does not answer "
                f"({type(error).__name__}: {error})"
            ) from error

    def _ping(self) -> None:
        with self.celery_app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=_CONNECT_TIMEOUT)


__all__ = ("TASK_NAME", "TASK_OPTIONS", "CeleryExecutionEngine", "CeleryTransport", "broker_url")
