"""Two engines on one database: a transition queued behind one that lost the version check.

The durable twin of ``tests/integration/distributed/test_distributed_commit_race.py``. Engine 1
runs machine branches ``a`` and ``c`` of an instance on one copy; engine 2 (another process, a
web app) completes the human branch ``b`` in between. Forced with gates: ``a`` is applied and its
commit held in engine 1's writer; ``b`` commits (stored version 3); ``c`` is applied on top of
``a`` and queued behind it, expecting version 3. ``a`` loses the version check, and ``c`` must
not be written on ``a``'s state: before the fix it was, wiping out ``b`` (the stored instance
then had ``a`` arrived at the join but still active, and applying ``a`` again completed it
without the join).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from durable_support import running_engine

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    ParallelGateway,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn, Set, statuses

if TYPE_CHECKING:
    from collections.abc import Awaitable, Sequence

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext
    from litestar_workflows.runtime.transition import Transition

TIMEOUT = 30.0
MACHINE = ("a", "c")


def race(started: dict[str, asyncio.Event], go: dict[str, asyncio.Event]) -> WorkflowDefinition:
    """fork -> a (machine), b (human), c (machine) -> join -> close; a and c wait for their gate."""

    def gated(name: str) -> Fn:
        async def work(context: WorkflowContext) -> None:
            started[name].set()
            await go[name].wait()
            context.set(name, True)

        return Fn(name, work)

    return WorkflowDefinition(
        name="race",
        version="1.0.0",
        steps=[
            ParallelGateway("fork"),
            gated("a"),
            BaseHumanStep("b"),
            gated("c"),
            Set("join", join=True),
            Set("close", close=True),
        ],
        edges=[
            *(Edge("fork", x) for x in "abc"),
            *(Edge(x, "join") for x in "abc"),
            Edge("join", "close"),
        ],
        initial_step="fork",
    )


async def test_a_transition_queued_behind_a_lost_version_check_is_applied_again(
    scratch_database: ScratchDatabase,
) -> None:
    started = {name: asyncio.Event() for name in MACHINE}
    go = {name: asyncio.Event() for name in MACHINE}
    registry = WorkflowRegistry()
    registry.register(race(started, go))
    await scratch_database.migrate()
    async with (
        running_engine(scratch_database, registry) as one,
        running_engine(scratch_database, registry, poll_interval=0.05) as two,
    ):
        instance = await one.start_workflow("race")
        for name in MACHINE:
            async with asyncio.timeout(TIMEOUT):
                await started[name].wait()
        store = one.store
        write, commit = store._write, store.commit
        held, release, submitted = asyncio.Event(), asyncio.Event(), asyncio.Event()
        count: list[Transition] = []

        async def gated_write(batch: Any, lane: Any) -> None:
            if not held.is_set():
                held.set()  # engine 1's next commit waits here, before its version check
                await release.wait()
            await write(batch, lane)

        def counting_commit(transitions: Sequence[Transition]) -> Awaitable[None]:
            result = commit(transitions)
            count.extend(transitions)
            if len(count) == 2:
                submitted.set()
            return result

        store._write = gated_write
        store.commit = counting_commit
        go["a"].set()  # a is applied on engine 1's copy; its commit is held
        async with asyncio.timeout(TIMEOUT):
            await held.wait()
        await two.complete_human_task(instance.id, "b", "ann", {"b": True})  # version 3, stored
        go["c"].set()  # c is applied on top of a and queued behind it
        async with asyncio.timeout(TIMEOUT):
            await submitted.wait()
        release.set()
        done = await one.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
        final = await two.store.load_instance(instance.id)
    assert done.status is WorkflowStatus.COMPLETED, (done.status, done.error)
    assert final is not None
    assert final.data == {"a": True, "b": True, "c": True, "join": True, "close": True}, final.data
    assert {name: len(runs) for name, runs in statuses(final).items()} == dict.fromkeys(
        ("fork", "a", "b", "c", "join", "close"), 1
    )
