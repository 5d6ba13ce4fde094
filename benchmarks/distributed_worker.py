"""Worker modules of ``bench_distributed.py`` (run by ``saq``; configured by environment variables).

``engine_settings``: a ``SAQExecutionEngine`` worker on the benchmark's database (``bench_shapes``).
``broker_settings``: broker-only chains, each job enqueueing the next and the last one counting
itself done in Redis: the rate SAQ and Redis allow on this machine, with no database at all.
"""

from __future__ import annotations

import os
from typing import Any

from bench_shapes import registry
from saq import Queue

from litestar_workflows.contrib.saq import SAQExecutionEngine
from litestar_workflows.db import create_store_engine

QUEUE = Queue.from_url(os.environ["BENCH_REDIS_URL"], name=os.environ.get("BENCH_QUEUE", "default"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "64"))


def engine_settings() -> dict[str, Any]:
    schema = os.environ["BENCH_SCHEMA"]
    db_engine = create_store_engine(
        os.environ["BENCH_DB_URL"], connect_args={"server_settings": {"search_path": schema}}
    )
    engine = SAQExecutionEngine(
        queue=QUEUE, persistence=db_engine, registry=registry(), concurrency=CONCURRENCY
    )
    return engine.worker_settings()


async def hop(ctx: dict[str, Any], *, left: int) -> None:
    """One broker-only step: enqueue the next, or count the chain done."""
    if left > 1:
        await QUEUE.enqueue("hop", left=left - 1, timeout=0, retries=1, ttl=-1)
    else:
        await QUEUE.redis.incr("bench:done")  # type: ignore[attr-defined]


def broker_settings() -> dict[str, Any]:
    return {"queue": QUEUE, "functions": [hop], "concurrency": CONCURRENCY, "dequeue_timeout": 1}
