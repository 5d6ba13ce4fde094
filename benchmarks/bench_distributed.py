"""Throughput of the SAQ and Celery engines with 1, 2 and 4 worker processes, against the broker-only rate.

Run: ``.venv/bin/python benchmarks/bench_distributed.py [--n 1000] [--workers 1 2 4] [--backend saq celery]``

For each worker count it starts that many ``saq`` worker processes and measures, in the same run:
  broker-only -- N concurrent broker-only chains of 10 SAQ jobs (each job enqueues the next; no
                 database): the transitions/s that SAQ and Redis allow here;
  chain       -- N concurrent instances of the 10-step chain of ``bench_engine.py`` started by this
                 process on ``SAQExecutionEngine`` and run by the workers on PostgreSQL (every step
                 claimed and committed in the database; a chain continues on its step's worker);
  fan-out     -- then, on the same workers, N concurrent instances of fork -> 8 parallel branches
                 -> join (10 steps, ``bench_shapes.py``): branches go through the broker and spread
                 over the workers, and each join is decided in the database;
  crossed     -- the share of fan-out instances whose branches ran in more than one worker process.
Each ``ratio`` is that rate / broker-only. The chain's ratio flatters the engine: its chain sends one
broker message per instance (each next step runs inline on the worker that ran the step, with no
message) where the broker-only chain sends ten, so it is no like-for-like comparison with the broker
(``ratio*`` in the table; the fan-out's branches do go through the broker). The clock runs from
the first start to the last completion seen (completions are counted every 20 ms). Each run has
its own Redis (``redis-server`` on a free port, no persistence) and its own PostgreSQL schema on
``WORKFLOWS_POSTGRES_URL`` (default ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``), both
removed afterwards.
``--backend celery`` measures ``CeleryExecutionEngine`` the same way (``celery worker`` processes,
prefork pool with one child each, so that N workers are N processes as with SAQ; broker-only chains
of Celery tasks with the engine's task settings).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_shapes import registry
from saq import Queue
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from litestar_workflows.contrib.saq import SAQExecutionEngine
from litestar_workflows.db import create_store_engine, upgrade_database_async

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
STEPS = 10
DEADLINE = 600.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(argv: list[str], **options: Any) -> subprocess.Popen[bytes]:
    """A process in a group of its own (so that killing the group stops all of it), output dropped."""
    return subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, **options
    )


@asynccontextmanager
async def redis_server() -> AsyncIterator[str]:
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = spawn(argv)
    try:
        queue = Queue.from_url(f"redis://127.0.0.1:{port}/0")
        await until(lambda: _pings(queue), "redis-server to start", 20)
        await queue.disconnect()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        await asyncio.to_thread(process.wait)


async def _pings(queue: Queue) -> bool:
    try:
        return bool(await queue.redis.ping())  # type: ignore[attr-defined]
    except Exception:
        return False


@asynccontextmanager
async def postgres_schema(url: str) -> AsyncIterator[str]:
    name = f"wf_bench_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url, poolclass=NullPool)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        await admin.dispose()


async def until(check: Callable[[], Awaitable[bool]], what: str, deadline: float = DEADLINE) -> float:
    """Wait until ``check()`` holds, looking every 20 ms; returns the monotonic time it did."""
    end = time.monotonic() + deadline
    while not await check():
        if time.monotonic() > end:
            raise TimeoutError(f"gave up waiting for {what}")
        await asyncio.sleep(0.02)
    return time.monotonic()


class Workers:
    def __init__(self, settings: str, count: int, env: dict[str, str]) -> None:
        self.argv = [str(BIN / "saq"), f"distributed_worker.{settings}"]
        self.count = count
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    async def __aenter__(self) -> Workers:
        for _ in range(self.count):
            self.processes.append(spawn(self.argv, cwd=HERE, env=self.env))
        return self

    async def __aexit__(self, *exc: object) -> None:
        for process in self.processes:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.to_thread(process.wait, 60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                await asyncio.to_thread(process.wait)


async def ready(queue: Queue, count: int) -> None:
    async def all_up() -> bool:
        info = await queue.info()
        return len(info.get("workers", {})) >= count

    await until(all_up, f"{count} workers", 60)


async def broker_only(redis_url: str, n: int, count: int, env: dict[str, str]) -> float:
    queue = Queue.from_url(redis_url, name=f"broker{count}")
    await queue.connect()
    try:
        async with Workers("broker_settings", count, {**env, "BENCH_QUEUE": f"broker{count}"}):
            await ready(queue, count)
            await queue.redis.set("bench:done", 0)  # type: ignore[attr-defined]
            began = time.monotonic()
            await asyncio.gather(
                *(queue.enqueue("hop", left=STEPS, timeout=0, retries=1, ttl=-1) for _ in range(n))
            )

            async def done() -> bool:
                return int(await queue.redis.get("bench:done") or 0) >= n  # type: ignore[attr-defined]

            ended = await until(done, "broker-only chains")
    finally:
        await queue.disconnect()
    return n * STEPS / (ended - began)


async def run_shape(engine: Any, db_engine: Any, workflow: str, n: int) -> float:
    """Start ``n`` instances of ``workflow`` at once; transitions/s until the last one completed."""

    async def completed() -> int:
        async with db_engine.connect() as conn:
            found = await conn.execute(
                text(
                    "SELECT count(*) FROM workflow_instances"
                    " WHERE status = 'completed' AND workflow_name = :w"
                ),
                {"w": workflow},
            )
            return int(found.scalar_one())

    before = await completed()
    began = time.monotonic()
    await asyncio.gather(*(engine.start_workflow(workflow) for _ in range(n)))

    async def done() -> bool:
        return await completed() >= before + n

    ended = await until(done, f"{workflow} instances")
    return n * STEPS / (ended - began)


async def spread(db_engine: Any) -> float:
    """The share of fan-out instances whose branches ran in more than one worker process."""
    async with db_engine.connect() as conn:
        found = await conn.execute(
            text(
                "SELECT count(*) FROM (SELECT instance_id FROM workflow_step_executions"
                " WHERE step_name LIKE 'b%' GROUP BY instance_id"
                " HAVING count(DISTINCT result::text) > 1) AS s"
            )
        )
        crossed = int(found.scalar_one())
        total = await conn.execute(
            text("SELECT count(*) FROM workflow_instances WHERE workflow_name = 'fan_out'")
        )
        return crossed / max(1, int(total.scalar_one()))


async def measure_shapes(engine: Any, db_engine: Any, n: int) -> dict[str, float]:
    """Chains first, then fan-outs, on the same workers: their rates and the fan-outs' spread."""
    return {
        "chain": await run_shape(engine, db_engine, "chain", n),
        "fan_out": await run_shape(engine, db_engine, "fan_out", n),
        "spread": await spread(db_engine),
    }


