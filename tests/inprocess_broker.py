"""An in-process broker for the distributed core: one asyncio queue feeding N worker engines.

Not a mock of a broker's guarantees but the weakest broker there is, on purpose: messages go to
whichever worker's consumer takes them first, each worker handles many at once (so claims and
commits are grouped as with a real broker), and a test may drop or duplicate messages to play a
Redis restart or a redelivery. The workers are real ``DistributedExecutionEngine`` objects with
their own store (own lease owner) on the test's database; only the process boundary is missing.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from litestar_workflows.engine.distributed import DistributedExecutionEngine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowRegistry
    from litestar_workflows.engine.messages import StepMessage


class QueueTransport:
    """Publishes step messages as JSON onto one asyncio queue; counts what it carried."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.published: list[StepMessage] = []
        self.drop = False
        """While set, published messages are lost (as in a Redis restart without persistence)."""

    async def publish(self, messages: Sequence[StepMessage]) -> None:
        self.published.extend(messages)
        if self.drop:
            return
        for message in messages:
            self.queue.put_nowait(message.to_json())


class Cluster:
    """A client engine and N worker engines sharing one database and one queue."""

    def __init__(self, client: DistributedExecutionEngine, workers: list[DistributedExecutionEngine]) -> None:
        self.client = client
        self.workers = workers
        self.transport: QueueTransport = client.transport  # type: ignore[assignment]
        self.handled: dict[str, int] = {worker.sql_store.owner: 0 for worker in workers}
        self._consumers: list[asyncio.Task[None]] = []
        self._handling: set[asyncio.Task[bool]] = set()

    def start_consumers(self) -> None:
        for worker in self.workers:
            self._consumers.append(asyncio.create_task(self._consume(worker)))

    async def _consume(self, worker: DistributedExecutionEngine) -> None:
        queue = self.transport.queue
        owner = worker.sql_store.owner
        while True:
            raw = await queue.get()
            task = asyncio.create_task(worker.handle(raw))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
            task.add_done_callback(lambda t, o=owner: self._count(t, o))

    def _count(self, task: asyncio.Task[bool], owner: str) -> None:
        if not task.cancelled() and task.exception() is None and task.result():
            self.handled[owner] += 1

    async def idle(self) -> None:
        """Until every message taken so far is handled: its step ran and its outcome settled."""
        while self._handling:
            await asyncio.wait(set(self._handling))

    async def stop_consumers(self) -> None:
        for task in [*self._consumers, *self._handling]:
            task.cancel()
        await asyncio.gather(*self._consumers, *self._handling, return_exceptions=True)
        self._consumers.clear()


@asynccontextmanager
async def inprocess_cluster(
    db: ScratchDatabase,
    registry: WorkflowRegistry,
    *,
    workers: int = 2,
    lease_seconds: float = 3.0,
    sweep_interval: float = 0.5,
    **options: Any,
) -> AsyncIterator[Cluster]:
    """A started client and ``workers`` worker engines on ``db`` (migrated first), torn down after."""
    await db.migrate()
    db_engine = db.create_engine()
    transport = QueueTransport()

    def engine(name: str) -> DistributedExecutionEngine:
        return DistributedExecutionEngine(
            db_engine,
            transport,
            registry,
            lease_seconds=lease_seconds,
            sweep_interval=sweep_interval,
            poll_interval=0.05,
            owner=name,
            **options,
        )

    client = engine("client")
    cluster = Cluster(client, [engine(f"worker-{n}") for n in range(workers)])
    started: list[DistributedExecutionEngine] = []
    try:
        for member in (client, *cluster.workers):
            await member.start()
            started.append(member)
        cluster.start_consumers()
        yield cluster
    finally:
        await cluster.stop_consumers()
        for member in reversed(started):
            await member.stop()
        await db_engine.dispose()
