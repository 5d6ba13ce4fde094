"""Relaxed commits on the distributed engines: ``synchronous_commit`` reaches the store they build.

As in ``durable/test_durable_synchronous_commit.py``, the setting is read where the store commits:
on connections of the store's own database engine (SQLite keeps ``PRAGMA synchronous`` per
connection) and, by a listener on that engine, inside the store's write transactions. A run
through a real SAQ worker (``saq.Worker`` on a private ``redis-server``, in this process) shows
that relaxed engines on both sides still carry a workflow to its end.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from celery import Celery
from saq import Queue

from commit_settings import settings_in_write_transactions, store_setting
from inprocess_broker import QueueTransport
from inprocess_workers import _private_redis, _saq_worker, skip_without_redis
from litestar_workflows import WorkflowStatus
from litestar_workflows.contrib.celery import CeleryExecutionEngine
from litestar_workflows.contrib.saq import SAQExecutionEngine
from litestar_workflows.db.store import SQLAlchemyStore
from litestar_workflows.engine.distributed import DistributedExecutionEngine
from step_kit import FINISHED, approval_registry

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase

FULL, NORMAL = 2, 1
"""What ``PRAGMA synchronous`` reads for FULL and NORMAL."""
KINDS = ("distributed", "saq", "celery")
UNUSED_REDIS = "redis://127.0.0.1:1/0"
"""A broker URL for engines that are only built, never started: nothing connects to it."""


def relaxed_of(setting: Any) -> bool:
    """Whether a reading of :func:`store_setting` / the write listener says "relaxed"."""
    return setting in (NORMAL, "off")


def build(kind: str, persistence: Any, **options: Any) -> DistributedExecutionEngine:
    """A distributed engine of ``kind`` on ``persistence``, built but not started."""
    registry = approval_registry("relaxed")
    if kind == "saq":
        return SAQExecutionEngine(Queue.from_url(UNUSED_REDIS), persistence, registry, **options)
    if kind == "celery":
        return CeleryExecutionEngine(Celery("relaxed", broker=UNUSED_REDIS), persistence, registry, **options)
    return DistributedExecutionEngine(persistence, QueueTransport(), registry, **options)


@asynccontextmanager
async def built(kind: str, persistence: Any, **options: Any) -> AsyncIterator[DistributedExecutionEngine]:
    engine = build(kind, persistence, **options)
    try:
        yield engine
    finally:
        await engine.sql_store.close()


# ---------------------------------------------------------------------------- what the store gets


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("relaxed", [None, True, False])
async def test_the_store_built_from_a_url_commits_as_asked(
    scratch_database: ScratchDatabase, kind: str, relaxed: bool | None
) -> None:
    """An application's store engine (full commits) given: a relaxed engine connects beside it."""
    options = {} if relaxed is None else {"synchronous_commit": relaxed}
    db_engine = scratch_database.create_engine()  # an engine of the default setting, left as it is
    try:
        async with built(kind, db_engine, **options) as engine:
            expected_relaxed = relaxed is False
            assert engine.sql_store.synchronous_commit is not expected_relaxed
            assert relaxed_of(await store_setting(engine)) is expected_relaxed
            assert (engine.sql_store.db_engine is db_engine) is not expected_relaxed
        async with db_engine.connect() as conn:  # the given engine keeps full commits either way
            statement = (
                "PRAGMA synchronous" if scratch_database.kind == "sqlite" else "SHOW synchronous_commit"
            )
            assert not relaxed_of((await conn.exec_driver_sql(statement)).scalar())
    finally:
        await db_engine.dispose()


async def test_a_relaxed_engine_from_a_url_string(scratch_sqlite: ScratchDatabase) -> None:
    async with built("saq", scratch_sqlite.url, synchronous_commit=False) as engine:
        assert engine.sql_store.synchronous_commit is False
        assert await store_setting(engine) == NORMAL
    async with built("saq", scratch_sqlite.url) as engine:
        assert engine.sql_store.synchronous_commit is True
        assert await store_setting(engine) == FULL


