"""A stopping SAQ worker lets the step it runs finish within the grace, instead of SAQ's grace.

SAQ's own shutdown grace also waits for its idle upkeep loops (which sleep up to a minute), so the
engine gives SAQ none and keeps its own: SAQ cancels its job at once, the step goes on, and the
worker's shutdown hook waits for it before the engine stops. The worker runs in this process
(``saq.Worker`` from ``engine.worker_settings()``) so that the test can hold the step with a gate.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from saq import Queue, Worker

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    StepStatus,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.contrib.saq import SAQExecutionEngine
from step_kit import Fn, statuses

if TYPE_CHECKING:
    from broker_processes import RedisServer

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
TIMEOUT = 30.0


async def test_a_stopping_worker_lets_its_running_step_finish(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer
) -> None:
    began, gate = asyncio.Event(), asyncio.Event()

    async def slow(ctx: WorkflowContext) -> None:
        began.set()
        await gate.wait()
        ctx.set("slow", ctx.attempt)

    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name="slow_then_wait",
            steps=[Fn("slow", slow), BaseHumanStep("review")],
            edges=[Edge("slow", "review")],
            initial_step="slow",
        )
    )
    await scratch_postgres.migrate()
    db_engine = scratch_postgres.create_engine()

    def engine(owner: str) -> SAQExecutionEngine:
        return SAQExecutionEngine(
            Queue.from_url(redis_server.url),
            db_engine,
            registry,
            owner=owner,
            lease_seconds=30,
            poll_interval=0.05,
        )

    client, on_worker = engine("client"), engine("worker")
    settings = on_worker.worker_settings()
    shutting_down = asyncio.Event()
    shutdown = settings["shutdown"]

    async def noted_shutdown(ctx: dict[str, Any]) -> None:
        shutting_down.set()  # SAQ has cancelled its job by now; only our grace holds the step
        await shutdown(ctx)

    worker = Worker(**{**settings, "shutdown": noted_shutdown})
    worker.SIGNALS = []
    await on_worker.queue.connect()
    try:
        async with client:
            running = asyncio.create_task(worker.start())
            instance = await client.start_workflow("slow_then_wait")
            await asyncio.wait_for(began.wait(), TIMEOUT)
            stopping = asyncio.create_task(worker.stop())
            await asyncio.wait_for(shutting_down.wait(), TIMEOUT)
            assert not stopping.done()  # waiting for the step
            gate.set()
            await asyncio.wait_for(stopping, TIMEOUT)
            await running
            done = await client.wait(instance.id, timeout=TIMEOUT)
            assert (done.status, done.data) == (WorkflowStatus.WAITING, {"slow": 1})
            assert statuses(done) == {"slow": [StepStatus.SUCCEEDED], "review": [StepStatus.WAITING]}
            assert done.executions_of("slow")[0].attempt == 1  # ran once, not cancelled and re-run
    finally:
        await on_worker.queue.disconnect()
        await db_engine.dispose()
