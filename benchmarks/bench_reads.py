"""What a read of a stored instance costs: loading it whole, and checking its version.

Run: ``.venv/bin/python benchmarks/bench_reads.py [--n 200] [--rounds 3] [--engines sqlite postgresql]``

A fresh SQLite file or PostgreSQL schema (``WORKFLOWS_POSTGRES_URL``, default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``) gets N finished ten-step instances and N
instances waiting at a human task, written by ``PersistentExecutionEngine``. Then the store reads
each one back, one ``await`` at a time: ``load_instance`` (row, history and tasks) and
``instance_version`` (the idle cache's check of a waiting copy), the way the store reads by default
(straight through the driver, ``db/direct_reads.py``) and the careful way, through SQLAlchemy (what
the store falls back to). Each way alternates with the other for ``--rounds`` rounds; the medians
are printed in µs per read. Every read is checked: the loaded instance has its ten executions or
its pending task, and the version is the stored one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.db import PersistentExecutionEngine, upgrade_database_async

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


class Work(BaseMachineStep):
    """A machine step returning a small dict."""

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        return {"step": self.name, "i": context.get("i")}


def registry() -> WorkflowRegistry:
    names = [f"s{i}" for i in range(10)]
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="reads_finished",
            steps=[Work(n) for n in names],
            edges=[Edge(a, b) for a, b in itertools.pairwise(names)],
            initial_step=names[0],
        )
    )
    reg.register(
        WorkflowDefinition(
            name="reads_waiting",
            steps=[Work("submit"), BaseHumanStep("approve", title="Approve"), Work("done")],
            edges=[Edge("submit", "approve"), Edge("approve", "done")],
            initial_step="submit",
        )
    )
    return reg


@contextlib.asynccontextmanager
async def database(kind: str) -> Any:
    """The URL of a fresh, migrated database: a SQLite file, or a PostgreSQL database of its own."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench_reads_") as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'workflows.db'}"
            setup = create_async_engine(url)
            await upgrade_database_async(setup)
            await setup.dispose()
            yield url
        return
    base = os.environ.get("WORKFLOWS_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    name = f"bench_reads_{uuid.uuid4().hex[:10]}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    try:
        setup = create_async_engine(url)
        await upgrade_database_async(setup)
        await setup.dispose()
        yield url
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def timed(store: Any, ids: list[Any], *, direct: bool, read: str) -> float:
    """µs per read of ``ids``, one at a time, the direct way or the careful one; each read checked."""
    reads, store._reads = store._reads, (store._reads if direct else None)
    try:
        began = time.perf_counter()
        for instance_id in ids:
            if read == "load":
                instance = await store.load_instance(instance_id)
                assert instance is not None
                assert len(instance.context.step_history) == 10 or len(instance.runtime.pending_tasks) == 1
            else:
                assert await store.instance_version(instance_id) is not None
        return (time.perf_counter() - began) / len(ids) * 1e6
    finally:
        store._reads = reads


async def measure(kind: str, n: int, rounds: int) -> dict[str, float]:
    async with database(kind) as url:
        engine = PersistentExecutionEngine(registry(), url=url)
        await engine.start()
        try:
            finished = [(await engine.start_workflow("reads_finished", {"i": i})).id for i in range(n)]
            waiting = [(await engine.start_workflow("reads_waiting", {"i": i})).id for i in range(n)]
            for instance_id in finished:
                assert (await engine.wait(instance_id, timeout=60)).status is WorkflowStatus.COMPLETED
            for instance_id in waiting:
                assert (await engine.wait(instance_id, timeout=60)).status is WorkflowStatus.WAITING
            store, ids = engine.sql_store, finished + waiting
            if store._reads is None:
                sys.exit(f"{kind}: this store has no direct reads (driver {store.db_engine.dialect.driver})")
            figures: dict[str, list[float]] = {}
            for _ in range(rounds):
                for read in ("load", "version"):
                    for direct in (True, False):
                        key = f"{read} {'direct' if direct else 'careful'}"
                        figures.setdefault(key, []).append(await timed(store, ids, direct=direct, read=read))
        finally:
            await engine.stop()
    return {key: statistics.median(values) for key, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="instances of each kind (finished, waiting)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--engines", nargs="+", choices=("sqlite", "postgresql"), default=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, N = {args.n} finished + {args.n} waiting")
    print("| database | read | direct, µs | careful (SQLAlchemy), µs | careful / direct |")
    print("| --- | --- | --- | --- | --- |")
    for kind in args.engines:
        figures = asyncio.run(measure(kind, args.n, args.rounds))
        for read, label in (("load", "load_instance"), ("version", "instance_version")):
            direct, careful = figures[f"{read} direct"], figures[f"{read} careful"]
            print(f"| {kind} | {label} | {direct:,.0f} | {careful:,.0f} | {careful / direct:.1f}x |")


if __name__ == "__main__":
    main()
