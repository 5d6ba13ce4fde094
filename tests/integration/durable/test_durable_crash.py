"""A process running 200 instances is SIGKILLed mid-flight; another engine recovers every one of them.

The child (``durable_child.py crash``) runs 200 instances of a 5-step workflow whose middle step is
slow, recording each step execution to a file before the step does its work. It is killed at a
seeded point (after its N-th recorded execution). An engine in the test process, on the same
database and with the same 1 s lease, then reclaims the dead process's work as the leases expire.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections import defaultdict
from typing import TYPE_CHECKING, Any
from uuid import UUID

import durable_flows
import pytest
from durable_support import as_json, complete_lines, end_child, spawn_child, sql, uuid_of, wait_for_child
from sqlalchemy.ext.asyncio import async_sessionmaker

from litestar_workflows import WorkflowStatus
from litestar_workflows.db import PersistentExecutionEngine
from step_kit import FINISHED

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import ScratchDatabase

N_INSTANCES = 200
STEPS = durable_flows.CRASH_STEPS
LEASE_SECONDS = 1.0  # the child uses the same lease (durable_child.LEASE_SECONDS)


def parse_records(path: Path) -> list[dict[str, Any]]:
    keys = ("instance_id", "step", "attempt", "execution_id", "pid")
    return [dict(zip(keys, line.split(","), strict=True)) for line in complete_lines(path)]


@pytest.mark.timeout(150)
@pytest.mark.parametrize("seed", [4, 9])  # kill points: SQLite 814 and 283, PostgreSQL 597 and 798
async def test_sigkill_mid_flight_then_another_engine_finishes_everything(
    scratch_database: ScratchDatabase, tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = scratch_database
    await db.migrate()
    child_records = tmp_path / "child.records"
    parent_records = tmp_path / "parent.records"
    ready = tmp_path / "child.ready"
    # Seeded kill point: anywhere from "s1 ran everywhere" to "most instances are in s4 or s5".
    kill_after = random.Random(f"durable-crash-{db.kind}-{seed}").randint(N_INSTANCES, 4 * N_INSTANCES + 100)

    child = spawn_child("crash", db.argv, child_records, ready, str(N_INSTANCES))
    try:
        await wait_for_child(child, ready, ready.exists, within=60, what="the child to start its instances")
        await wait_for_child(
            child,
            ready,
            lambda: len(complete_lines(child_records)) >= kill_after,
            within=60,
            what=f"{kill_after} recorded step executions",
        )
        os.kill(child.pid, signal.SIGKILL)
    finally:
        await end_child(child, kill=True)
    assert child.returncode == -signal.SIGKILL
    done_early = ready.with_name(ready.name + ".done").exists()
    assert not done_early, "the child finished before it was killed: nothing to recover"
    started = {UUID(line.split(",")[1]): int(line.split(",")[0]) for line in complete_lines(ready)}
    assert len(started) == N_INSTANCES
    killed_at = len(complete_lines(child_records))

    # A new engine on the same database (the child's leases expire within LEASE_SECONDS).
    monkeypatch.setattr(durable_flows, "RECORD_PATH", str(parent_records))
    db_engine = db.create_engine()
    engine = PersistentExecutionEngine(
        durable_flows.registry(),
        session_factory=async_sessionmaker(db_engine),
        lease_seconds=LEASE_SECONDS,
        poll_interval=0.1,
        owner="recoverer",
    )
    try:
        await engine.start()
        finals = await asyncio.gather(
            *(engine.wait(instance_id, until=FINISHED, timeout=60) for instance_id in started)
        )
        assert {f.status for f in finals} == {WorkflowStatus.COMPLETED}

        # Every instance completed, in the database too.
        instances = await sql(db_engine, "SELECT id, status, context_data FROM workflow_instances")
        assert {UUID(uuid_of(row["id"])) for row in instances} == set(started)
        assert {row["status"] for row in instances} == {"completed"}
        # Context written before the crash is intact: every step's key holds what that step wrote.
        for row in instances:
            n = started[UUID(uuid_of(row["id"]))]
            assert as_json(db_engine, row["context_data"]) == {
                "n": n,
                **{step: durable_flows.expected(n, step) for step in STEPS},
            }

        # No step execution was committed twice, none is left unfinished.
        runs = await sql(
            db_engine,
            "SELECT id, instance_id, step_name, iteration, status, attempt, result "
            "FROM workflow_step_executions",
        )
        assert {row["status"] for row in runs} == {"succeeded"}
        per_step: dict[tuple[str, str, int], list[str]] = defaultdict(list)
        for row in runs:
            per_step[uuid_of(row["instance_id"]), row["step_name"], row["iteration"]].append(
                uuid_of(row["id"])
            )
        assert [key for key, ids in per_step.items() if len(ids) != 1] == []
        assert len(per_step) == N_INSTANCES * len(STEPS)
        assert {row["attempt"] for row in runs} == {1}
    finally:
        await engine.stop()
        await db_engine.dispose()

    # What the processes actually ran: every committed execution ran somewhere, re-runs of an
    # interrupted execution kept its id (the idempotency key) and the committed result came from a
    # process that ran it.
    child_runs, parent_runs = parse_records(child_records), parse_records(parent_records)
    assert parent_runs, "the recovering engine ran nothing: the crash left no work behind?"
    ran: dict[str, set[str]] = defaultdict(set)  # execution id -> pids that ran it
    ids_per_step: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rec in child_runs + parent_runs:
        ran[rec["execution_id"]].add(rec["pid"])
        ids_per_step[rec["instance_id"], rec["step"]].add(rec["execution_id"])
    for row in runs:
        execution_id = uuid_of(row["id"])
        assert execution_id in ran, f"{row['step_name']} of {uuid_of(row['instance_id'])} never ran"
        assert str(as_json(db_engine, row["result"])["pid"]) in ran[execution_id]
    assert [key for key, ids in ids_per_step.items() if len(ids) != 1] == []
    rerun = [eid for eid, pids in ran.items() if len(pids) > 1]
    print(  # noqa: T201 - the figures are part of the evidence (pytest -s)
        f"\n{db.kind}: killed after {killed_at} recorded executions (threshold {kill_after}); "
        f"recovery ran {len(parent_runs)} executions, {len(rerun)} of them re-runs of interrupted ones"
    )
