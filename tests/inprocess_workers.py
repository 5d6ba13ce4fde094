"""The SAQ and Celery engines on a real Redis, with their workers in the test's process and loop.

The contract suite defines steps as closures and holds them with asyncio gates of the test's
event loop, so its workers cannot be other processes: here they are the backends' own workers
(``saq.Worker`` built from ``engine.worker_settings()``; Celery's embedded worker from
``celery.contrib.testing``) consuming from a ``redis-server`` private to the test, each with its
own engine and lease owner. Everything between the client's commit and a worker's claim is the
real broker path; only the process boundary is missing, and the kill tests in
``integration/distributed`` cover that.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest

from private_redis import RedisServer, free_port

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowRegistry
    from litestar_workflows.contrib.celery import CeleryExecutionEngine
    from litestar_workflows.contrib.saq import SAQExecutionEngine
    from litestar_workflows.engine.distributed import DistributedExecutionEngine

BROKER_KINDS = ("saq", "celery")


def skip_without_redis() -> None:
    """Skip (with ``WORKFLOWS_REQUIRE_SERVICES=1``: fail) the test when ``redis-server`` is missing."""
    if shutil.which("redis-server"):
        return
    reason = "redis-server is not installed"
    if os.environ.get("WORKFLOWS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (WORKFLOWS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@asynccontextmanager
async def _private_redis() -> AsyncIterator[RedisServer]:
    server = RedisServer(free_port())
    await asyncio.to_thread(server.start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.kill)


@asynccontextmanager
async def broker_cluster(
    kind: str, db: ScratchDatabase, registry: WorkflowRegistry, **options: Any
) -> AsyncIterator[DistributedExecutionEngine]:
    """A started client engine of ``kind`` ("saq" or "celery") whose steps in-process workers run."""
    cluster = {"saq": saq_cluster, "celery": celery_cluster}[kind]
    async with cluster(db, registry, **options) as client:
        yield client


def _options(lease_seconds: float, sweep_interval: float, options: dict[str, Any]) -> dict[str, Any]:
    return {
        "lease_seconds": lease_seconds,
        "sweep_interval": sweep_interval,
        "poll_interval": 0.05,
        **options,
    }


@asynccontextmanager
async def saq_cluster(
    db: ScratchDatabase,
    registry: WorkflowRegistry,
    *,
    workers: int = 2,
    lease_seconds: float = 3.0,
    sweep_interval: float = 0.5,
    **options: Any,
) -> AsyncIterator[SAQExecutionEngine]:
    """A client ``SAQExecutionEngine`` and ``workers`` ``saq.Worker`` objects on one private Redis."""
    from saq import Queue

    from litestar_workflows.contrib.saq import SAQExecutionEngine

    await db.migrate()
    db_engine = db.create_engine()
    settings = _options(lease_seconds, sweep_interval, options)

    def engine(name: str, redis_url: str) -> SAQExecutionEngine:
        queue = Queue.from_url(redis_url)  # a queue (a connection pool) per engine, as per process
        return SAQExecutionEngine(queue, db_engine, registry, owner=name, concurrency=16, **settings)

    async with _private_redis() as redis, contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db_engine.dispose)
        client = engine("client", redis.url)
        await client.start()
        stack.push_async_callback(client.stop)
        for n in range(workers):
            await stack.enter_async_context(_saq_worker(engine(f"worker-{n}", redis.url)))
        yield client


@asynccontextmanager
async def _saq_worker(engine: SAQExecutionEngine) -> AsyncIterator[None]:
    """``engine``'s SAQ worker running on this loop until the block ends (its own startup/shutdown)."""
    from saq import Worker

    settings = engine.worker_settings()
    ready = asyncio.Event()
    startup: Callable[[dict[str, Any]], Any] = settings["startup"]

    async def started(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        ready.set()

    worker = Worker(**{**settings, "startup": started})
    worker.SIGNALS = []  # the test runner owns SIGINT/SIGTERM, not a worker inside it
    await engine.queue.connect()
    running = asyncio.create_task(worker.start())
    try:
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({running, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if running.done():
            running.result()  # the worker's startup failed: raise it here
            raise RuntimeError("the SAQ worker stopped before it started")
        yield
    finally:
        await worker.stop()  # its shutdown hook stops the engine
        await running
        await engine.queue.disconnect()


@asynccontextmanager
async def celery_cluster(
    db: ScratchDatabase,
    registry: WorkflowRegistry,
    *,
    lease_seconds: float = 3.0,
    sweep_interval: float = 0.5,
    **options: Any,
) -> AsyncIterator[CeleryExecutionEngine]:
    """A client ``CeleryExecutionEngine`` and one embedded Celery worker on one private Redis.

    The worker's engine runs on the test's loop (:meth:`WorkerLoop.adopt`) instead of the loop
    thread a worker process starts, so that steps may wait on the test's asyncio gates. One
    worker: Celery's embedded workers share process-wide state (the stop flag, kombu's hub), so
    two in one process would not be two independent workers; the SAQ cluster has two.
    """
    from celery import Celery

    from litestar_workflows.contrib.celery import CeleryExecutionEngine

    await db.migrate()
    db_engine = db.create_engine()
    settings = _options(lease_seconds, sweep_interval, options)
    async with _private_redis() as redis, contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(db_engine.dispose)
        client = CeleryExecutionEngine(
            Celery("client", broker=redis.url), db_engine, registry, owner="client", **settings
        )
        await client.start()
        stack.push_async_callback(client.stop)
        worker_app = Celery("worker-0", broker=redis.url)
        worker_app.conf.worker_hijack_root_logger = False  # pytest's log capture stays in place
        # Redis's blocking pop wakes every 0.1 s instead of every 1 s: stopping the worker waits for it.
        worker_app.conf.broker_transport_options = {"polling_interval": 0.1}
        worker = CeleryExecutionEngine(worker_app, db_engine, registry, owner="worker-0", **settings)
        await worker.start()
        stack.push_async_callback(worker.worker_loop.close)
        worker.worker_loop.adopt(asyncio.get_running_loop())
        await stack.enter_async_context(_celery_worker(worker_app))
        yield client


@asynccontextmanager
async def _celery_worker(app: Any) -> AsyncIterator[None]:
    """Celery's embedded worker (solo pool, in a thread) consuming for ``app`` until the block ends.

    Entered and left in a thread: starting waits for the worker to consume and stopping joins its
    thread, while this loop must keep running the steps it hands over.
    """
    from celery.contrib.testing.worker import start_worker

    embedded = start_worker(
        app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
    )
    await asyncio.to_thread(embedded.__enter__)
    try:
        yield
    finally:
        await asyncio.to_thread(embedded.__exit__, None, None, None)


__all__ = ("BROKER_KINDS", "broker_cluster", "celery_cluster", "saq_cluster", "skip_without_redis")
