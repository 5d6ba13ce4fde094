"""PostgreSQL: the store's statements lock step-execution rows in one order, so they never deadlock.

The sweep renews the leases of every running execution in one statement while the group-commit
writer upserts the executions of a batch; both lock the same rows. Locked in different orders,
PostgreSQL aborts one of them as a deadlock victim. The test makes them overlap as much as it can
(a very short lease and sweep interval, many chains whose steps sleep a little) and counts the
batches and sweeps that failed.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING

import pytest
from durable_support import running_engine

from litestar_workflows import Edge, WorkflowDefinition, WorkflowRegistry, WorkflowStatus
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

CHAINS = 500
STEPS = 6


def registry() -> WorkflowRegistry:
    pauses = random.Random(10)

    async def work(ctx: WorkflowContext) -> None:
        await asyncio.sleep(pauses.random() * 0.02)  # the steps' own work; not a synchronisation
        ctx.set("done", (ctx.get("done") or 0) + 1)

    names = [f"s{i}" for i in range(STEPS)]
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="chain",
            steps=[Fn(name, work) for name in names],
            edges=[Edge(a, b) for a, b in zip(names, names[1:], strict=False)],
            initial_step=names[0],
        )
    )
    return reg


@pytest.mark.postgres
@pytest.mark.timeout(180)
async def test_lease_renewals_and_group_commits_never_deadlock(
    scratch_postgres: ScratchDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    db = scratch_postgres
    await db.migrate()
    caplog.set_level(logging.WARNING, logger="litestar_workflows")
    # Two engines (as two processes would), each renewing its leases every 0.05 s (lease / 3)
    # while its writer commits the steps of hundreds of chains.
    options = {"lease_seconds": 0.15, "poll_interval": 0.01}
    async with (
        running_engine(db, registry(), **options) as one,
        running_engine(db, registry(), **options) as two,
    ):
        started = [
            (engine, await engine.start_workflow("chain", {})) for _ in range(CHAINS) for engine in (one, two)
        ]
        finished = [await engine.wait(i.id, until=FINISHED, timeout=120) for engine, i in started]
    failures = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    deadlocks = [
        r.getMessage()
        for r in caplog.records
        if "deadlock" in f"{r.getMessage()} {r.exc_info and r.exc_info[1]}"
    ]
    assert not deadlocks, f"{len(deadlocks)} deadlocks, e.g. {deadlocks[:3]}"
    assert not failures, f"{len(failures)} failed batches or sweeps, e.g. {failures[:3]}"
    assert {i.status for i in finished} == {WorkflowStatus.COMPLETED}
    assert {i.context.get("done") for i in finished} == {STEPS}
