"""A durable engine given a database it cannot use fails early, with a message that names the fix."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import TYPE_CHECKING

import pytest
from durable_support import running_engine, sql, uuid_of

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    WaitTimeoutError,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.errors import StoreError
from litestar_workflows.db import PersistentExecutionEngine, downgrade_database_async
from step_kit import FINISHED, Set

if TYPE_CHECKING:
    from pathlib import Path

    from conftest import ScratchDatabase

MIGRATE_HINT = "litestar workflows migrate"


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="simple", steps=[Set("a", a=1), Set("b", b=2)], edges=[Edge("a", "b")], initial_step="a"
        )
    )
    return reg


def free_port() -> int:
    """A local TCP port nothing listens on (bound, then closed again)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_unreachable_postgres_fails_start_with_a_clear_store_error() -> None:
    port = free_port()
    engine = PersistentExecutionEngine(
        registry(), url=f"postgresql+asyncpg://wf:s3cret@127.0.0.1:{port}/test"
    )
    try:
        with pytest.raises(StoreError) as raised:
            await engine.start()
        message = str(raised.value)
        assert "cannot connect" in message
        assert f"127.0.0.1:{port}" in message
        assert "s3cret" not in message
    finally:
        await engine.stop()


async def test_unreachable_database_fails_every_call_with_store_error() -> None:
    """Regression test: up to 62a2e14 asyncpg's ConnectionRefusedError (an OSError) leaked raw."""
    engine = PersistentExecutionEngine(
        registry(), url=f"postgresql+asyncpg://wf@127.0.0.1:{free_port()}/test"
    )
    try:
        with pytest.raises(StoreError, match="database"):
            await engine.start_workflow("simple")
        with pytest.raises(StoreError, match="database"):
            await engine.find_instances()
        with pytest.raises(StoreError, match="database"):
            await engine.find_tasks()
        with pytest.raises(StoreError, match="database"):
            await engine.get_instance("01a1fcb8-583a-7c3f-8a67-4b0000000003")
    finally:
        await engine.stop()


async def test_unopenable_sqlite_file_fails_start_with_a_clear_store_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "wf.sqlite3"
    before = set(threading.enumerate())  # other tests' open connections keep their threads
    engine = PersistentExecutionEngine(registry(), url=f"sqlite+aiosqlite:///{missing}")
    try:
        with pytest.raises(StoreError, match="cannot connect"):
            await engine.start()
    finally:
        await engine.stop()
    assert not missing.parent.exists()
    # aiosqlite stops the worker thread of a failed connect without waiting for it; let it finish
    # while this test's event loop still runs (else it reports "Event loop is closed" later).
    deadline = time.monotonic() + 5
    while any("_connection_worker_thread" in t.name for t in set(threading.enumerate()) - before):
        assert time.monotonic() < deadline, "aiosqlite worker thread did not stop"
        await asyncio.sleep(0.01)


async def test_never_migrated_database_names_the_migration(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    db_engine = db.create_engine()
    engine = PersistentExecutionEngine(registry(), session=_session(db_engine))
    try:
        with pytest.raises(StoreError, match=MIGRATE_HINT) as raised:
            await engine.start()
        assert "no litestar-workflows schema" in str(raised.value)
        # Used without start(): the first write fails the same clear way, not deep in SQL.
        with pytest.raises(StoreError, match=MIGRATE_HINT):
            await engine.start_workflow("simple")
    finally:
        await engine.stop()
        await db_engine.dispose()


async def test_database_downgraded_to_base_names_the_migration(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    await db.migrate()
    async with running_engine(db, registry()) as engine:  # works while migrated
        done = await engine.wait((await engine.start_workflow("simple")).id, until=FINISHED, timeout=10)
        assert done.status is WorkflowStatus.COMPLETED
    db_engine = db.create_engine()
    try:
        await downgrade_database_async(db_engine, "base")
        engine = PersistentExecutionEngine(registry(), session=_session(db_engine))
        try:
            with pytest.raises(StoreError, match=MIGRATE_HINT):
                await engine.start()
        finally:
            await engine.stop()
    finally:
        await db_engine.dispose()


async def test_two_engines_register_the_same_definition_at_once(scratch_database: ScratchDatabase) -> None:
    db = scratch_database
    await db.migrate()
    names = [f"raced_{i}" for i in range(5)]

    def racing_registry() -> WorkflowRegistry:
        reg = WorkflowRegistry()
        for name in names:
            reg.register(WorkflowDefinition(name=name, steps=[Set("a", a=1)], edges=[], initial_step="a"))
        return reg

    async with (
        running_engine(db, racing_registry(), owner="engine-a") as a,
        running_engine(db, racing_registry(), owner="engine-b") as b,
    ):
        for name in names:  # both stores see no row, both insert: the loser must cope
            started = await asyncio.gather(
                a.start_workflow(name), b.start_workflow(name), a.start_workflow(name)
            )
            for engine, instance in zip((a, b, a), started, strict=True):
                done = await engine.wait(instance.id, until=FINISHED, timeout=10)
                assert done.status is WorkflowStatus.COMPLETED
        check = db.create_engine()
        try:
            definitions = await sql(check, "SELECT id, name, version FROM workflow_definitions")
            instances = await sql(check, "SELECT workflow_name, definition_id FROM workflow_instances")
        finally:
            await check.dispose()
    assert sorted((d["name"], d["version"]) for d in definitions) == [(n, "1.0.0") for n in names]
    id_of = {d["name"]: uuid_of(d["id"]) for d in definitions}
    assert len(instances) == 3 * len(names)
    assert {(i["workflow_name"], uuid_of(i["definition_id"])) for i in instances} == set(id_of.items())


def _session(db_engine: object) -> object:
    from sqlalchemy.ext.asyncio import AsyncSession

    return AsyncSession(db_engine)  # type: ignore[arg-type]


async def test_a_wait_that_runs_out_says_where_the_instance_is(scratch_database: ScratchDatabase) -> None:
    """On a database the wait is also watched for other processes' commits; its timeout is the same error."""
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="asks",
            steps=[Set("a", a=1), BaseHumanStep("ask")],
            edges=[Edge("a", "ask")],
            initial_step="a",
        )
    )
    await scratch_database.migrate()
    async with running_engine(scratch_database, reg) as engine:
        instance = await engine.start_workflow("asks")
        await engine.wait(instance.id)  # at its task: a loaded machine may take longer than the timeout below
        with pytest.raises(WaitTimeoutError) as info:
            await engine.wait(instance.id, until=FINISHED, timeout=0.05)
        assert isinstance(info.value, TimeoutError)
        assert (info.value.status, info.value.step) == ("waiting", "ask")
        assert str(info.value).startswith(f"instance {instance.id} did not reach ")
        assert str(info.value).endswith(" within 0.05s; it is waiting at step 'ask'")
        await engine.complete_human_task(instance.id, "ask", "u", {})
        assert (await engine.wait(instance.id, until=FINISHED, timeout=10)).status is WorkflowStatus.COMPLETED
