"""Migration 0002 on a database with data: downgrading to 0001 keeps every instance and step (the
keys and tracebacks go), and upgrading again serves them; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from durable_support import sql
from engine_kinds import database_of, engine_for, stored
from sqlalchemy import inspect

from litestar_workflows import BaseMachineStep, WorkflowDefinition, WorkflowRegistry, WorkflowStatus
from litestar_workflows.db import current_revision, downgrade_database_async, upgrade_database_async

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext


class Boom(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> None:
        raise ConnectionError("down")


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(WorkflowDefinition(name="boom", steps=[Boom("boom")], edges=[], initial_step="boom"))
    return reg


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> ScratchDatabase:
    found = database_of(request)
    assert found is not None
    return found


async def _columns(database: ScratchDatabase, table: str) -> set[str]:
    db_engine = database.create_engine()
    try:
        async with db_engine.connect() as conn:
            names = await conn.run_sync(lambda sync: [c["name"] for c in inspect(sync).get_columns(table)])
    finally:
        await db_engine.dispose()
    return set(names)


async def test_down_to_0001_and_up_again_keeps_the_instances(database: ScratchDatabase) -> None:
    async with engine_for(database, registry()) as engine:
        instance = await engine.start_workflow("boom", key="order-1")
        await engine.wait(instance.id, timeout=10)
    db_engine = database.create_engine()
    try:
        await downgrade_database_async(db_engine, "0001")
        assert await current_revision(db_engine) == "0001"
        rows = await sql(db_engine, "SELECT status, error FROM workflow_step_executions")
        assert rows == [{"status": "failed", "error": "ConnectionError: down"}]
    finally:
        await db_engine.dispose()
    assert {"key"}.isdisjoint(await _columns(database, "workflow_instances"))
    assert {"error_type", "stack_trace"}.isdisjoint(await _columns(database, "workflow_step_executions"))

    async with engine_for(database, registry()) as engine:  # migrates to the head again
        again = await stored(engine, instance.id)
        assert again.status is WorkflowStatus.FAILED
        assert (again.key, again.step_history[0].error_type) == (None, None)
        assert again.step_history[0].error == "ConnectionError: down"
        # The key went with the downgrade: it is free again.
        fresh, created = await engine.start_or_get("boom", key="order-1")
        assert created
        assert fresh.id != instance.id
    db_engine = database.create_engine()
    try:
        await upgrade_database_async(db_engine)  # already current: nothing to do
    finally:
        await db_engine.dispose()
