"""Completed and canceled instances pushed out of the idle cache are still read without the database.

The idle cache keeps a bounded number of live copies (``idle_cache_size``). What its bound pushes
out goes to a second tier when the instance can no longer change (completed or canceled): a
compressed pickle, bounded in bytes (``finished_cache_bytes``). These tests push copies out of a
tiny first tier on both databases, watch SQLAlchemy's statements and the store's direct reads,
and compare what a read returns with the stored instance.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import counted_calls, snapshot, sql_statements

from litestar_workflows import (
    BaseMachineStep,
    Edge,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db.store import SQLAlchemyStore
from litestar_workflows.engine.local import LocalExecutionEngine
from step_kit import FINISHED, Nested, Set, approve_then_done

if TYPE_CHECKING:
    from uuid import UUID


class Broken(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> None:
        raise RuntimeError("out of paper")


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register_definition(
        WorkflowDefinition(
            name="chain",
            steps=[Set("begin", began=True), Nested("nested"), Set("end", done=True)],
            edges=[Edge("begin", "nested"), Edge("nested", "end")],
            initial_step="begin",
        )
    )
    reg.register_definition(approve_then_done("approval"))
    reg.register_definition(
        WorkflowDefinition(name="broken", steps=[Broken("fail")], edges=[], initial_step="fail")
    )
    return reg


@asynccontextmanager
async def engine_on(db: Any, **options: Any) -> AsyncIterator[LocalExecutionEngine]:
    """A started engine on ``db`` whose first cache tier holds two copies."""
    await db.migrate()
    engine = LocalExecutionEngine(
        registry(), SQLAlchemyStore(db.create_engine(), dispose=True), idle_cache_size=2, **options
    )
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
        await engine.store.close()  # type: ignore[attr-defined]


async def finished(engine: LocalExecutionEngine, workflow: str, count: int) -> list[UUID]:
    """Start ``count`` instances of ``workflow`` one after the other, each waited on to its end."""
    ids = []
    for i in range(count):
        instance = await engine.start_workflow(workflow, {"i": i})
        await engine.wait(instance.id, until=FINISHED, timeout=30)
        ids.append(instance.id)
    return ids


async def test_completed_instances_pushed_out_are_read_back_as_stored_without_the_database(
    scratch_database: Any,
) -> None:
    async with engine_on(scratch_database) as engine:
        ids = await finished(engine, "chain", 5)
        assert engine._idle.frozen[0] == 3  # five copies, two live: three pushed out, all completed
        with (
            sql_statements(engine) as statements,
            counted_calls(engine.store, "instance_versions") as asked,
            counted_calls(engine.store, "load_instance") as loads,
        ):
            reads = [await engine.get_instance(instance_id) for instance_id in ids[:3]]
            waited = await engine.wait(ids[0], timeout=30)
        assert (statements, asked, loads) == ([], [], [])

        for read in [*reads, waited]:
            stored = await engine.store.load_instance(read.id)
            assert stored is not None
            assert snapshot(read) == snapshot(stored)
        assert reads[0].context.data["order"] == {"lines": [{"sku": "a-1", "qty": 0}], "total": 12.5}
        assert reads[0].context.step_history[1].result == {
            "checked": [1, 2, 3],
            "ratio": 0.25,
            "note": "ünïcode",
        }

        # Each read gets objects of its own: changing one read changes neither the next nor the stored one.
        reads[0].context.data["order"]["total"] = 0
        assert (await engine.get_instance(ids[0])).context.data["order"]["total"] == 12.5
        assert waited is not reads[0]


async def test_completed_copies_are_kept_and_frozen_with_their_history_packed(scratch_database: Any) -> None:
    async with engine_on(scratch_database) as engine:
        ids = await finished(engine, "chain", 3)
        assert engine._idle.frozen[0] == 1
        reads = [await engine.get_instance(instance_id) for instance_id in ids]  # frozen, live, live
        assert all(type(read.context) is not WorkflowContext for read in reads)  # packed
        for read in reads:
            stored = await engine.store.load_instance(read.id)
            assert stored is not None
            assert snapshot(read) == snapshot(stored)  # reading the history unpacks it
            assert type(read.context) is WorkflowContext


async def test_only_instances_that_can_no_longer_change_are_frozen(scratch_database: Any) -> None:
    async with engine_on(scratch_database) as engine:
        waiting = await engine.start_workflow("approval")
        assert (await engine.wait(waiting.id, timeout=30)).status is WorkflowStatus.WAITING
        canceled = await engine.start_workflow("approval")
        await engine.wait(canceled.id, timeout=30)
        await engine.cancel_workflow(canceled.id, reason="not needed")
        failed = await engine.start_workflow("broken")
        assert (await engine.wait(failed.id, timeout=30)).status is WorkflowStatus.FAILED
        await finished(engine, "chain", 2)  # pushes the three out of the first tier

        assert engine._idle.frozen[0] == 1  # the canceled one: a waiting or failed one may still move
        with counted_calls(engine.store, "load_instance") as loads:
            assert (await engine.get_instance(canceled.id)).status is WorkflowStatus.CANCELED
            assert loads == []
            assert (await engine.get_instance(waiting.id)).status is WorkflowStatus.WAITING
            assert (await engine.get_instance(failed.id)).status is WorkflowStatus.FAILED
        assert loads == [waiting.id, failed.id]

        # The waiting one still moves on through this engine, and its task completes.
        await engine.complete_human_task(waiting.id, "approve", "ann", {"ok": True})
        assert (await engine.wait(waiting.id, until=FINISHED, timeout=30)).status is WorkflowStatus.COMPLETED


async def test_the_frozen_tier_keeps_to_its_bound_in_bytes_dropping_the_least_recently_used(
    scratch_database: Any,
) -> None:
    async with engine_on(scratch_database) as engine:
        first = await finished(engine, "chain", 3)
        count, size = engine._idle.frozen
        assert count == 1
        engine._idle.frozen_bytes = size * 5 // 2  # room for two copies of about that size
        later = await finished(engine, "chain", 3)

        count, total = engine._idle.frozen
        assert count == 2
        assert total <= engine._idle.frozen_bytes
        # Pushed out in order: first[0], first[1], first[2], later[0]; the last two stayed frozen.
        with counted_calls(engine.store, "load_instance") as loads:
            for instance_id in [first[2], later[0], first[0]]:
                assert (await engine.get_instance(instance_id)).status is WorkflowStatus.COMPLETED
        assert loads == [first[0]]


async def test_a_bound_of_zero_keeps_no_frozen_copies(scratch_database: Any) -> None:
    async with engine_on(scratch_database, finished_cache_bytes=0) as engine:
        ids = await finished(engine, "chain", 3)
        assert engine._idle.frozen == (0, 0)
        with counted_calls(engine.store, "load_instance") as loads:
            assert (await engine.get_instance(ids[0])).context.data["done"] is True
        assert loads == [ids[0]]


async def test_a_copy_that_cannot_be_frozen_is_dropped_with_a_warning_and_loaded_again(
    scratch_database: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with engine_on(scratch_database) as engine:
        ids = await finished(engine, "chain", 2)
        # Something no pickle holds, put into the cached copy (as a caller ignoring "read-only" might).
        engine._idle._copies[ids[0].int].instance.context.metadata["lock"] = threading.Lock()
        await finished(engine, "chain", 1)  # pushes that copy out

        assert engine._idle.frozen[0] == 0
        assert "could not freeze the cached copy of instance" in caplog.text
        with counted_calls(engine.store, "load_instance") as loads:
            read = await engine.get_instance(ids[0])
        assert loads == [ids[0]]
        assert read.status is WorkflowStatus.COMPLETED
        assert "lock" not in read.context.metadata
