"""Many concurrent instances on one durable engine: one store, many connections, no shared session."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import pytest
from durable_support import running_engine, sql

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    ParallelGateway,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn, Set

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

N = 1000


def registry() -> WorkflowRegistry:
    async def work(ctx: WorkflowContext) -> None:
        await asyncio.sleep(0)  # yield: the instances really interleave
        ctx.set("work", ctx.get("i") * 2)

    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="busy",
            steps=[
                Set("start", started=True),
                ParallelGateway("fork"),
                Fn("left", work),
                Set("right", right=True),
                Fn("join", lambda ctx: ctx.set("total", ctx.get("work") + 1)),
            ],
            edges=[
                Edge("start", "fork"),
                Edge("fork", "left"),
                Edge("fork", "right"),
                Edge("left", "join"),
                Edge("right", "join"),
            ],
            initial_step="start",
        )
    )
    reg.register(
        WorkflowDefinition(
            name="approval",
            steps=[BaseHumanStep("approve"), Set("done", done=True)],
            edges=[Edge("approve", "done")],
            initial_step="approve",
        )
    )
    return reg


@pytest.mark.timeout(120)
async def test_a_thousand_concurrent_instances_complete(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    await db.migrate()
    began = time.monotonic()
    async with running_engine(db, registry()) as engine:
        started = await asyncio.gather(*(engine.start_workflow("busy", {"i": i}) for i in range(N)))
        finals = await asyncio.gather(*(engine.wait(s.id, until=FINISHED, timeout=60) for s in started))
        assert {f.status for f in finals} == {WorkflowStatus.COMPLETED}
        for final in finals:
            i = final.data["i"]
            assert final.data == {"i": i, "started": True, "work": 2 * i, "right": True, "total": 2 * i + 1}

        # Human tasks completed concurrently, too.
        waiting = await asyncio.gather(*(engine.start_workflow("approval", {"i": i}) for i in range(N // 4)))
        await asyncio.gather(*(engine.wait(w.id, timeout=60) for w in waiting))
        await asyncio.gather(
            *(engine.complete_human_task(w.id, "approve", "u", {"ok": True}) for w in waiting)
        )
        finals = await asyncio.gather(*(engine.wait(w.id, until=FINISHED, timeout=60) for w in waiting))
        assert {f.status for f in finals} == {WorkflowStatus.COMPLETED}

        check = db.create_engine()
        try:
            statuses = await sql(
                check, "SELECT status, count(*) AS n FROM workflow_instances GROUP BY status"
            )
            duplicates = await sql(
                check,
                "SELECT instance_id, step_name, iteration FROM workflow_step_executions "
                "WHERE status = 'succeeded' GROUP BY instance_id, step_name, iteration HAVING count(*) > 1",
            )
            unfinished = await sql(
                check, "SELECT count(*) AS n FROM workflow_step_executions WHERE status <> 'succeeded'"
            )
        finally:
            await check.dispose()
    assert [(r["status"], int(r["n"])) for r in statuses] == [("completed", N + N // 4)]
    assert duplicates == []
    assert int(unfinished[0]["n"]) == 0
    print(f"\n{db.kind}: {N} + {N // 4} instances in {time.monotonic() - began:.2f} s")  # noqa: T201


async def test_concurrent_first_starts_save_the_definition_once(scratch_database: ScratchDatabase) -> None:
    """N concurrent first starts of a workflow save its definition once.

    Regression test: up to 29ee252 each start ran its own definition transaction (on SQLite N
    serialised BEGIN IMMEDIATE): about 3 s for 1,000 first starts instead of 0.3 s.
    """
    from sqlalchemy import event

    db = scratch_database
    await db.migrate()
    lookups: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "workflow_definitions" in statement:
            lookups.append(statement)

    async with running_engine(db, registry()) as engine:
        event.listen(engine.sql_store.db_engine.sync_engine, "before_cursor_execute", count)
        started = await asyncio.gather(*(engine.start_workflow("busy", {"i": i}) for i in range(50)))
        await asyncio.gather(*(engine.wait(s.id, until=FINISHED, timeout=60) for s in started))
    assert len(lookups) <= 2, f"{len(lookups)} statements on workflow_definitions for one definition"


async def test_sqlite_reads_do_not_wait_for_a_writer(scratch_sqlite: ScratchDatabase) -> None:
    """In WAL mode readers never wait for the writer.

    Regression test: up to 29ee252 every SQLite transaction began with BEGIN IMMEDIATE, reads too,
    so loads and listings queued behind the writer's lock.
    """
    from sqlalchemy import text

    db = scratch_sqlite
    await db.migrate()
    async with running_engine(db, registry()) as engine:
        instance = await engine.start_workflow("approval", {"i": 0})
        await engine.wait(instance.id, timeout=10)
        holding, release = asyncio.Event(), asyncio.Event()

        async def long_write() -> None:  # e.g. a big group commit, or another process's transaction
            async with engine.sql_store.db_engine.begin() as conn:
                await conn.execute(text("UPDATE workflow_definitions SET description = 'busy'"))
                holding.set()
                await release.wait()  # the write transaction stays open until the reads are done

        writer = asyncio.create_task(long_write())
        try:
            await asyncio.wait_for(holding.wait(), 10)
            # WAL: readers never wait for the writer. One that did would wait until the release
            # below, which comes only after this block: the timeout is what catches it.
            async with asyncio.timeout(5.0):
                await engine.get_instance(instance.id)
                await engine.find_instances()
                await engine.find_tasks()
        finally:
            release.set()
            await writer


async def test_waiting_on_many_instances_does_not_reload_each_of_them(
    scratch_database: ScratchDatabase,
) -> None:
    from sqlalchemy import event

    db = scratch_database
    await db.migrate()
    loads: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().startswith(
            "SELECT workflow_step_executions.id, workflow_step_executions.instance_id"
        ):
            loads.append(statement)  # the history query of SQLAlchemyStore.load_instance

    n, gate = 50, asyncio.Event()

    async def blocked(ctx: WorkflowContext) -> None:
        await gate.wait()

    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(name="blocked", steps=[Fn("block", blocked)], edges=[], initial_step="block")
    )
    # While an instance runs here, wait() looks at the store every 10 poll intervals (0.2 s):
    # about five rounds in the second below. Reloading every instance each round would be 250.
    async with running_engine(db, reg, poll_interval=0.02) as engine:
        started = [await engine.start_workflow("blocked") for _ in range(n)]
        event.listen(engine.sql_store.db_engine.sync_engine, "before_cursor_execute", count)
        waits = asyncio.gather(*(engine.wait(s.id, until=FINISHED, timeout=30) for s in started))
        await asyncio.sleep(1.0)  # a measuring window (not a synchronisation): about five poll rounds
        gate.set()
        finals = await waits
    assert {f.status for f in finals} == {WorkflowStatus.COMPLETED}
    assert len(loads) < n, f"{len(loads)} instance reloads while waiting on {n} instances for 1 s"
