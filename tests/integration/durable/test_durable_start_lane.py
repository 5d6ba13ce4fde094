"""On PostgreSQL a start commits beside the group commit in flight, not after it.

A start awaited on its own used to wait for the batch of other instances' transitions being
written, then go out with the next one. New instances' rows are touched by no other transition
until they are committed, so the store writes them in a lane of their own; these tests hold the
main lane on a row lock and check that starts still commit, and that nothing is lost once the
lock is gone.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from durable_support import running_engine, sql_statements
from sqlalchemy import text

from litestar_workflows import WorkflowRegistry, WorkflowStatus
from step_kit import FINISHED, approve_then_done

if TYPE_CHECKING:
    from conftest import ScratchDatabase

TIMEOUT = 30


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(approve_then_done("lane"))
    return reg


async def test_starts_commit_while_the_group_commit_waits_for_a_lock(
    scratch_postgres: ScratchDatabase,
) -> None:
    await scratch_postgres.migrate()
    async with running_engine(scratch_postgres, registry()) as engine:
        held = await engine.start_workflow("lane")
        assert (await engine.wait(held.id, timeout=TIMEOUT)).status is WorkflowStatus.WAITING
        locker = scratch_postgres.create_engine()
        try:
            async with locker.connect() as conn:
                await conn.execute(
                    text("SELECT id FROM workflow_instances WHERE id = :id FOR UPDATE"), {"id": held.id}
                )
                # The completion's batch now waits for the row lock: the main lane is stuck.
                completing = asyncio.create_task(engine.complete_human_task(held.id, "approve", "ann", {}))
                started = [await asyncio.wait_for(engine.start_workflow("lane"), TIMEOUT) for _ in range(3)]
                assert not completing.done()
                stored = await conn.execute(
                    text("SELECT count(*) FROM workflow_instances WHERE id = ANY(:ids)"),
                    {"ids": [instance.id for instance in started]},
                )
                assert stored.scalar() == 3  # committed: another connection sees them
                await conn.rollback()  # the lock goes
            await asyncio.wait_for(completing, TIMEOUT)
        finally:
            await locker.dispose()
        done = await engine.wait(held.id, until=FINISHED, timeout=TIMEOUT)
        assert (done.status, done.data) == (WorkflowStatus.COMPLETED, {"done": True})
        for instance in started:
            assert (await engine.wait(instance.id, timeout=TIMEOUT)).status is WorkflowStatus.WAITING


async def test_a_start_is_one_statement_that_commits_itself(scratch_postgres: ScratchDatabase) -> None:
    await scratch_postgres.migrate()
    async with running_engine(scratch_postgres, registry()) as engine:
        await engine.start_workflow("lane")  # the definition row goes in through SQLAlchemy
        with sql_statements(engine) as seen:
            started = [await engine.start_workflow("lane", {"n": n}) for n in range(3)]
        # Not through SQLAlchemy (the first step's transitions are, in the group commit).
        assert not [s for s in seen if "INSERT INTO workflow_instances" in s], seen
        reader = scratch_postgres.create_engine()
        try:
            async with reader.connect() as conn:
                rows = await conn.execute(
                    text(
                        "SELECT i.context_data, count(e.id) FROM workflow_instances i"
                        " JOIN workflow_step_executions e ON e.instance_id = i.id"
                        " WHERE i.id = ANY(:ids) GROUP BY i.id ORDER BY i.id"
                    ),
                    {"ids": [instance.id for instance in started]},
                )
                # Committed when the start returned: each instance with its first execution.
                assert [tuple(row) for row in rows] == [({"n": n}, 1) for n in range(3)]
        finally:
            await reader.dispose()
        for instance in started:
            await engine.complete_human_task(instance.id, "approve", "ann", {})
            done = await engine.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
            assert done.status is WorkflowStatus.COMPLETED
