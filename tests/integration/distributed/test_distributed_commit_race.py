"""Two branches of one instance committed by one worker while another worker commits a third.

The Celery fan-out test lost a branch now and then (instance COMPLETED after a, b and c but
without its join, one branch's context changes gone). The interleaving behind it, forced here
step by step with gates instead of hoped for:

1. worker 1 runs branches ``a`` and ``c`` of one instance on one copy; worker 2 runs ``b``;
2. ``a`` ends: worker 1 applies it to its copy (version 2 -> 3) and its commit waits in the
   group-commit writer;
3. ``b`` ends on worker 2 and commits: the stored instance is at version 3 now, without ``a``;
4. ``c`` ends: worker 1 applies it on top of ``a`` (3 -> 4) and submits it behind ``a``;
5. ``a`` loses the version check (2 expected, 3 stored). ``c`` expected version 3, and version 3
   is stored, though a different one: before the fix it was written, with ``a``'s changes it was
   computed from and without ``b``. The reloaded copy then had ``a`` active and arrived at the
   join already, so applying ``a`` again completed the instance without the join.

A transition computed on top of one that failed must fail too, and be applied again on a
reloaded copy.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING, Any

from inprocess_broker import QueueTransport
from litestar_workflows import Edge, ParallelGateway, WorkflowDefinition, WorkflowRegistry
from litestar_workflows.engine.distributed import DistributedExecutionEngine
from litestar_workflows.engine.messages import StepMessage
from step_kit import FINISHED, Fn, statuses

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext
    from litestar_workflows.runtime.transition import Transition

TIMEOUT = 30.0
BRANCHES = ("a", "b", "c")


class Gates:
    """Per step: an event set when it starts, and one the test sets to let it finish."""

    def __init__(self, names: Sequence[str]) -> None:
        self.started = {name: asyncio.Event() for name in names}
        self.go = {name: asyncio.Event() for name in names}
        self.calls: Counter[str] = Counter()

    def step(self, name: str) -> Fn:
        async def work(context: WorkflowContext) -> None:
            self.calls[name] += 1
            if name in self.go:
                self.started[name].set()
                await self.go[name].wait()
            context.set(name, True)

        return Fn(name, work)


def fan(gates: Gates) -> WorkflowDefinition:
    """fork -> a, b, c -> join -> close."""
    return WorkflowDefinition(
        name="race",
        version="1.0.0",
        steps=[ParallelGateway("fork"), *(gates.step(n) for n in (*BRANCHES, "join", "close"))],
        edges=[
            *(Edge("fork", x) for x in BRANCHES),
            *(Edge(x, "join") for x in BRANCHES),
            Edge("join", "close"),
        ],
        initial_step="fork",
    )


def hold_first_write(engine: DistributedExecutionEngine) -> tuple[asyncio.Event, asyncio.Event]:
    """Make the engine's next group commit wait, before it looks at the database, until released.

    Returns (held: set once the writer waits, release: set it to let the writer go on).
    """
    store = engine.sql_store
    write = store._write
    held, release = asyncio.Event(), asyncio.Event()

    async def gated(batch: Any, lane: Any) -> None:
        if not held.is_set():
            held.set()
            await release.wait()
        await write(batch, lane)

    store._write = gated  # type: ignore[method-assign]
    return held, release


def count_submissions(engine: DistributedExecutionEngine) -> Callable[[int], Awaitable[None]]:
    """Count the transitions the engine submits to its store; returns ``reached(n)`` to wait for n."""
    store = engine.sql_store
    commit = store.commit
    submitted: list[Transition] = []
    changed = asyncio.Event()

    def counting(transitions: Sequence[Transition]) -> Awaitable[None]:
        result = commit(transitions)
        submitted.extend(transitions)
        changed.set()
        return result

    async def reached(n: int) -> None:
        async with asyncio.timeout(TIMEOUT):
            while len(submitted) < n:
                changed.clear()
                await changed.wait()

    store.commit = counting  # type: ignore[method-assign]
    return reached


async def next_messages(engine: DistributedExecutionEngine, transport: QueueTransport) -> list[StepMessage]:
    """The messages of what ``engine`` committed so far (handed to the in-process queue)."""
    await engine.flush()
    found = []
    while not transport.queue.empty():
        found.append(StepMessage.parse(transport.queue.get_nowait()))
    return found


async def pump(transport: QueueTransport, worker: DistributedExecutionEngine) -> None:
    """Hand every later message to ``worker`` (the rest of the workflow, no gates)."""
    handling: set[asyncio.Task[bool]] = set()
    while True:
        raw = await transport.queue.get()
        task = asyncio.create_task(worker.handle(raw))
        handling.add(task)
        task.add_done_callback(handling.discard)


async def test_a_branch_committed_behind_one_that_lost_the_version_check_is_applied_again(
    scratch_database: ScratchDatabase,
) -> None:
    gates = Gates(BRANCHES)
    registry = WorkflowRegistry()
    registry.register(fan(gates))
    await scratch_database.migrate()
    db_engine = scratch_database.create_engine()
    transport = QueueTransport()

    def engine(name: str) -> DistributedExecutionEngine:
        # Long leases and sweeps: nothing is taken over or published again during the test.
        return DistributedExecutionEngine(
            db_engine,
            transport,
            registry,
            lease_seconds=60,
            sweep_interval=60,
            poll_interval=0.05,
            owner=name,
        )

    client, w1, w2 = engine("client"), engine("worker-1"), engine("worker-2")
    started: list[DistributedExecutionEngine] = []
    handlers: list[asyncio.Task[bool]] = []
    pumping: asyncio.Task[None] | None = None
    try:
        for member in (client, w1, w2):
            await member.start()
            started.append(member)
        instance = await client.start_workflow("race")
        [fork] = await next_messages(client, transport)
        # 1. a and c on worker 1 (one copy of the instance), b on worker 2; all three running.
        # The worker that runs the fork runs its first branch, a, itself (no message); b and c
        # are published once the fork's transition has committed, before a starts.
        handlers = [asyncio.create_task(w1.handle(fork))]
        async with asyncio.timeout(TIMEOUT):
            await gates.started["a"].wait()
        branch_messages = await next_messages(w1, transport)
        stored = await client.store.load_instance(instance.id)
        assert stored is not None
        step_of = {run.id: run.step_name for run in stored.step_history}
        by_step = {step_of[m.execution_id]: m for m in branch_messages}
        assert sorted(by_step) == ["b", "c"]
        handlers += [
            asyncio.create_task(w1.handle(by_step["c"])),
            asyncio.create_task(w2.handle(by_step["b"])),
        ]
        for name in BRANCHES:
            async with asyncio.timeout(TIMEOUT):
                await gates.started[name].wait()
        held, release = hold_first_write(w1)
        reached = count_submissions(w1)
        # 2. a ends; its commit waits in worker 1's writer.
        gates.go["a"].set()
        async with asyncio.timeout(TIMEOUT):
            await held.wait()
        # 3. b ends and commits on worker 2.
        gates.go["b"].set()
        async with asyncio.timeout(TIMEOUT):
            assert await handlers[2]
        # 4. c ends on worker 1: applied on top of a, submitted behind it.
        gates.go["c"].set()
        await reached(2)
        # 5. a's commit loses the version check; c's must not be written on a's stale state.
        release.set()
        pumping = asyncio.create_task(pump(transport, w2))  # join and close, wherever they go
        done = await client.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(*handlers)
        final = await client.store.load_instance(instance.id)
    finally:
        if pumping is not None:
            pumping.cancel()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, *([pumping] if pumping else []), return_exceptions=True)
        for member in reversed(started):
            await member.stop()
        await db_engine.dispose()
    assert done.status == "completed", (done.status, done.error)
    assert final is not None
    # Every branch's changes are there and the join ran, once.
    assert final.data == {"a": True, "b": True, "c": True, "join": True, "close": True}, final.data
    assert {name: len(runs) for name, runs in statuses(final).items()} == dict.fromkeys(
        ("fork", *BRANCHES, "join", "close"), 1
    )
    assert gates.calls == dict.fromkeys((*BRANCHES, "join", "close"), 1)
