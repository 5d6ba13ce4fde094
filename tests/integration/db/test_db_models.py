"""Column behaviour the store relies on, on SQLite and PostgreSQL: Core defaults, JSON, time zones, FKs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy.exc
from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from litestar_workflows.core.types import HumanTaskStatus, StepStatus, StepType, WorkflowStatus
from litestar_workflows.db import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
    enable_sqlite_foreign_keys,
    upgrade_database_async,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
instances = WorkflowInstanceModel.__table__
steps = StepExecutionModel.__table__
tasks = HumanTaskModel.__table__


@pytest.fixture
async def engine(async_engine: AsyncEngine) -> AsyncEngine:
    enable_sqlite_foreign_keys(async_engine)  # before the first connection; a no-op on PostgreSQL
    await upgrade_database_async(async_engine)
    return async_engine


def _instance_row(**overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "workflow_name": "approval",
        "workflow_version": "1.0.0",
        "status": WorkflowStatus.RUNNING.value,
    }
    row.update(overrides)
    return row


async def test_core_executemany_fills_id_audit_columns_and_defaults(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(instances), [_instance_row(created_by=f"u{i}") for i in range(3)])

        rows = (await connection.execute(select(instances).order_by(instances.c.created_by))).mappings().all()

    assert len({row["id"] for row in rows}) == 3
    assert all(isinstance(row["id"], uuid.UUID) for row in rows)
    for row in rows:
        assert row["created_at"].tzinfo is not None
        assert row["updated_at"].tzinfo is not None
        assert row["started_at"].tzinfo is not None
        assert row["version"] == 1
        assert row["context_data"] == {}
        assert row["runtime_state"] == {}
        assert row["metadata"] is None
        assert "sa_orm_sentinel" not in row  # advanced-alchemy's insert sentinel never appears in Core SQL


async def test_server_defaults_cover_rows_written_without_sqlalchemy(engine: AsyncEngine) -> None:
    instance_id = uuid.uuid4()
    raw_insert = text(
        "INSERT INTO workflow_instances"
        " (id, workflow_name, workflow_version, status, started_at, created_at, updated_at)"
        " VALUES (:id, 'raw', '1', 'pending', :ts, :ts, :ts)"
    ).bindparams(
        bindparam("id", type_=instances.c.id.type), bindparam("ts", type_=instances.c.started_at.type)
    )
    async with engine.begin() as connection:
        # Only the NOT NULL columns without a server default, as another tool writing raw SQL would.
        await connection.execute(raw_insert, {"id": instance_id, "ts": T0})
        row = (
            (await connection.execute(select(instances).where(instances.c.id == instance_id)))
            .mappings()
            .one()
        )
    assert (row["version"], row["context_data"], row["runtime_state"]) == (1, {}, {})


async def test_optimistic_version_check_with_core_update(engine: AsyncEngine) -> None:
    instance_id = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(insert(instances), [_instance_row(id=instance_id, updated_at=T0)])

        def bump(expected: int) -> Any:
            return (
                update(instances)
                .where(instances.c.id == instance_id, instances.c.version == expected)
                .values(status=WorkflowStatus.COMPLETED.value, version=instances.c.version + 1)
            )

        assert (await connection.execute(bump(1))).rowcount == 1
        assert (await connection.execute(bump(1))).rowcount == 0  # stale: someone else got there first
        row = (
            (await connection.execute(select(instances).where(instances.c.id == instance_id)))
            .mappings()
            .one()
        )
    assert row["version"] == 2
    assert row["updated_at"] > T0  # onupdate applies to Core UPDATEs too


async def test_json_columns(engine: AsyncEngine) -> None:
    instance_id = uuid.uuid4()
    context = {"amount": 12.5, "items": [1, "two", None, {"nested": True}], "name": "Zoë ✓"}
    async with engine.begin() as connection:
        await connection.execute(insert(instances), [_instance_row(id=instance_id, context_data=context)])
        await connection.execute(
            insert(steps),
            [
                {
                    "instance_id": instance_id,
                    "step_name": f"s{n}",
                    "step_type": StepType.MACHINE.value,
                    "status": StepStatus.SUCCEEDED.value,
                    "result": result,
                }
                for n, result in enumerate([None, 42, "text", [1, 2], {"ok": True}])
            ],
        )
        stored = (
            await connection.execute(select(instances.c.context_data).where(instances.c.id == instance_id))
        ).scalar_one()
        results = (
            (await connection.execute(select(steps.c.result).order_by(steps.c.step_name))).scalars().all()
        )
        # None is SQL NULL (not the JSON literal null), so IS NULL finds it.
        null_count = (
            await connection.execute(select(func.count()).where(steps.c.result.is_(None)))
        ).scalar_one()

    assert stored == context
    assert results == [None, 42, "text", [1, 2], {"ok": True}]
    assert null_count == 1

    with pytest.raises(sqlalchemy.exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(instances), [_instance_row(context_data=None)])


async def test_datetimes_are_utc_aware_and_naive_ones_are_rejected(engine: AsyncEngine) -> None:
    instance_id = uuid.uuid4()
    plus_two = timezone(timedelta(hours=2))
    async with engine.begin() as connection:
        await connection.execute(
            insert(instances),
            [_instance_row(id=instance_id, started_at=datetime(2024, 5, 1, 14, tzinfo=plus_two))],
        )
        started = (
            await connection.execute(select(instances.c.started_at).where(instances.c.id == instance_id))
        ).scalar_one()
    assert started == T0
    assert started.utcoffset() == timedelta(0)

    with pytest.raises(sqlalchemy.exc.StatementError, match="tzinfo is required"):
        async with engine.begin() as connection:
            await connection.execute(insert(instances), [_instance_row(started_at=datetime(2024, 5, 1))])  # noqa: DTZ001


async def test_deleting_an_instance_cascades_and_definitions_detach(engine: AsyncEngine) -> None:
    async with AsyncSession(engine, expire_on_commit=False) as session:
        definition = WorkflowDefinitionModel(name="flow", version="1", definition_json={})
        session.add(definition)
        await session.flush()
        instance = WorkflowInstanceModel(
            definition_id=definition.id, workflow_name="flow", workflow_version="1", status="waiting"
        )
        survivor = WorkflowInstanceModel(
            definition_id=definition.id, workflow_name="flow", workflow_version="1", status="running"
        )
        session.add_all([instance, survivor])
        await session.flush()
        step = StepExecutionModel(
            instance_id=instance.id, step_name="approve", step_type=StepType.HUMAN, status=StepStatus.WAITING
        )
        session.add(step)
        await session.flush()
        session.add(
            HumanTaskModel(
                instance_id=instance.id,
                step_execution_id=step.id,
                step_name="approve",
                title="Approve",
                status=HumanTaskStatus.PENDING,
            )
        )
        await session.commit()

    async with engine.begin() as connection:
        await connection.execute(instances.delete().where(instances.c.id == instance.id))
        await connection.execute(WorkflowDefinitionModel.__table__.delete())
        remaining_steps = (await connection.execute(select(func.count()).select_from(steps))).scalar_one()
        remaining_tasks = (await connection.execute(select(func.count()).select_from(tasks))).scalar_one()
        survivor_definition = (
            await connection.execute(select(instances.c.definition_id).where(instances.c.id == survivor.id))
        ).scalar_one()
    assert (remaining_steps, remaining_tasks, survivor_definition) == (0, 0, None)


async def test_relationships_are_loaded_eagerly(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        instance = WorkflowInstanceModel(workflow_name="flow", workflow_version="1", status="running")
        session.add(instance)
        await session.flush()
        for attempt, created in ((2, T0 + timedelta(seconds=1)), (1, T0)):
            session.add(
                StepExecutionModel(
                    instance_id=instance.id,
                    step_name="call",
                    step_type=StepType.MACHINE,
                    status=StepStatus.FAILED,
                    attempt=attempt,
                    created_at=created,
                )
            )
        instance_id = instance.id
        await session.commit()

    async with AsyncSession(engine) as session:
        loaded = await session.get(WorkflowInstanceModel, instance_id)
        assert loaded is not None
        # Plain attribute access: no lazy load (which would raise MissingGreenlet in async code).
        assert [s.attempt for s in loaded.step_executions] == [1, 2]
        assert loaded.human_tasks == []
