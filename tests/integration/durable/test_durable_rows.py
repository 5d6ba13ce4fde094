"""What a durable engine leaves in the database after each step, read with plain SQL."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from durable_support import as_json, eventually, running_engine, sql, uuid_of, uuid_param

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    RetryPolicy,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from uuid import UUID

    from sqlalchemy.ext.asyncio import AsyncEngine

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

FORM = {"type": "object", "properties": {"approved": {"type": "boolean"}}, "required": ["approved"]}
OWNER = "rows-engine"


async def instance_row(db_engine: AsyncEngine, instance_id: UUID) -> dict[str, Any]:
    [row] = await sql(
        db_engine,
        "SELECT status, current_step, context_data, version, completed_at FROM workflow_instances WHERE id = :id",
        id=uuid_param(db_engine, instance_id),
    )
    row["context_data"] = as_json(db_engine, row["context_data"])
    return row


async def run_rows(db_engine: AsyncEngine, instance_id: UUID) -> dict[str, dict[str, Any]]:
    rows = await sql(
        db_engine,
        "SELECT id, step_name, step_type, status, attempt, iteration, result, context_changes, output_data, "
        "completed_by, lease_owner, lease_expires_at FROM workflow_step_executions WHERE instance_id = :id",
        id=uuid_param(db_engine, instance_id),
    )
    by_step: dict[str, dict[str, Any]] = {}
    for row in rows:
        assert row["step_name"] not in by_step, f"two executions of {row['step_name']}"
        for key in ("result", "context_changes", "output_data"):
            row[key] = as_json(db_engine, row[key])
        row["id"] = uuid_of(row["id"])
        by_step[row["step_name"]] = row
    return by_step


async def task_rows(db_engine: AsyncEngine, instance_id: UUID) -> list[dict[str, Any]]:
    rows = await sql(
        db_engine,
        "SELECT step_name, status, assignee_id, completed_by, completed_at, step_execution_id "
        "FROM workflow_human_tasks WHERE instance_id = :id",
        id=uuid_param(db_engine, instance_id),
    )
    for row in rows:
        row["step_execution_id"] = uuid_of(row["step_execution_id"])
    return rows


async def test_rows_after_each_step(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    await db.migrate()
    gate = asyncio.Event()

    async def second(ctx: WorkflowContext) -> None:
        await gate.wait()
        ctx.set("b", [1, 2])

    def flaky(ctx: WorkflowContext) -> str:
        if ctx.attempt < 3:
            raise ConnectionError(f"attempt {ctx.attempt}")
        ctx.set("c", "done")
        return "third time"

    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name="rows",
            steps=[
                Fn("a", lambda ctx: ctx.set("a", 1) or "a-result"),
                Fn("b", second),
                BaseHumanStep("review", form_schema=FORM, assignee="mia"),
                Fn("c", flaky, retry_policy=RetryPolicy(max_attempts=3, initial_delay=0, jitter=0)),
            ],
            edges=[Edge("a", "b"), Edge("b", "review"), Edge("review", "c")],
            initial_step="a",
        )
    )
    check = db.create_engine()  # a separate connection pool: reads what was committed, nothing else
    try:
        async with running_engine(db, registry, owner=OWNER, poll_interval=0.2) as engine:
            instance = await engine.start_workflow("rows", {"x": 0})

            # After "a": its write is committed; "b" is scheduled, leased to this engine.
            async def a_committed() -> bool:
                runs = await run_rows(check, instance.id)
                return runs.get("a", {}).get("status") == "succeeded"

            await eventually(a_committed, what="step a to be committed")
            row = await instance_row(check, instance.id)
            assert (row["status"], row["context_data"]) == ("running", {"x": 0, "a": 1})
            first_version = row["version"]
            runs = await run_rows(check, instance.id)
            assert set(runs) == {"a", "b"}
            a = runs["a"]
            assert (a["status"], a["attempt"], a["iteration"], a["result"]) == ("succeeded", 1, 0, "a-result")
            assert a["context_changes"] == {"set": {"a": 1}, "deleted": []}
            b = runs["b"]
            assert b["status"] in {"scheduled", "running"}
            assert b["lease_owner"] == OWNER
            assert b["lease_expires_at"] is not None
            assert await task_rows(check, instance.id) == []

            # After "b": the instance waits for the review; a pending task row exists.
            gate.set()
            await engine.wait(instance.id, timeout=10)
            row = await instance_row(check, instance.id)
            assert (row["status"], row["current_step"]) == ("waiting", "review")
            assert row["context_data"] == {"x": 0, "a": 1, "b": [1, 2]}
            assert row["version"] > first_version
            waiting_version = row["version"]
            runs = await run_rows(check, instance.id)
            assert (runs["b"]["status"], runs["b"]["attempt"]) == ("succeeded", 1)
            assert (runs["review"]["status"], runs["review"]["step_type"]) == ("waiting", "human")
            [task] = await task_rows(check, instance.id)
            assert (task["status"], task["assignee_id"], task["completed_by"], task["completed_at"]) == (
                "pending",
                "mia",
                None,
                None,
            )
            assert task["step_execution_id"] == runs["review"]["id"]

            # After the review and "c" (two failed attempts, then success).
            await engine.complete_human_task(instance.id, "review", "mia", {"approved": True})
            done = await engine.wait(instance.id, until=FINISHED, timeout=10)
            assert done.status is WorkflowStatus.COMPLETED
            row = await instance_row(check, instance.id)
            assert row["status"] == "completed"
            assert row["completed_at"] is not None
            assert row["context_data"] == {"x": 0, "a": 1, "b": [1, 2], "approved": True, "c": "done"}
            assert row["version"] > waiting_version
            runs = await run_rows(check, instance.id)
            assert {name: r["status"] for name, r in runs.items()} == dict.fromkeys(
                ("a", "b", "review", "c"), "succeeded"
            )
            assert (runs["review"]["completed_by"], runs["review"]["output_data"]) == (
                "mia",
                {"approved": True},
            )
            assert (runs["c"]["attempt"], runs["c"]["result"]) == (3, "third time")
            assert runs["c"]["context_changes"] == {"set": {"c": "done"}, "deleted": []}
            [task] = await task_rows(check, instance.id)
            assert (task["status"], task["completed_by"]) == ("completed", "mia")
            assert task["completed_at"] is not None
            definitions = await sql(check, "SELECT name, version FROM workflow_definitions")
            assert definitions == [{"name": "rows", "version": "1.0.0"}]
    finally:
        await check.dispose()


async def test_number_results_and_data_read_back_from_a_fresh_engine(
    scratch_database: ScratchDatabase,
) -> None:
    """SQLite stores a JSON column holding a bare number as a number (NUMERIC affinity); it reads back."""
    await scratch_database.migrate()
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="numbers",
            steps=[Fn("one", lambda ctx: 1), Fn("half", lambda ctx: 2.5), Fn("text", lambda ctx: "7")],
            edges=[Edge("one", "half"), Edge("half", "text")],
            initial_step="one",
        )
    )
    async with running_engine(scratch_database, registry) as engine:
        started = await engine.start_workflow("numbers", {"n": 3})
        await engine.wait(started.id, until=FINISHED)
    async with running_engine(scratch_database, registry) as fresh:
        instance = await fresh.get_instance(started.id)
        assert instance.status is WorkflowStatus.COMPLETED
        results = {e.step_name: e.result for e in instance.step_history}
        assert results == {"one": 1, "half": 2.5, "text": "7"}
        assert instance.context.data["n"] == 3
