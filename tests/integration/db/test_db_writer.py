"""The store's hand-written SQL must store values exactly as the models' column types do.

Everything else (the repositories, the due-work queries that compare timestamps) reads and
compares through SQLAlchemy's types, so the raw text, bytes and JSON the fast writer produces
must be indistinguishable from what SQLAlchemy writes for the same values.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.dialects import sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from litestar_workflows.core.context import StepExecution, WorkflowContext
from litestar_workflows.core.ids import new_uuid7
from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
from litestar_workflows.core.types import StepStatus, StepType, WorkflowStatus
from litestar_workflows.db import upgrade_database_async
from litestar_workflows.db.direct_reads import fast_converter
from litestar_workflows.db.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel
from litestar_workflows.db.writer import row_writer

WHEN = datetime(2026, 3, 4, 5, 6, 7, 0, tzinfo=UTC)
ELSEWHERE = datetime(2026, 3, 4, 7, 6, 7, 123456, tzinfo=timezone(timedelta(hours=2)))


async def test_fast_rows_read_back_like_orm_rows(async_engine: AsyncEngine) -> None:
    await upgrade_database_async(async_engine)
    writer = row_writer(async_engine.dialect.name)
    instance_id, run_id = new_uuid7(), new_uuid7()
    orm_instance = WorkflowInstanceModel(
        id=new_uuid7(),
        workflow_name="w",
        workflow_version="1",
        status="running",
        context_data={"a": [1, {"b": None}], "é": "ü"},
        metadata_={},
        started_at=WHEN,
        version=1,
        runtime_state={},
    )
    run = StepExecution(
        "s",
        StepStatus.SUCCEEDED,
        result={"ok": True},
        started_at=WHEN,
        completed_at=ELSEWHERE,
        id=run_id,
        step_type=StepType.MACHINE,
        scheduled_for=WHEN,
        context_changes={"set": {"x": 1}, "deleted": []},
    )
    async with async_engine.begin() as conn:
        await conn.execute(
            WorkflowInstanceModel.__table__.insert(),
            {
                c.name: getattr(orm_instance, c.key if c.key != "metadata" else "metadata_")
                for c in WorkflowInstanceModel.__table__.columns
                if c.name != "sa_orm_sentinel"
            }
            | {"id": instance_id, "created_at": WHEN, "updated_at": WHEN},
        )
        await conn.exec_driver_sql(
            writer.upsert_runs, [writer.run(run, instance_id, WHEN, ("me", ELSEWHERE))]
        )
    async with async_engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    select(StepExecutionModel.__table__).where(StepExecutionModel.__table__.c.id == run_id)
                )
            )
            .mappings()
            .one()
        )
        # Comparisons run through SQLAlchemy's types, as the due-work queries do.
        due = (
            await conn.execute(
                select(StepExecutionModel.__table__.c.id).where(
                    StepExecutionModel.__table__.c.scheduled_for <= WHEN,
                    StepExecutionModel.__table__.c.lease_expires_at == ELSEWHERE,
                )
            )
        ).all()
    assert row["instance_id"] == instance_id
    assert row["status"] == "succeeded"
    assert row["step_type"] == "machine"
    assert row["result"] == {"ok": True}
    assert row["context_changes"] == {"set": {"x": 1}, "deleted": []}
    assert row["started_at"] == WHEN
    assert row["completed_at"] == ELSEWHERE
    assert row["lease_owner"] == "me"
    assert [r.id for r in due] == [run_id]


async def test_fast_timestamps_are_the_text_sqlalchemy_stores(sqlite_engine: AsyncEngine) -> None:
    await upgrade_database_async(sqlite_engine)
    writer = row_writer("sqlite")
    async with sqlite_engine.begin() as conn:
        await conn.execute(
            StepExecutionModel.__table__.insert(),
            {
                "id": (run_id := new_uuid7()),
                "instance_id": new_uuid7(),
                "step_name": "s",
                "step_type": "machine",
                "status": "scheduled",
                "started_at": ELSEWHERE,
                "created_at": WHEN,
                "updated_at": WHEN,
            },
        )
        stored = (
            await conn.exec_driver_sql("SELECT started_at, created_at, id FROM workflow_step_executions")
        ).one()
    assert stored[0] == writer.time(ELSEWHERE)
    assert stored[1] == writer.time(WHEN)
    assert stored[2] == writer.uuid(run_id)


OFFSETS = st.builds(
    lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(min_value=-23 * 60, max_value=23 * 60)
)
MOMENTS = st.datetimes(
    min_value=datetime(2, 1, 1),  # noqa: DTZ001 - bounds of naive values, given a zone below
    max_value=datetime(9998, 12, 31),  # noqa: DTZ001
    timezones=st.one_of(st.just(UTC), OFFSETS),
)


@given(moments=st.lists(MOMENTS, min_size=1, max_size=8))
def test_fast_timestamp_text_is_the_column_types_for_any_moment_and_zone(moments: list[datetime]) -> None:
    # The fast text keeps the last minute it formatted and the two last repeated moments: any
    # sequence of values (same minute, other minutes, other zones, the same object again) must
    # still give exactly what the model's column type binds.
    column_text = StepExecutionModel.__table__.c.started_at.type._cached_bind_processor(sqlite.dialect())
    writer = row_writer("sqlite")
    for moment in [*moments, *reversed(moments), *moments]:
        assert writer.time(moment) == column_text(moment)
        assert writer.moment(moment) == column_text(moment)


async def test_fast_rows_keep_nulls_and_empty_strings_apart(async_engine: AsyncEngine) -> None:
    """NULL reaches the database as NULL, and an empty string of a free-text column stays one."""
    await upgrade_database_async(async_engine)
    writer = row_writer(async_engine.dialect.name)
    instance_id, run_id = new_uuid7(), new_uuid7()
    async with async_engine.begin() as conn:
        await conn.execute(
            WorkflowInstanceModel.__table__.insert(),
            {
                "id": instance_id,
                "workflow_name": "w",
                "workflow_version": "1",
                "status": "running",
                "context_data": {},
                "metadata": {},
                "started_at": WHEN,
                "version": 1,
                "runtime_state": {},
                "created_at": WHEN,
                "updated_at": WHEN,
            },
        )
        scheduled = StepExecution("s", StepStatus.SCHEDULED, id=run_id, error="", assigned_to="")
        await conn.exec_driver_sql(writer.upsert_runs, [writer.run(scheduled, instance_id, WHEN, None)])
    async with async_engine.connect() as conn:
        table = StepExecutionModel.__table__
        row = (await conn.execute(select(table).where(table.c.id == run_id))).mappings().one()
        nulls = (
            await conn.execute(
                select(table.c.id).where(
                    table.c.result.is_(None),
                    table.c.started_at.is_(None),
                    table.c.scheduled_for.is_(None),
                    table.c.lease_owner.is_(None),
                    table.c.lease_expires_at.is_(None),
                    table.c.context_changes.is_(None),
                )
            )
        ).all()
    assert row["status"] == "scheduled"
    assert row["error"] == ""
    assert row["assigned_to"] == ""
    assert row["completed_by"] is None
    assert row["created_at"] == WHEN
    assert [r.id for r in nulls] == [run_id]


STORED_TEXTS = st.one_of(
    MOMENTS.map(lambda moment: moment.astimezone(UTC).isoformat(" ", "microseconds")[:26]),  # as stored
    MOMENTS.map(lambda moment: moment.isoformat(" ")),  # with an offset: 32 characters
    MOMENTS.map(lambda moment: moment.astimezone(UTC).isoformat("T", "microseconds")[:26]),  # 'T'
    MOMENTS.map(lambda moment: moment.astimezone(UTC).isoformat(" ", "seconds")[:19]),  # no fraction
    MOMENTS.map(lambda moment: moment.astimezone(UTC).isoformat(" ", "microseconds")[:26].replace(".", ",")),
    st.text(alphabet="0123456789-: .T", min_size=26, max_size=26),  # the length, not a time
)


def _both_readers(column_name: str) -> tuple[Any, Any]:
    """The column type's own result processor on SQLite, and the store's fast reader for it."""
    dialect = sqlite.dialect()
    column = StepExecutionModel.__table__.c[column_name]
    processor = column.type.dialect_impl(dialect).result_processor(dialect, None)
    fast = fast_converter(column.type, dialect, processor)
    assert fast is not processor
    return processor, fast


def _outcome(convert: Any, value: Any) -> tuple[str, Any]:
    try:
        result = convert(value)
    except Exception as error:  # noqa: BLE001 - the kind of failure is what is compared
        return ("raises", type(error))
    return ("value", (result, getattr(result, "tzinfo", None), getattr(result, "is_safe", None)))


@given(text=STORED_TEXTS)
def test_the_fast_timestamp_reader_gives_what_the_column_type_gives(text: str) -> None:
    # Read back from SQLite, a timestamp column holds the writer's 26 characters; anything else
    # in it (written by other means) must come out exactly as SQLAlchemy's own processor has it.
    processor, fast = _both_readers("started_at")
    assert _outcome(fast, text) == _outcome(processor, text)


@given(value=st.one_of(st.binary(min_size=16, max_size=16), st.binary(max_size=20), st.uuids().map(str)))
def test_the_fast_id_reader_gives_what_the_column_type_gives(value: Any) -> None:
    processor, fast = _both_readers("id")
    assert _outcome(fast, value) == _outcome(processor, value)


async def test_fast_rows_store_missing_free_text_as_null(async_engine: AsyncEngine) -> None:
    """A ``None`` in a free-text column (bound on SQLite as a NaN, not as ``None``) is SQL NULL."""
    await upgrade_database_async(async_engine)
    writer = row_writer(async_engine.dialect.name)
    instance_id, run_id, task_id = new_uuid7(), new_uuid7(), new_uuid7()
    instance = WorkflowInstanceData(
        instance_id, "w", "1", WorkflowStatus.RUNNING, WorkflowContext("w@1", instance_id), started_at=WHEN
    )
    run = StepExecution("s", StepStatus.WAITING, id=run_id, step_type=StepType.HUMAN)
    task = HumanTask(task_id, instance_id, run_id, "s", "Approve", created_at=WHEN)
    async with async_engine.begin() as conn:
        await conn.exec_driver_sql(writer.insert_instances, [writer.instance_insert(instance, WHEN, None)])
        instance.version = 1
        await conn.exec_driver_sql(writer.update_instances, [(*writer.instance_update(instance, WHEN), 0)])
        await conn.exec_driver_sql(writer.upsert_runs, [writer.run(run, instance_id, WHEN, None)])
        await conn.exec_driver_sql(writer.upsert_tasks, [writer.task(task, WHEN)])
    free_text = {
        WorkflowInstanceModel.__table__: ("current_step", "error", "tenant_id", "created_by", "key"),
        StepExecutionModel.__table__: ("error", "error_type", "stack_trace", "assigned_to", "completed_by"),
        HumanTaskModel.__table__: ("description", "assignee_id", "assignee_group", "completed_by"),
    }
    async with async_engine.connect() as conn:
        for table, columns in free_text.items():
            found = (
                await conn.execute(select(table.c.id).where(*(table.c[c].is_(None) for c in columns)))
            ).all()
            assert len(found) == 1, f"{table.name}: {columns} not all NULL"
        version = (await conn.execute(select(WorkflowInstanceModel.__table__.c.version))).scalar_one()
    assert version == 1  # the update found the row and wrote it
