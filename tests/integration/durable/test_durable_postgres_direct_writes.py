"""PostgreSQL: a group commit without conflicts goes straight through asyncpg, and steps aside when it must.

The direct way (``db/postgres_batch.py``, ``write_in_one_transaction``) sends no statement through
SQLAlchemy; these tests watch SQLAlchemy's statement events to tell which way a batch went.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import running_engine, sql_statements

import litestar_workflows.db.postgres_batch as postgres_batch
from litestar_workflows import WorkflowRegistry, WorkflowStatus
from litestar_workflows.core.errors import TaskAlreadyCompletedError
from step_kit import FINISHED, approval_registry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase


def registry() -> WorkflowRegistry:
    return approval_registry("direct_writes")


@contextlib.asynccontextmanager
async def two_engines(database: ScratchDatabase) -> AsyncIterator[tuple[Any, Any]]:
    """Two engines on one migrated schema, neither sweeping: "here" and "elsewhere"."""
    await database.migrate()
    async with (
        running_engine(database, registry(), poll_interval=3600) as here,
        running_engine(database, registry(), poll_interval=3600) as elsewhere,
    ):
        yield here, elsewhere


def writes(statements: list[str]) -> list[str]:
    return [s for s in statements if s.split()[0].upper() in {"INSERT", "UPDATE", "WITH"}]


async def test_step_outcomes_and_task_completions_are_written_without_sqlalchemy(
    scratch_postgres: ScratchDatabase,
) -> None:
    await scratch_postgres.migrate()
    async with running_engine(scratch_postgres, registry(), poll_interval=3600) as engine:
        await engine.start_workflow("direct_writes")  # the definition row goes through SQLAlchemy
        with sql_statements(engine) as seen:
            instance = await engine.start_workflow("direct_writes")
            assert (await engine.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
            await engine.complete_human_task(instance.id, "approve", "ann", {"ok": True})
            done = await engine.wait(instance.id, until=FINISHED, timeout=30)
        assert writes(seen) == []
        assert done.data == {"began": True, "ok": True, "done": True}
        fresh = await engine.sql_store.load_instance(instance.id)
        assert fresh is not None
        assert (fresh.status, fresh.version) == (WorkflowStatus.COMPLETED, done.version)


async def test_an_instance_changed_elsewhere_goes_the_careful_way_and_is_refused(
    scratch_postgres: ScratchDatabase,
) -> None:
    async with two_engines(scratch_postgres) as (here, elsewhere):
        instance = await here.start_workflow("direct_writes")
        await here.wait(instance.id, timeout=30)
        await elsewhere.complete_human_task(instance.id, "approve", "ann", {"by": "elsewhere"})
        await elsewhere.wait(instance.id, until=FINISHED, timeout=30)
        # ``here`` still holds the waiting copy: its direct write finds another version, rolls back,
        # and the careful way refuses the stale transition; the engine reloads and says why.
        with sql_statements(here) as seen, pytest.raises(TaskAlreadyCompletedError):
            await here.complete_human_task(instance.id, "approve", "ann", {"by": "here"})
        assert any("FOR UPDATE" in s for s in seen)  # the careful way ran
        stored = await here.sql_store.load_instance(instance.id)
        assert stored is not None
        assert stored.data["by"] == "elsewhere"


async def test_a_failing_direct_write_leaves_no_transaction_behind_and_the_careful_way_writes(
    scratch_postgres: ScratchDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    await scratch_postgres.migrate()
    async with running_engine(scratch_postgres, registry(), poll_interval=3600) as engine:
        first = await engine.start_workflow("direct_writes")
        await engine.wait(first.id, timeout=30)
        # The server refuses the direct ways' statements: the one-statement batch, and the check
        # statement inside the direct transaction.
        monkeypatch.setattr(postgres_batch, "batch_statement", lambda _counts: "SELECT * FROM no_such_table")
        monkeypatch.setattr(
            postgres_batch, "VERSIONS_AND_LEASES", "SELECT * FROM no_such_table WHERE $1 AND $2 AND $3"
        )
        with sql_statements(engine) as seen:
            await engine.complete_human_task(first.id, "approve", "ann", {"ok": True})
            assert (
                await engine.wait(first.id, until=FINISHED, timeout=30)
            ).status is WorkflowStatus.COMPLETED
        assert writes(seen)  # written the careful way
        monkeypatch.undo()
        # Every pooled connection is usable: none was handed back inside the failed transaction.
        for _ in range(5):
            again = await engine.start_workflow("direct_writes")
            assert (await engine.wait(again.id, timeout=30)).status is WorkflowStatus.WAITING
            await engine.complete_human_task(again.id, "approve", "ann", {"ok": True})
            assert (
                await engine.wait(again.id, until=FINISHED, timeout=30)
            ).status is WorkflowStatus.COMPLETED
        async with engine.sql_store.db_engine.connect() as conn:
            raw = await conn.get_raw_connection()
            assert not raw.driver_connection.is_in_transaction()


async def test_a_batch_with_one_stale_instance_writes_the_others_the_careful_way(
    scratch_postgres: ScratchDatabase,
) -> None:
    """The one-statement batch refuses itself whole; the careful way then writes what it can."""
    async with two_engines(scratch_postgres) as (here, elsewhere):
        fresh, stale = [await here.start_workflow("direct_writes") for _ in range(2)]
        for instance in (fresh, stale):
            await here.wait(instance.id, timeout=30)
        await elsewhere.complete_human_task(stale.id, "approve", "ann", {"by": "elsewhere"})
        await elsewhere.wait(stale.id, until=FINISHED, timeout=30)
        # Both completions are submitted in one turn of the loop, so they share one batch.
        with sql_statements(here) as seen:
            outcomes = await asyncio.gather(
                here.complete_human_task(fresh.id, "approve", "ann", {"by": "here"}),
                here.complete_human_task(stale.id, "approve", "ann", {"by": "here"}),
                return_exceptions=True,
            )
        assert isinstance(outcomes[1], TaskAlreadyCompletedError)
        assert not isinstance(outcomes[0], BaseException)
        assert any("FOR UPDATE" in s for s in seen)  # refused whole, then written the careful way
        done = await here.wait(fresh.id, until=FINISHED, timeout=30)
        assert (done.status, done.data["by"]) == (WorkflowStatus.COMPLETED, "here")
        stored = await here.sql_store.load_instance(stale.id)
        assert stored is not None
        assert stored.data["by"] == "elsewhere"
