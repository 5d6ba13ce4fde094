"""One asyncio event loop per Celery worker process, in a thread, that the sync tasks hand work to.

Celery tasks are plain functions; the engine is async. ``asyncio.run`` per task would pay a new
loop and new database connections for every step (about 4 ms per database touch), and could not
share claims and commits between messages. So each process that runs tasks (a prefork pool
child, or the main process of the solo and threads pools) starts one loop in a daemon thread,
after any fork, and that loop owns the engine: its connection pool, its sweep, its leases.

A task hands its message to that loop (``call_soon_threadsafe``) and returns at once, unless the
process already holds ``max_running`` messages: then it blocks until one is done, so the worker
stops taking messages from the broker. It waits neither for the step nor for the claim. With
``acks_late`` the message is acknowledged when the task returns, and that is safe because the
broker is not what brings lost work back: a step whose process died keeps its lease, so Celery's
redelivery (at once for a killed pool child, after the visibility timeout for a killed worker)
would claim nothing anyway; the engine's sweep publishes it again once the lease runs out, and a
message lost before its claim is published again once it stayed unclaimed for ``lease_seconds``.
Waiting for the claim, or for the step, would hold a prefork child per message (one claim and one
instance load at a time, some 50 a second) where returning at once lets one loop claim and commit
many messages per statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litestar_workflows.engine.distributed import DistributedExecutionEngine

logger = logging.getLogger("litestar_workflows.distributed")

_START_TIMEOUT = 60.0


class WorkerLoop:
    """The engine's event loop in this worker process; started once per process, after fork.

    Args:
        engine: The engine whose :meth:`~DistributedExecutionEngine.accept` runs the messages.
        max_running: Steps this process runs at once; a task waits for a slot before it claims.
        grace: Seconds the steps still running at shutdown get to finish before they are
            cancelled and published again.
    """

    def __init__(self, engine: DistributedExecutionEngine, max_running: int, grace: float) -> None:
        self.engine = engine
        self.max_running = max_running
        self.grace = grace
        self.born = os.getpid()
        """The process that built the engine: a different pid at start means we were forked."""
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._free = threading.BoundedSemaphore(max_running)
        self._running: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._adopted = False

    def started(self) -> bool:
        """Whether this process's loop runs (a loop inherited through fork does not count)."""
        return self._pid == os.getpid() and self._loop is not None

    def ensure_started(self) -> None:
        """Start the loop thread and the engine in this process unless they run already.

        Raises:
            Exception: Whatever starting the engine raised (broker or database away); the next
                task tries again.
        """
        if self.started():
            return
        with self._lock:
            if self.started():
                return
            if self._adopted:
                raise RuntimeError("the event loop this worker adopted was closed; no step runs here now")
            self._free = threading.BoundedSemaphore(self.max_running)  # this process's own
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_run_loop, args=(loop,), name="litestar-workflows", daemon=True)
            thread.start()
            try:
                asyncio.run_coroutine_threadsafe(self._start(), loop).result(_START_TIMEOUT)
            except BaseException:
                loop.call_soon_threadsafe(loop.stop)
                thread.join(5)
                loop.close()
                raise
            self._loop, self._thread, self._pid = loop, thread, os.getpid()

    def adopt(self, loop: asyncio.AbstractEventLoop) -> None:
        """Run messages on ``loop``, an event loop this process already runs, not on a thread of ours.

        For a Celery worker embedded in a program that owns the loop the engine must live on (the
        contract tests run Celery's in-process worker so, because their steps wait on the test
        loop's asyncio primitives). That program has started the engine on ``loop`` and stops it
        with :meth:`close`; :meth:`shutdown` (Celery's shutdown signals) leaves it alone, since
        the owner's loop may well be blocked joining the worker that sends them.
        """
        with self._lock:
            self._free = threading.BoundedSemaphore(self.max_running)
            self._loop, self._thread, self._pid = loop, None, os.getpid()
            self._adopted = True

    async def close(self) -> None:
        """Stop an adopted loop's work from inside it: what :meth:`shutdown` does, the loop kept."""
        if self._adopted and self.started():
            self._loop = self._pid = None  # stays adopted: no thread of ours starts after this
            await self._stop()

    async def _start(self) -> None:
        store = self.engine.sql_store
        if os.getpid() != self.born:
            # A forked child: the parent's pooled connections are not ours to use (nor to
            # close), and each process needs a lease owner name of its own.
            await store.db_engine.dispose(close=False)
            store.owner = f"{store.owner}/{os.getpid()}"
        await self.engine.start()
        logger.info("workflow worker loop started in process %d (lease owner %s)", os.getpid(), store.owner)

    def submit(self, message: Any) -> None:
        """Hand a message to the loop; returns at once unless ``max_running`` messages are in hand.

        Raises:
            RuntimeError: The loop's thread has ended (what ended it was logged then): this process
                runs no step any more, and says so for every message instead of taking it silently.
        """
        self.ensure_started()
        if self._thread is not None and not self._thread.is_alive():
            raise RuntimeError(
                "the workflow engine's event loop thread in this worker process has ended (the error "
                "that ended it was logged); this process runs no step any more: restart the worker"
            )
        self._free.acquire()  # a full process holds its pool slot (and the broker its message)
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(self._begin, message)
        except RuntimeError:  # the loop stopped under us (shutdown): the sweep publishes it again
            self._free.release()
            raise

    def _begin(self, message: Any) -> None:
        task = asyncio.create_task(self._run(message))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, message: Any) -> None:
        try:
            drive = await self.engine.accept(message)
            if drive is not None:
                with contextlib.suppress(asyncio.CancelledError):  # taken over elsewhere
                    await drive
        except Exception:
            logger.exception("handling a step message failed; the sweep publishes its step again")
        finally:
            self._free.release()

    def shutdown(self) -> None:
        """Let running steps finish (up to ``grace`` seconds), stop the engine, end the loop."""
        if not self.started() or self._adopted:
            return
        loop, thread = self._loop, self._thread
        assert loop is not None
        assert thread is not None
        try:
            asyncio.run_coroutine_threadsafe(self._stop(), loop).result(self.grace + _START_TIMEOUT)
        except Exception:
            logger.exception("stopping the workflow engine failed; its leases run out instead")
        finally:
            self._loop = self._pid = None
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            with contextlib.suppress(RuntimeError):
                loop.close()

    async def _stop(self) -> None:
        if self._running:
            logger.info("waiting up to %ss for %d running steps", self.grace, len(self._running))
            await asyncio.wait(set(self._running), timeout=self.grace)
        await self.engine.stop()  # what still runs is cancelled, released and published again


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    """The loop thread's body: a loop ended by anything but :meth:`WorkerLoop.shutdown` is logged."""
    try:
        loop.run_forever()
    except BaseException:
        logger.critical(
            "the workflow engine's event loop in process %d ended; this worker runs no step any more",
            os.getpid(),
            exc_info=True,
        )  # and the thread ends: raising further would only print the same again


__all__ = ("WorkerLoop",)
