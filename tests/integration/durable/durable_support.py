"""Helpers shared by the durable-engine tests (and by their child processes).

Kept free of pytest so that ``durable_child.py`` can import it in a plain interpreter; the small
steps and history readers all engine tests share are in ``tests/step_kit.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event, text

from litestar_workflows.db.store import create_store_engine

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from sqlalchemy.ext.asyncio import AsyncEngine

    from litestar_workflows.core.models import WorkflowInstanceData


@contextmanager
def sql_statements(engine: Any) -> Iterator[list[str]]:
    """The SQL statements the store of ``engine`` sends through SQLAlchemy inside the block.

    A real listener on the store's database engine; statements a store sends to the driver
    directly (``db/sqlite_batch.py``, ``db/postgres_batch.py``) do not show.
    """
    seen: list[str] = []
    sync_engine = engine.store.db_engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "before_cursor_execute", record)


@contextmanager
def counted_calls(store: Any, method: str) -> Iterator[list[Any]]:
    """The first argument of each call of ``store``'s ``method`` inside the block (the calls run).

    For what :func:`sql_statements` cannot see: the store reads instances and versions straight
    through the driver, without a statement through SQLAlchemy (``db/direct_reads.py``). The
    class's method is wrapped, since engines keep bound methods of their store.
    """
    calls: list[Any] = []
    cls = type(store)
    real = cls.__dict__[method]

    async def counted(self: Any, first: Any, *args: Any) -> Any:
        if self is store:
            calls.append(first)
        return await real(self, first, *args)

    setattr(cls, method, counted)
    try:
        yield calls
    finally:
        setattr(cls, method, real)


def store_engine(url: str, schema: str | None = None) -> AsyncEngine:
    """A store engine on ``url``, confined to ``schema`` (PostgreSQL) when one is given."""
    if schema:
        return create_store_engine(url, connect_args={"server_settings": {"search_path": schema}})
    return create_store_engine(url)


async def eventually(
    check: Callable[[], Awaitable[Any]], *, within: float = 10.0, interval: float = 0.02, what: str = ""
) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or check}")
        await asyncio.sleep(interval)


async def sql(db_engine: AsyncEngine, statement: str, **params: Any) -> list[dict[str, Any]]:
    """Rows of a plain SQL query, as dicts (no ORM, no type processing of ours)."""
    async with db_engine.connect() as conn:
        return [dict(row) for row in (await conn.execute(text(statement), params)).mappings()]


def as_json(db_engine: AsyncEngine, value: Any) -> Any:
    """A JSON column read by plain SQL: text on SQLite; asyncpg decodes JSONB itself."""
    if db_engine.dialect.name == "sqlite" and isinstance(value, str):
        return json.loads(value)
    return value


def uuid_param(db_engine: AsyncEngine, value: Any) -> Any:
    """A UUID as the column stores it: 16 bytes on SQLite, native on PostgreSQL."""
    return value.bytes if db_engine.dialect.name == "sqlite" else value


def uuid_of(value: Any) -> str:
    """A UUID column value read by plain SQL, as the canonical string."""
    from uuid import UUID

    if isinstance(value, (bytes, bytearray, memoryview)):
        return str(UUID(bytes=bytes(value)))
    return str(value)


def complete_lines(path: Path) -> list[str]:
    """The complete (newline-terminated) lines of a file another process may still be appending to."""
    try:
        data = path.read_text()
    except FileNotFoundError:
        return []
    lines = data.split("\n")
    return [line for line in lines[:-1] if line]


# ---------------------------------------------------------------------------- child processes

CHILD_SCRIPT = Path(__file__).with_name("durable_child.py")


def spawn_child(mode: str, db_argv: list[str], records: Path, ready: Path, *extra: str) -> Any:
    """Start ``durable_child.py`` in ``mode``; its output goes to ``ready`` + ".log"."""
    import subprocess
    import sys

    log = ready.with_name(ready.name + ".log").open("w")
    try:
        return subprocess.Popen(
            [sys.executable, str(CHILD_SCRIPT), mode, *db_argv, str(records), str(ready), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        log.close()  # the child has its own descriptor


def child_log(ready: Path) -> str:
    """What the child printed (for failure messages)."""
    try:
        return ready.with_name(ready.name + ".log").read_text()[-4000:]
    except FileNotFoundError:
        return ""


async def wait_for_child(
    process: Any, ready: Path, check: Callable[[], bool], *, within: float, what: str
) -> None:
    """Poll ``check`` until true; fail early (with the child's output) if the child exits first."""
    deadline = time.monotonic() + within
    while not check():
        if process.poll() is not None:
            raise AssertionError(f"child exited ({process.returncode}) before {what}:\n{child_log(ready)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what}:\n{child_log(ready)}")
        await asyncio.sleep(0.005)


async def end_child(process: Any, *, kill: bool = False) -> None:
    """Terminate (or SIGKILL) the child if it still runs, and reap it."""
    if process.poll() is None:
        if kill:
            process.kill()
        else:
            process.terminate()
    try:
        await asyncio.to_thread(process.wait, 15)
    except Exception:  # did not stop on SIGTERM: make sure
        process.kill()
        await asyncio.to_thread(process.wait, 15)


# ---------------------------------------------------------------------------- engines on a scratch database


@asynccontextmanager
async def running_engine(db: Any, registry: Any, **options: Any) -> Any:
    """A started ``PersistentExecutionEngine`` on ``db`` (anything with ``create_engine()``), stopped after."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from litestar_workflows.db import PersistentExecutionEngine

    db_engine = db.create_engine()
    engine = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine), **options)
    try:
        await engine.start()
        yield engine
    finally:
        await engine.stop()
        await db_engine.dispose()


def snapshot(instance: WorkflowInstanceData) -> dict[str, Any]:
    """Everything a reader of an instance sees, as plain values."""
    runtime = instance.runtime
    return {
        "fields": (
            instance.id,
            instance.workflow_name,
            instance.workflow_version,
            instance.status,
            instance.current_step,
            instance.error,
            instance.started_at,
            instance.completed_at,
            instance.tenant_id,
            instance.created_by,
            instance.version,
            instance.key,
        ),
        "data": instance.context.data,
        "metadata": instance.context.metadata,
        "history": [dataclasses.astuple(run) for run in instance.context.step_history],
        "active": sorted(runtime.active),
        "tasks": {key: dataclasses.asdict(task) for key, task in runtime.pending_tasks.items()},
        "activations": runtime.activations,
    }
