"""Task deadlines on the distributed engines: the worker that made the task arms them, any
engine's sweep may find them due, and each fires once (in-process broker, SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest

from deadline_kit import HOUR, Recorder, TestClock, registry_of, review, settled
from inprocess_broker import inprocess_cluster
from litestar_workflows import (
    EventBus,
    HumanTaskOverdue,
    HumanTaskReassigned,
    HumanTaskReminder,
    WorkflowStatus,
)
from litestar_workflows.engine.distributed import DistributedExecutionEngine
from step_kit import FINISHED

if TYPE_CHECKING:
    from conftest import ScratchDatabase


@pytest.mark.timeout(60)
async def test_deadlines_fire_once_across_client_and_workers(scratch_database: ScratchDatabase) -> None:
    clock, bus = TestClock(), EventBus()
    seen = Recorder(bus)
    async with inprocess_cluster(
        scratch_database, registry_of(review("lead")), clock=clock, event_bus=bus, sweep_interval=3600
    ) as cluster:
        client, engines = cluster.client, (cluster.client, *cluster.workers)
        instance = await client.start_workflow("review")
        assert (await client.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
        await cluster.idle()
        clock.advance(HOUR + timedelta(seconds=1))  # the worker's own timer fires the reminder...
        await asyncio.gather(*(engine.recover() for engine in engines))  # ...while every sweep looks
        await settled(*engines)
        assert [type(e) for e in seen.events] == [HumanTaskReminder]
        # The engine that armed the due time is gone (its timer with it): another one's sweep,
        # in a process that never saw the instance, fires it.
        clock.forget()
        sweeper = DistributedExecutionEngine(
            client.sql_store.db_engine, client.transport, client.registry, owner="sweeper", clock=clock,
            event_bus=bus, sweep_interval=3600,
        )  # fmt: skip
        await sweeper.start()
        try:
            clock.advance(HOUR + timedelta(seconds=1))
            assert await sweeper.recover() == 1
            await settled(sweeper)
            assert [type(e) for e in seen.events] == [
                HumanTaskReminder,
                HumanTaskOverdue,
                HumanTaskReassigned,
            ]
            [task] = await sweeper.get_pending_tasks("lead")
            # (Completed here: the engine that lost its timer is "gone", though its copy is not.)
            await sweeper.complete_human_task(instance.id, "approve", "lead", {"ok": True})
            done = await client.wait(instance.id, until=FINISHED, timeout=30)
        finally:
            await sweeper.stop()
        assert done.status is WorkflowStatus.COMPLETED
        assert (await client.get_task(task.id)).completed_by == "lead"
