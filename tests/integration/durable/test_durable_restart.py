"""State survives the engine: stop one engine, open another on the same database, carry on."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import running_engine, sql, uuid_param

from litestar_workflows import (
    BaseHumanStep,
    DelayStep,
    Edge,
    HumanTaskStatus,
    StepStatus,
    WorkflowDefinition,
    WorkflowNotFoundError,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Set, succeeded

if TYPE_CHECKING:
    from conftest import ScratchDatabase

FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


def defn(name: str, steps: list[Any], edges: list[Edge], version: str = "1.0.0") -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name, steps=steps, edges=edges, initial_step=steps[0].name, version=version
    )


def approval() -> WorkflowDefinition:
    return defn(
        "approval",
        [Set("submit", submitted=True), BaseHumanStep("approve", form_schema=FORM), Set("book", booked=True)],
        [Edge("submit", "approve"), Edge("approve", "book")],
    )


def registry_with(*definitions: WorkflowDefinition) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    for definition in definitions:
        registry.register(definition)
    return registry


async def test_human_task_completed_on_a_new_engine(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    await db.migrate()
    async with running_engine(db, registry_with(approval()), owner="engine-a") as a:
        instance = await a.start_workflow("approval", {"amount": 7}, tenant_id="t", created_by="ann")
        waiting = await a.wait(instance.id, timeout=10)
        assert waiting.status is WorkflowStatus.WAITING

    async with running_engine(db, registry_with(approval()), owner="engine-b") as b:
        [task] = (await b.find_tasks(status=HumanTaskStatus.PENDING)).items
        assert (task.instance_id, task.step_name) == (instance.id, "approve")
        await b.complete_human_task(instance.id, "approve", "mia", {"ok": True})
        done = await b.wait(instance.id, until=FINISHED, timeout=10)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data == {"amount": 7, "submitted": True, "ok": True, "booked": True}
        assert (done.tenant_id, done.created_by) == ("t", "ann")
        assert succeeded(done) == ["submit", "approve", "book"]
        assert (await b.get_task(task.id)).completed_by == "mia"


@pytest.mark.timeout(60)
async def test_timer_armed_on_a_stopped_engine_fires_once_on_the_next(
    scratch_database: ScratchDatabase,
) -> None:
    db = scratch_database
    await db.migrate()
    definition = defn("timed", [DelayStep("wait", 1.5), Set("after", woke=True)], [Edge("wait", "after")])
    began = time.monotonic()
    async with running_engine(db, registry_with(definition), owner="engine-a", lease_seconds=1.0) as a:
        instance = await a.start_workflow("timed")
        assert (await a.wait(instance.id, timeout=10)).status is WorkflowStatus.WAITING

    async def stored_steps() -> list[tuple[str, str]]:
        """(step, status) of the instance's execution rows, read by plain SQL."""
        check = db.create_engine()
        try:
            rows = await sql(
                check,
                "SELECT step_name, status FROM workflow_step_executions WHERE instance_id = :id",
                id=uuid_param(check, instance.id),
            )
        finally:
            await check.dispose()
        return sorted((r["step_name"], r["status"]) for r in rows)

    assert await stored_steps() == [("wait", "waiting")], "engine A must stop before its timer fires"

    # Engine B starts before the timer is due: it must neither fire it early nor twice.
    async with running_engine(
        db, registry_with(definition), owner="engine-b", lease_seconds=1.0, poll_interval=0.1
    ) as b:
        done = await b.wait(instance.id, until=FINISHED, timeout=20)
        assert time.monotonic() - began >= 1.5
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data == {"woke": True}
        [timer] = done.executions_of("wait")
        assert timer.status == StepStatus.SUCCEEDED
        assert timer.completed_at is not None
        assert timer.scheduled_for is not None
        assert timer.completed_at >= timer.scheduled_for
        assert await stored_steps() == [("after", "succeeded"), ("wait", "succeeded")]


async def test_version_pinning_across_a_restart(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    await db.migrate()

    def evolving(version: str, next_step: str) -> WorkflowDefinition:
        return defn(
            "evolving",
            [BaseHumanStep("approve"), Set(next_step, path=next_step)],
            [Edge("approve", next_step)],
            version=version,
        )

    v1, v2 = evolving("1.0.0", "old_next"), evolving("2.0.0", "new_next")
    async with running_engine(db, registry_with(v1)) as a:
        instance = await a.start_workflow("evolving")
        assert (await a.wait(instance.id, timeout=10)).status is WorkflowStatus.WAITING

    # A deployment that no longer has 1.0.0 cannot continue the instance, and says why.
    async with running_engine(db, registry_with(v2)) as b:
        with pytest.raises(WorkflowNotFoundError, match=r"1\.0\.0"):
            await b.complete_human_task(instance.id, "approve", "someone", {})
        assert (await b.get_instance(instance.id)).status is WorkflowStatus.WAITING

    async with running_engine(db, registry_with(v1, v2)) as c:
        await c.complete_human_task(instance.id, "approve", "someone", {})
        done = await c.wait(instance.id, until=FINISHED, timeout=10)
        assert (done.workflow_version, succeeded(done), done.data) == (
            "1.0.0",
            ["approve", "old_next"],
            {"path": "old_next"},
        )
        fresh = await c.start_workflow("evolving")
        assert fresh.workflow_version == "2.0.0"
        await c.cancel_workflow(fresh.id)
