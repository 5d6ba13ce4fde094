"""Two engines on one database: each execution is committed once, whoever ran it.

``PersistentExecutionEngine`` does not balance load: an engine runs the instances it starts, and
another engine takes over an execution only once its lease is gone (released by ``stop()``, or
expired because the process died or stalled longer than a lease without renewing it). The
two-process test makes the hand-over deterministic by stalling the test process (blocking: a
stop-the-world pause) until its leases ran out and the child engine, sweeping every 50 ms, began
running work it took over.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from uuid import UUID

import durable_flows
import pytest
from durable_support import (
    complete_lines,
    end_child,
    eventually,
    running_engine,
    spawn_child,
    sql,
    uuid_of,
    wait_for_child,
)
from sqlalchemy.ext.asyncio import async_sessionmaker

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    HumanTaskStatus,
    StepStatus,
    TaskAlreadyCompletedError,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db import PersistentExecutionEngine
from step_kit import FINISHED, Fn, Set

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

LEASE_SECONDS = 1.0  # the child uses the same (durable_child.LEASE_SECONDS)
N_FANOUT = 10
N_LINE = 10


async def count_succeeded(db_engine: AsyncEngine, step: str) -> int:
    rows = await sql(
        db_engine,
        "SELECT count(*) AS n FROM workflow_step_executions WHERE step_name = :step AND status = 'succeeded'",
        step=step,
    )
    return int(rows[0]["n"])


def committed_by(db: ScratchDatabase, step: str, pid: int) -> bool:
    """Whether process ``pid`` committed an execution of ``step``, asked without this thread's
    event loop (which the stall blocks): on an engine and loop of a helper thread of their own."""

    async def probe() -> bool:
        probe_engine = db.create_engine()
        try:
            rows = await sql(
                probe_engine,
                "SELECT result FROM workflow_step_executions WHERE step_name = :step AND status = 'succeeded'",
                step=step,
            )
        finally:
            await probe_engine.dispose()
        return any(isinstance(row["result"], dict) and row["result"].get("pid") == pid for row in rows)

    with ThreadPoolExecutor(max_workers=1) as helper:
        return helper.submit(asyncio.run, probe()).result()


async def all_completed(db_engine: AsyncEngine, total: int) -> bool:
    rows = await sql(db_engine, "SELECT count(*) AS n FROM workflow_instances WHERE status = 'completed'")
    return int(rows[0]["n"]) == total


@pytest.mark.postgres
@pytest.mark.timeout(120)
async def test_two_processes_on_one_postgres_database(
    scratch_postgres: ScratchDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = scratch_postgres
    await db.migrate()
    child_records, parent_records = tmp_path / "child.records", tmp_path / "parent.records"
    ready = tmp_path / "worker.ready"
    monkeypatch.setattr(durable_flows, "RECORD_PATH", str(parent_records))
    total = N_FANOUT + N_LINE
    parent_pid = os.getpid()

    db_engine = db.create_engine()
    engine = PersistentExecutionEngine(
        durable_flows.registry(),
        session_factory=async_sessionmaker(db_engine),
        lease_seconds=LEASE_SECONDS,
        poll_interval=0.1,
        owner="parent",
    )
    child = spawn_child("worker", db.argv, child_records, ready)
    try:
        await wait_for_child(child, ready, ready.exists, within=60, what="the worker engine to start")
        child_pid = int(ready.read_text())
        await engine.start()
        started = await asyncio.gather(
            *(engine.start_workflow("durable_fanout", {"n": i}) for i in range(N_FANOUT)),
            *(engine.start_workflow("durable_line", {"n": 100 + i}) for i in range(N_LINE)),
        )
        n_of = {inst.id: inst.context.data["n"] for inst in started}
        fanout_ids = {inst.id for inst in started[:N_FANOUT]}

        # This process commits the fast steps: b1 of every fan-out, l1 of every line. b2, b3 and
        # l2 (0.5 s each) are still running here when the process stalls.
        async def fast_steps_committed() -> bool:
            return (
                await count_succeeded(db_engine, "b1") == N_FANOUT
                and await count_succeeded(db_engine, "l1") == N_LINE
            )

        await eventually(fast_steps_committed, within=20, what="the fast steps")
        # The stall is the point (blocking, so no renewals and no progress here): it lasts until
        # the leases ran out and the child committed a slow branch it took over.
        time.sleep(LEASE_SECONDS)  # noqa: ASYNC251
        stall_ends = time.monotonic() + 30
        while not committed_by(db, "b2", child_pid):
            assert time.monotonic() < stall_ends, "the child engine never committed a branch it took over"
            time.sleep(0.05)  # noqa: ASYNC251

        async def everything_completed() -> bool:
            return await all_completed(db_engine, total)

        await eventually(everything_completed, within=60, interval=0.05, what="every instance to complete")
        instances = await sql(db_engine, "SELECT id, status, context_data FROM workflow_instances")
        runs = await sql(
            db_engine,
            "SELECT id, instance_id, step_name, iteration, status, result FROM workflow_step_executions",
        )
    finally:
        await engine.stop()
        await db_engine.dispose()
        await end_child(child)

    assert len(instances) == total
    assert {row["status"] for row in instances} == {"completed"}
    for row in instances:
        instance_id = UUID(uuid_of(row["id"]))
        n = n_of[instance_id]
        if instance_id in fanout_ids:
            steps = ("start", *durable_flows.FANOUT_BRANCHES, "join", "end")
            extra = {"seen": [durable_flows.expected(n, b) for b in durable_flows.FANOUT_BRANCHES]}
        else:
            steps, extra = durable_flows.LINE_STEPS, {}
        assert row["context_data"] == {"n": n, **{s: durable_flows.expected(n, s) for s in steps}, **extra}

    # Each (instance, step, iteration) succeeded exactly once: nothing was committed twice.
    assert {row["status"] for row in runs} == {"succeeded"}
    per_step = Counter((uuid_of(row["instance_id"]), row["step_name"], row["iteration"]) for row in runs)
    assert [key for key, count in per_step.items() if count != 1] == []
    assert len(per_step) == N_FANOUT * len(durable_flows.FANOUT_STEPS) + N_LINE * len(
        durable_flows.LINE_STEPS
    )
    joins = Counter(uuid_of(row["instance_id"]) for row in runs if row["step_name"] == "join")
    assert sorted(joins.values()) == [1] * N_FANOUT

    # Who committed what: each committed row carries the pid of the process whose run it was.
    committer: dict[tuple[str, str], int] = {
        (uuid_of(row["instance_id"]), row["step_name"]): row["result"]["pid"]
        for row in runs
        if isinstance(row["result"], dict)
    }
    by_process = Counter(committer.values())
    assert set(by_process) == {parent_pid, child_pid}, by_process
    # b1 was committed here before the stall; the slow branches and the join by the child. So the
    # branches of one instance ran in two processes, and the join (decided in one transaction) fired once.
    split = [
        str(i)
        for i in fanout_ids
        if committer[str(i), "b1"] == parent_pid and committer[str(i), "b2"] == child_pid
    ]
    assert split, committer
    assert all(committer[str(i), "b1"] == parent_pid for i in fanout_ids)
    recorded: dict[str, set[str]] = defaultdict(set)
    for path in (parent_records, child_records):
        for line in complete_lines(path):
            _, _, _, execution_id, pid = line.split(",")
            recorded[execution_id].add(pid)
    for row in runs:  # whoever's result was committed did run that execution
        if isinstance(row["result"], dict):
            assert str(row["result"]["pid"]) in recorded[uuid_of(row["id"])]
    print(  # noqa: T201 - evidence (pytest -s)
        f"\ncommitted by parent {by_process[parent_pid]}, by child {by_process[child_pid]}; "
        f"executions run twice: {sum(1 for pids in recorded.values() if len(pids) > 1)}; "
        f"instances with branches committed by both processes: {len(split)}/{N_FANOUT}"
    )


def approval_then_after(name: str) -> WorkflowRegistry:
    """A registry with workflow ``name``: a human approval, then a step that sets ``after``."""
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name=name,
            steps=[BaseHumanStep("approve"), Set("after", after=True)],
            edges=[Edge("approve", "after")],
            initial_step="approve",
        )
    )
    return reg


async def test_two_engines_race_to_complete_one_task(scratch_database: ScratchDatabase) -> None:
    """Two engines (two stores, two pools) complete the same task at once: exactly one wins."""
    db = scratch_database
    await db.migrate()

    async with (
        running_engine(db, approval_then_after("contested"), owner="engine-a") as a,
        running_engine(db, approval_then_after("contested"), owner="engine-b") as b,
    ):
        instances = [await a.start_workflow("contested") for _ in range(5)]
        for instance in instances:
            await a.wait(instance.id, timeout=10)
        for instance in instances:
            outcomes: list[Any] = await asyncio.gather(
                a.complete_human_task(instance.id, "approve", "ann", {"winner": "ann"}),
                b.complete_human_task(instance.id, "approve", "bob", {"winner": "bob"}),
                return_exceptions=True,
            )
            errors = [o for o in outcomes if isinstance(o, BaseException)]
            assert len(errors) == 1, outcomes
            assert isinstance(errors[0], TaskAlreadyCompletedError), errors
            winner, engine = ("bob", b) if outcomes[0] is errors[0] else ("ann", a)
            done = await engine.wait(instance.id, until=FINISHED, timeout=10)
            assert done.status is WorkflowStatus.COMPLETED
            assert done.data == {"winner": winner, "after": True}
            [task] = (await a.find_tasks(instance_id=instance.id)).items
            assert (task.status, task.completed_by) == (HumanTaskStatus.COMPLETED, winner)
            history = [(run.step_name, run.completed_by) for run in done.step_history]
            assert history == [("approve", winner), ("after", None)]


async def test_wait_returns_when_a_lost_race_reloads_the_finished_instance(
    scratch_database: ScratchDatabase,
) -> None:
    """Engine A waits for an instance; engine B finishes it; A then loses a race on it and reloads.

    A's waiter must see the finished instance (it is in the database and in A's reloaded copy).
    Regression test: up to 62a2e14 the waiter only returned for a stored version newer than its
    copy's, and the reload had made the copy as new as the database, so it timed out.
    """
    db = scratch_database
    await db.migrate()

    async with (
        running_engine(db, approval_then_after("reloaded"), owner="engine-a", poll_interval=1.0) as a,
        running_engine(db, approval_then_after("reloaded"), owner="engine-b") as b,
    ):
        instance = await a.start_workflow("reloaded")
        assert (await a.wait(instance.id, timeout=10)).status is WorkflowStatus.WAITING
        waiter = asyncio.create_task(a.wait(instance.id, until=FINISHED, timeout=3.5))

        async def waiter_registered() -> bool:  # on A's copy of the instance
            live = a._live.get(instance.id.int)
            return live is not None and bool(live.waiters)

        await eventually(waiter_registered, within=5, what="the waiter to register")
        await b.complete_human_task(instance.id, "approve", "bob", {"by": "bob"})
        assert (await b.wait(instance.id, until=FINISHED, timeout=10)).status is WorkflowStatus.COMPLETED
        with pytest.raises(TaskAlreadyCompletedError):  # A's copy is stale: conflict, reload, refuse
            await a.complete_human_task(instance.id, "approve", "ann", {"by": "ann"})
        done = await waiter  # a TimeoutError here was the bug
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data == {"by": "bob", "after": True}


async def test_an_outcome_is_committed_only_while_its_lease_is_held(
    scratch_database: ScratchDatabase,
) -> None:
    """A's step outlives its lease; B takes the execution over and is still running it when A's
    step returns. A's outcome must be dropped (B holds the lease), and B's is the one committed."""
    db = scratch_database
    await db.migrate()
    entered = {"a": asyncio.Event(), "b": asyncio.Event()}
    release = {"a": asyncio.Event(), "b": asyncio.Event()}

    def registry_of(engine: str) -> WorkflowRegistry:
        async def work(ctx: WorkflowContext) -> None:
            entered[engine].set()
            await release[engine].wait()
            ctx.set("by", engine)

        reg = WorkflowRegistry()
        reg.register(
            WorkflowDefinition(name="leased", steps=[Fn("work", work)], edges=[], initial_step="work")
        )
        return reg

    # B sweeps only when the test asks it to (poll_interval). A's sweep is stopped, as if its
    # process stalled: it no longer renews the lease of the step it runs.
    async with (
        running_engine(db, registry_of("a"), owner="engine-a", lease_seconds=0.3, poll_interval=3600) as a,
        running_engine(db, registry_of("b"), owner="engine-b", poll_interval=3600) as b,
    ):
        assert a._sweeper is not None
        a._sweeper.cancel()
        instance = await a.start_workflow("leased")
        await asyncio.wait_for(entered["a"].wait(), 10)
        a_drivers = list(a._live[instance.id.int].running.values())

        async def b_took_over() -> bool:
            return await b.recover() > 0

        await eventually(b_took_over, within=10, what="engine B to claim the expired execution")
        await asyncio.wait_for(entered["b"].wait(), 10)

        release["a"].set()  # A's step returns while B holds the lease
        await asyncio.gather(*a_drivers)
        check = db.create_engine()
        try:
            rows = await sql(
                check,
                "SELECT status, lease_owner FROM workflow_step_executions WHERE step_name = 'work'",
            )
            [stored] = await sql(check, "SELECT status, context_data FROM workflow_instances")
        finally:
            await check.dispose()
        # Not committed by A: still as B claimed it (a start is not written; the outcome will be).
        assert [(r["status"], r["lease_owner"]) for r in rows] == [("scheduled", "engine-b")]
        assert stored["status"] == "running"

        release["b"].set()
        done = await b.wait(instance.id, until=FINISHED, timeout=10)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data == {"by": "b"}
        assert [run.status for run in done.executions_of("work")] == [StepStatus.SUCCEEDED]
        seen_by_a = await a.wait(instance.id, until=FINISHED, timeout=10)
        assert seen_by_a.data == {"by": "b"}