async def engine_rate(
    redis_url: str, db_url: str, n: int, count: int, env: dict[str, str]
) -> dict[str, float]:
    async with postgres_schema(db_url) as schema:
        db_engine = create_store_engine(db_url, connect_args={"server_settings": {"search_path": schema}})
        await upgrade_database_async(db_engine)
        queue = Queue.from_url(redis_url, name=f"engine{count}")
        engine = SAQExecutionEngine(queue=queue, persistence=db_engine, registry=registry())
        worker_env = {**env, "BENCH_QUEUE": f"engine{count}", "BENCH_SCHEMA": schema}
        try:
            async with engine, Workers("engine_settings", count, worker_env):
                await ready(queue, count)
                return await measure_shapes(engine, db_engine, n)
        finally:
            await db_engine.dispose()


class CeleryWorkers(Workers):
    def __init__(self, app: str, count: int, env: dict[str, str]) -> None:
        super().__init__("", count, env)
        self.argv = [str(BIN / "celery"), "-A", f"celery_bench_worker:{app}", "worker", "--pool=prefork"]
        self.argv += ["--concurrency=1", "--loglevel=WARNING", "--without-gossip", "--without-mingle"]
        self.argv += ["--without-heartbeat"]

    async def __aenter__(self) -> Workers:
        for i in range(self.count):
            self.processes.append(spawn([*self.argv, f"--hostname=w{i}@%h"], cwd=HERE, env=self.env))
        return self


