"""An engine keeps idle instances cached; another engine may move them meanwhile.

Engine A caches an instance that waits at a human task without asking the database again on
its next use. These tests change the instance through engine B and check that A never acts on
its old copy: refusals are confirmed on the stored instance, acceptances by the commit's version
check.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

import pytest
from durable_support import counted_calls, sql_statements

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    TaskAlreadyCompletedError,
    UnauthorizedTaskError,
    WorkflowAlreadyCompletedError,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db.store import SQLAlchemyStore
from litestar_workflows.engine.local import LocalExecutionEngine
from step_kit import FINISHED, Set


def approval() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="cached",
        steps=[BaseHumanStep("approve", assignee="ann"), Set("done", done=True)],
        edges=[Edge("approve", "done")],
        initial_step="approve",
    )


@asynccontextmanager
async def two_engines(db: Any) -> AsyncIterator[tuple[LocalExecutionEngine, LocalExecutionEngine]]:
    """Two engines on one database, each with its own connections, as two processes would be."""
    await db.migrate()
    definition = approval()
    engines = []
    for owner in ("a", "b"):
        registry = WorkflowRegistry()
        registry.register_definition(definition)
        engines.append(
            LocalExecutionEngine(registry, SQLAlchemyStore(db.create_engine(), owner=owner, dispose=True))
        )
    try:
        for engine in engines:
            await engine.start()
        yield engines[0], engines[1]
    finally:
        for engine in engines:
            await engine.stop()
            await engine.store.close()  # type: ignore[attr-defined]


async def started_and_cached(a: LocalExecutionEngine) -> UUID:
    instance = await a.start_workflow("cached")
    waiting = await a.wait(instance.id, timeout=10)
    assert waiting.status is WorkflowStatus.WAITING
    assert instance.id.int in a._idle  # the copy A keeps
    return instance.id


async def test_task_completed_elsewhere_is_refused_on_the_cached_engine(scratch_database: Any) -> None:
    async with two_engines(scratch_database) as (a, b):
        instance_id = await started_and_cached(a)
        await b.complete_human_task(instance_id, "approve", "ann", {"by": "b"})
        await b.wait(instance_id, until=FINISHED, timeout=10)
        with pytest.raises(TaskAlreadyCompletedError):
            await a.complete_human_task(instance_id, "approve", "ann", {"by": "a"})
        stored = await a.store.load_instance(instance_id)
        assert stored is not None
        assert stored.data == {"by": "b", "done": True}


async def test_instance_canceled_elsewhere_is_refused_on_the_cached_engine(scratch_database: Any) -> None:
    async with two_engines(scratch_database) as (a, b):
        instance_id = await started_and_cached(a)
        await b.cancel_workflow(instance_id, "no longer needed")
        with pytest.raises(WorkflowAlreadyCompletedError):
            await a.complete_human_task(instance_id, "approve", "ann", {})


async def test_task_reassigned_elsewhere_is_completed_by_the_new_assignee(scratch_database: Any) -> None:
    async with two_engines(scratch_database) as (a, b):
        instance_id = await started_and_cached(a)
        [task] = await b.find_tasks(instance_id=instance_id)
        await b.reassign_task(task.id, "bob")
        # A's cached copy still says "ann": the refusal must be checked on the stored instance.
        await a.complete_human_task(instance_id, "approve", "bob", {"by": "bob"})
        done = await a.wait(instance_id, until=FINISHED, timeout=10)
        assert done.status is WorkflowStatus.COMPLETED
        # And the other way round: the old assignee is refused although A's copy still names her.
        instance_id2 = await started_and_cached(a)
        [task2] = await b.find_tasks(instance_id=instance_id2)
        await b.reassign_task(task2.id, "bob")
        with pytest.raises(UnauthorizedTaskError):
            await a.complete_human_task(instance_id2, "approve", "ann", {})


async def test_reading_back_a_finished_instance_asks_the_database_nothing(scratch_database: Any) -> None:
    async with two_engines(scratch_database) as (a, _):
        instance_id = await started_and_cached(a)
        await a.complete_human_task(instance_id, "approve", "ann", {"by": "a"})
        await a.wait(instance_id, until=FINISHED, timeout=10)
        with (
            sql_statements(a) as statements,
            counted_calls(a.store, "instance_versions") as asked,
            counted_calls(a.store, "load_instance") as loads,
        ):
            for _ in range(3):
                read = await a.get_instance(instance_id)
                assert read.status is WorkflowStatus.COMPLETED
                assert read.data == {"by": "a", "done": True}
            assert (await a.wait(instance_id, timeout=10)).status is WorkflowStatus.COMPLETED
        assert (statements, asked, loads) == ([], [], [])


async def test_a_waiting_instance_is_read_with_one_version_query_and_reloaded_once_moved(
    scratch_database: Any,
) -> None:
    async with two_engines(scratch_database) as (a, b):
        instance_id = await started_and_cached(a)
        with (
            counted_calls(a.store, "instance_versions") as asked,
            counted_calls(a.store, "load_instance") as loads,
        ):
            assert (await a.get_instance(instance_id)).status is WorkflowStatus.WAITING
        assert [list(ids) for ids in asked] == [[instance_id]]  # one version query
        assert loads == []

        await b.complete_human_task(instance_id, "approve", "ann", {"by": "b"})
        await b.wait(instance_id, until=FINISHED, timeout=10)
        with counted_calls(a.store, "load_instance") as loads:
            moved = await a.get_instance(instance_id)  # the version moved: loaded again
        assert moved.status is WorkflowStatus.COMPLETED
        assert moved.data == {"by": "b", "done": True}
        assert loads == [instance_id]
        with (
            sql_statements(a) as statements,
            counted_calls(a.store, "instance_versions") as asked,
            counted_calls(a.store, "load_instance") as loads,
        ):
            assert (await a.get_instance(instance_id)).data == {"by": "b", "done": True}
        assert (statements, asked, loads) == ([], [], [])  # the loaded copy is kept, and it is final


async def test_the_cache_keeps_only_the_most_recently_used_copies(scratch_database: Any) -> None:
    await scratch_database.migrate()
    registry = WorkflowRegistry()
    registry.register_definition(approval())
    engine = LocalExecutionEngine(
        registry, SQLAlchemyStore(scratch_database.create_engine(), dispose=True), idle_cache_size=2
    )
    await engine.start()
    try:
        ids = []
        for _ in range(3):
            instance = await engine.start_workflow("cached")
            await engine.wait(instance.id, timeout=10)
            ids.append(instance.id)
        assert [i.int in engine._idle for i in ids] == [False, True, True]
        await engine.get_instance(ids[0])  # loaded, kept, and the oldest other copy goes
        assert [i.int in engine._idle for i in ids] == [True, False, True]
    finally:
        await engine.stop()
        await engine.store.close()  # type: ignore[attr-defined]