# ---------------------------------------------------------------------------- refusals


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", ["off", 0, 1, "false"])
async def test_a_setting_that_is_not_a_bool_is_refused(
    scratch_sqlite: ScratchDatabase, kind: str, value: Any
) -> None:
    with pytest.raises(TypeError, match="synchronous_commit must be True or False"):
        build(kind, scratch_sqlite.url, synchronous_commit=value)
    store = SQLAlchemyStore(scratch_sqlite.url)
    try:
        with pytest.raises(TypeError, match="synchronous_commit must be True or False"):
            build(kind, store, synchronous_commit=value)
    finally:
        await store.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("store_setting_", "asked"), [(False, True), (True, False)])
async def test_a_given_store_with_the_other_setting_is_refused(
    scratch_sqlite: ScratchDatabase, kind: str, store_setting_: bool, asked: bool
) -> None:
    """Not followed, not overridden: the engine names both settings and builds nothing."""
    store = SQLAlchemyStore(scratch_sqlite.url, synchronous_commit=store_setting_, lease_seconds=600)
    try:
        with pytest.raises(ValueError, match="synchronous_commit") as refused:
            build(kind, store, lease_seconds=3, owner="w", synchronous_commit=asked)
        message = str(refused.value)
        assert f"built with synchronous_commit={store_setting_}" in message
        assert f"asked for synchronous_commit={asked}" in message
        assert store.lease.total_seconds() == 600  # the refused engine changed nothing on the store
        assert store.owner != "w"
    finally:
        await store.close()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("asked", [{"synchronous_commit": False}, {}])
async def test_a_given_store_is_used_as_it_is_with_the_same_setting_or_none_asked(
    scratch_sqlite: ScratchDatabase, kind: str, asked: dict[str, bool]
) -> None:
    store = SQLAlchemyStore(scratch_sqlite.url, synchronous_commit=False)
    try:
        engine = build(kind, store, owner="w", **asked)
        assert engine.sql_store is store
        assert store.owner == "w"
        assert await store_setting(engine) == NORMAL  # relaxed, as the store was built
    finally:
        await store.close()


# ---------------------------------------------------------------------------- a run through a worker


@asynccontextmanager
async def saq_web_and_worker(
    db: ScratchDatabase, **options: Any
) -> AsyncIterator[tuple[SAQExecutionEngine, SAQExecutionEngine]]:
    """A started web-side SAQ engine and one ``saq.Worker`` with an engine of its own, on ``db``."""
    skip_without_redis()
    await db.migrate()
    db_engine = db.create_engine()

    def engine(name: str, redis_url: str) -> SAQExecutionEngine:
        return SAQExecutionEngine(
            Queue.from_url(redis_url),
            db_engine,
            approval_registry("relaxed"),
            lease_seconds=3,
            sweep_interval=0.5,
            poll_interval=0.05,
            owner=name,
            concurrency=4,
            **options,
        )

    async with _private_redis() as redis, AsyncExitStack() as stack:
        stack.push_async_callback(db_engine.dispose)
        web = engine("web", redis.url)
        await web.start()
        stack.push_async_callback(web.stop)
        worker = engine("worker", redis.url)
        await stack.enter_async_context(_saq_worker(worker))
        yield web, worker


@pytest.mark.redis
@pytest.mark.parametrize("relaxed", [True, False], ids=["relaxed", "full"])
async def test_a_workflow_runs_to_completion_through_a_saq_worker(
    scratch_database: ScratchDatabase, relaxed: bool
) -> None:
    options = {"synchronous_commit": False} if relaxed else {}
    async with saq_web_and_worker(scratch_database, **options) as (web, worker):
        for engine in (web, worker):
            assert engine.sql_store.synchronous_commit is not relaxed
            assert relaxed_of(await store_setting(engine)) is relaxed
        # Both stores of this process use one store engine per setting: the listener on it hears
        # the writes of the web side and of the worker.
        assert worker.sql_store.db_engine is web.sql_store.db_engine
        with settings_in_write_transactions(web) as readings:
            instance = await web.start_workflow("relaxed")
            waiting = await web.wait(instance.id, timeout=30)
            assert waiting.status is WorkflowStatus.WAITING  # "begin" ran on the worker
            await web.complete_human_task(instance.id, "approve", "ann", {"ok": True})
            done = await web.wait(instance.id, until=FINISHED, timeout=30)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data == {"began": True, "ok": True, "done": True}
        assert readings
        assert all(relaxed_of(reading) is relaxed for reading in readings), readings
        for engine in (web, worker):
            assert relaxed_of(await store_setting(engine)) is relaxed