async def celery_ready(redis_url: str, app: str, count: int, env: dict[str, str]) -> None:
    """Every worker has taken a warm-up message (they are consuming)."""
    from celery import Celery

    probe = Celery("probe", broker=redis_url)
    import redis as redis_client

    client = redis_client.Redis.from_url(redis_url)
    await asyncio.to_thread(client.delete, "bench:done")
    if app == "broker_app":
        for _ in range(count * 4):
            await asyncio.to_thread(probe.send_task, "hop", args=(1,))

        async def warm() -> bool:
            return int(await asyncio.to_thread(client.get, "bench:done") or 0) >= count * 4

        await until(warm, "celery workers", 120)
    await asyncio.to_thread(client.set, "bench:done", 0)


async def celery_broker_only(redis_url: str, n: int, count: int, env: dict[str, str]) -> float:
    import redis as redis_client
    from celery import Celery

    client = redis_client.Redis.from_url(redis_url)
    await asyncio.to_thread(client.flushdb)
    app = Celery("bench_client", broker=redis_url)
    async with CeleryWorkers("broker_app", count, env):
        await celery_ready(redis_url, "broker_app", count, env)
        began = time.monotonic()

        def send() -> None:
            with app.producer_or_acquire() as producer:
                for _ in range(n):
                    app.send_task("hop", args=(STEPS,), producer=producer)

        await asyncio.to_thread(send)

        async def done() -> bool:
            return int(await asyncio.to_thread(client.get, "bench:done") or 0) >= n

        ended = await until(done, "broker-only chains")
    return n * STEPS / (ended - began)


async def celery_consuming(app: Any, count: int) -> None:
    """Every worker answers a broadcast ping, so the clock does not run while workers boot."""

    async def all_up() -> bool:
        replies = await asyncio.to_thread(app.control.ping, timeout=0.5)
        return len(replies or []) >= count

    await until(all_up, f"{count} celery workers", 120)


async def celery_engine_rate(
    redis_url: str, db_url: str, n: int, count: int, env: dict[str, str]
) -> dict[str, float]:
    import redis as redis_client
    from celery import Celery

    from litestar_workflows.contrib.celery import CeleryExecutionEngine

    await asyncio.to_thread(redis_client.Redis.from_url(redis_url).flushdb)
    async with postgres_schema(db_url) as schema:
        db_engine = create_store_engine(db_url, connect_args={"server_settings": {"search_path": schema}})
        await upgrade_database_async(db_engine)
        engine = CeleryExecutionEngine(Celery("bench_client", broker=redis_url), db_engine, registry())
        try:
            async with engine, CeleryWorkers("engine_app", count, {**env, "BENCH_SCHEMA": schema}):
                await celery_consuming(engine.celery_app, count)
                return await measure_shapes(engine, db_engine, n)
        finally:
            await db_engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--n", type=int, default=1000, help="concurrent instances of each shape (default 1000)"
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--backend", choices=["saq", "celery"], nargs="+", default=["saq", "celery"])
    args = parser.parse_args()
    db_url = os.environ.get("WORKFLOWS_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    async with redis_server() as redis_url:
        env = {
            **os.environ,
            "BENCH_REDIS_URL": redis_url,
            "BENCH_DB_URL": db_url,
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        }
        for backend in args.backend:
            print(
                f"{backend}, {args.n} concurrent instances of 10 steps, PostgreSQL; transitions/s", flush=True
            )
            header = ("workers", "broker-only", "chain", "ratio*", "fan-out", "ratio", "crossed")
            print("{:>8} {:>12} {:>8} {:>6} {:>8} {:>6} {:>8}".format(*header), flush=True)
            for count in args.workers:
                if backend == "saq":
                    broker = await broker_only(redis_url, args.n, count, env)
                    rates = await engine_rate(redis_url, db_url, args.n, count, env)
                else:
                    broker = await celery_broker_only(redis_url, args.n, count, env)
                    rates = await celery_engine_rate(redis_url, db_url, args.n, count, env)
                chain_rate, fan_rate = rates["chain"], rates["fan_out"]
                print(
                    f"{count:>8} {broker:>12,.0f} {chain_rate:>8,.0f} {chain_rate / broker:>6.0%}"
                    f" {fan_rate:>8,.0f} {fan_rate / broker:>6.0%} {rates['spread']:>8.0%}",
                    flush=True,
                )
            print(
                "* not like for like: the engine's chain sends 1 broker message per instance (its next steps"
                " run inline on the same worker), the broker-only chain 10",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
