"""``stop()`` gives back the leases an engine took, and writes nothing when it took none.

An engine that only read (a CLI listing, a read-only dashboard) used to run the release statement
anyway on stop: a write transaction (on SQLite, the database's one write lock) with nothing to
release, and a warning "could not release the leases" whenever that write failed (an older
schema, a database that went read-only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import sql, uuid_param
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import async_sessionmaker

from litestar_workflows import Edge, WorkflowDefinition, WorkflowRegistry
from litestar_workflows.db import PersistentExecutionEngine
from step_kit import Fn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext


def statements_of(db_engine: Any) -> list[str]:
    """Every statement the engine's connections execute from now on (through SQLAlchemy)."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db_engine.sync_engine, "before_cursor_execute", record)
    return seen


def held_workflow() -> tuple[WorkflowRegistry, asyncio.Event, asyncio.Event]:
    """A workflow "held" whose first step runs until ``gate`` is set (``entered`` once it runs)."""
    gate = asyncio.Event()
    entered = asyncio.Event()

    async def held(_ctx: WorkflowContext) -> None:
        entered.set()
        await gate.wait()

    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name="held",
            version="1",
            steps={"wait": Fn("wait", held), "done": Fn("done")},
            edges=[Edge("wait", "done")],
            initial_step="wait",
            terminal_steps={"done"},
        )
    )
    return registry, gate, entered


@contextlib.asynccontextmanager
async def held_instance(db: ScratchDatabase) -> AsyncIterator[tuple[WorkflowRegistry, Any, Any, Any]]:
    """An engine on ``db`` running an instance of "held" at its first step: registry, database
    engine, workflow engine, instance (the step is let go, the engines stopped, afterwards)."""
    await db.migrate()
    registry, gate, entered = held_workflow()
    db_engine = db.create_engine()
    runner = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine))
    try:
        instance = await runner.start_workflow("held")
        await asyncio.wait_for(entered.wait(), 10)
        yield registry, db_engine, runner, instance
    finally:
        gate.set()
        await runner.stop()
        await db_engine.dispose()


async def lease_owners(db_engine: Any, instance_id: Any) -> list[Any]:
    rows = await sql(
        db_engine,
        "SELECT lease_owner FROM workflow_step_executions WHERE instance_id = :id",
        id=uuid_param(db_engine, instance_id),
    )
    return [r["lease_owner"] for r in rows]


async def test_stop_releases_taken_leases_and_writes_nothing_after_only_reading(
    scratch_database: ScratchDatabase, caplog: pytest.LogCaptureFixture
) -> None:
    async with held_instance(scratch_database) as (registry, db_engine, runner, instance):
        assert (await lease_owners(db_engine, instance.id)) != [None]  # running here, leased to it
        await runner.stop()  # cancels the step, and gives its lease back at once
        assert await lease_owners(db_engine, instance.id) == [None]

        reader = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine))
        seen = statements_of(reader.store.db_engine)
        caplog.set_level(logging.WARNING, logger="litestar_workflows")
        assert (await reader.get_instance(instance.id)).current_step == "wait"
        assert (await reader.find_instances(workflow_name="held")).total == 1
        await reader.stop()
        assert [s for s in seen if s.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE"))] == []
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_store_named_after_it_was_built_releases_that_names_leases(
    scratch_database: ScratchDatabase,
) -> None:
    """The distributed engine names its store's owner after building it (``store.owner = ...``)."""
    async with held_instance(scratch_database) as (registry, db_engine, _runner, instance):
        # An earlier process of the worker "worker-7" held this lease when it died.
        async with db_engine.begin() as conn:
            await conn.execute(text("UPDATE workflow_step_executions SET lease_owner = 'worker-7'"))
        later = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine))
        later.store.owner = "worker-7"
        await later.stop()
        assert await lease_owners(db_engine, instance.id) == [None]
