"""Throughput of the durable engine on SQLite and PostgreSQL, against each database's raw commit rate.

Run: ``.venv/bin/python benchmarks/bench_durable.py [--n 1000] [--backend sqlite postgresql]``

The three workloads of ``bench_engine.py`` (same definitions), each with N concurrent instances on
one ``PersistentExecutionEngine``: started with ``asyncio.gather``, awaited with
``asyncio.gather(engine.wait(...))``:
  chain   -- 10 trivial machine steps in a row (10 transitions per instance)
  fanout  -- one step fanning out to 8 parallel steps joined by a final step (10 transitions)
  human   -- start -> human task (waits) -> complete -> finish (4 transitions)
Each workflow is started once before timing, so the figures are for a registered definition.
``--gc-freeze`` calls ``gc.freeze()`` once the engine has started, as a service may do after its
start-up: the cyclic garbage collector then no longer rescans the ~110,000 objects that importing
SQLAlchemy, advanced-alchemy and Litestar leaves behind on each of its full collections.
``--poll-interval`` sets the engine's ``poll_interval`` (its sweep, and how often ``wait()`` polls
the database for changes made by other processes).

In the same run it measures the raw commit rate of the database: 500 sequential one-row
``INSERT`` + ``COMMIT`` into a scratch table through the same driver and engine set-up
(SQLAlchemy on aiosqlite -- WAL, synchronous=FULL, as the store configures it -- or asyncpg).
``ratio`` = transitions/s divided by commits/s: above 1 means group commit writes several
transitions per commit.

Every run uses a fresh database: a new SQLite file in a temporary directory, and a new PostgreSQL
schema (dropped afterwards) on ``WORKFLOWS_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``); PostgreSQL is skipped, with a message,
when it cannot be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_engine import chain, fanout, human
from sqlalchemy import text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from litestar_workflows import WorkflowRegistry, WorkflowStatus
from litestar_workflows.db import PersistentExecutionEngine, create_store_engine, upgrade_database_async

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
FINISHED = (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED)
COMMITS = 500
WAIT_TIMEOUT = 600.0


@contextlib.asynccontextmanager
async def sqlite_database() -> AsyncIterator[AsyncEngine]:
    with tempfile.TemporaryDirectory(prefix="bench_durable_") as tmp:
        db_engine = create_store_engine(f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}")
        try:
            yield db_engine
        finally:
            await db_engine.dispose()


@contextlib.asynccontextmanager
async def postgres_database(url: str) -> AsyncIterator[AsyncEngine]:
    schema = f"wf_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        db_engine = create_store_engine(url, connect_args={"server_settings": {"search_path": schema}})
        try:
            yield db_engine
        finally:
            await db_engine.dispose()
            async with admin.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await admin.dispose()


async def postgres_unreachable(url: str) -> str | None:
    probe = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 5})
    try:
        async with probe.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    finally:
        await probe.dispose()
    return None


async def commit_rate(db_engine: AsyncEngine, commits: int = COMMITS) -> float:
    """Sequential one-row INSERT + COMMIT per second through this engine (scratch table, dropped)."""
    table = f"bench_commit_{uuid.uuid4().hex[:8]}"
    async with db_engine.begin() as conn:
        await conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, payload TEXT)"))
    insert = text(f"INSERT INTO {table} (id, payload) VALUES (:id, :payload)")
    try:
        for i in range(10):  # warm the pool and the statement cache
            async with db_engine.begin() as conn:
                await conn.execute(insert, {"id": -1 - i, "payload": "warm"})
        began = time.perf_counter()
        for i in range(commits):
            async with db_engine.begin() as conn:
                await conn.execute(insert, {"id": i, "payload": "x" * 64})
        return commits / (time.perf_counter() - began)
    finally:
        async with db_engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {table}"))


async def run_workload(engine: PersistentExecutionEngine, name: str, n: int) -> float:
    """Seconds for N concurrent instances of workload ``name``, start to finish."""
    gc.collect()
    began = time.perf_counter()
    instances = await asyncio.gather(*(engine.start_workflow(name, {"i": i}) for i in range(n)))
    if name == "human":
        waiting = await asyncio.gather(*(engine.wait(i.id, timeout=WAIT_TIMEOUT) for i in instances))
        assert {w.status for w in waiting} == {WorkflowStatus.WAITING}
        await asyncio.gather(
            *(engine.complete_human_task(i.id, "approve", "u", {"ok": True}) for i in instances)
        )
    finals = await asyncio.gather(
        *(engine.wait(i.id, until=FINISHED, timeout=WAIT_TIMEOUT) for i in instances)
    )
    elapsed = time.perf_counter() - began
    assert {f.status for f in finals} == {WorkflowStatus.COMPLETED}, {f.status for f in finals}
    return elapsed


WORKLOADS = (("chain", chain, 10), ("fanout", fanout, 10), ("human", human, 4))


async def bench_backend(
    label: str, db_engine: AsyncEngine, sizes: list[int], *, freeze: bool = False, **options: Any
) -> None:
    await upgrade_database_async(db_engine)
    registry = WorkflowRegistry()
    for _, make, _ in WORKLOADS:
        registry.register_definition(make())
    engine = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine), **options)
    await engine.start()
    if freeze:
        gc.freeze()
    try:
        for name, _, _ in WORKLOADS:  # register each definition in the database before timing
            await run_workload(engine, name, 1)
        commits_before = await commit_rate(db_engine)
        rows: list[tuple[Any, ...]] = []
        for n in sizes:
            for name, _, transitions in WORKLOADS:
                elapsed = await run_workload(engine, name, n)
                rows.append((name, n, elapsed, n * transitions / elapsed))
        commits_after = await commit_rate(db_engine)
    finally:
        await engine.stop()
    commits = (commits_before + commits_after) / 2
    for name, n, elapsed, rate in rows:
        figures = f"{elapsed:>8.3f} {rate:>13,.0f} {commits:>11,.0f} {rate / commits:>7.1f}"
        print(f"{label:<10} {name:<7} {n:>6} {figures}")
    print(
        f"{label:<10} raw commits/s: {commits_before:,.0f} before, {commits_after:,.0f} after the workloads "
        f"({COMMITS} sequential one-row INSERT + COMMIT)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, nargs="+", default=[1000], help="concurrent instances (default 1000)"
    )
    parser.add_argument(
        "--backend", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=None,
        help="the engine's poll_interval (sweep, and polling by wait()); default: the engine's own",
    )
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after start-up (see above)")
    args = parser.parse_args()
    options: dict[str, Any] = {} if args.poll_interval is None else {"poll_interval": args.poll_interval}
    shown = "engine default" if args.poll_interval is None else f"{args.poll_interval} s"
    frozen = ", gc.freeze() after start-up" if args.gc_freeze else ""
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, poll_interval: {shown}{frozen}")
    columns = f"{'wall s':>8} {'transitions/s':>13} {'commits/s':>11} {'ratio':>7}"
    print(f"{'backend':<10} {'workload':<7} {'N':>6} {columns}")
    if "sqlite" in args.backend:
        async with sqlite_database() as db_engine:
            await bench_backend("sqlite", db_engine, args.n, freeze=args.gc_freeze, **options)
    if "postgresql" in args.backend:
        url = os.environ.get("WORKFLOWS_POSTGRES_URL", DEFAULT_POSTGRES_URL)
        reason = await postgres_unreachable(url)
        if reason is not None:
            print(f"postgresql skipped: cannot reach {url}: {reason}")
        else:
            async with postgres_database(url) as db_engine:
                await bench_backend("postgresql", db_engine, args.n, freeze=args.gc_freeze, **options)


if __name__ == "__main__":
    asyncio.run(main())
