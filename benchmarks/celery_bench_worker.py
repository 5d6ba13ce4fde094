"""Celery worker modules of ``bench_distributed.py`` (``celery -A celery_bench_worker:<app> worker``).

``engine_app``: a ``CeleryExecutionEngine`` worker on the benchmark's database (``bench_shapes``).
``broker_app``: broker-only chains, each task sending the next and the last one counting itself
done in Redis, with the same task settings as the engine's (acks late, prefetch 1, no result).
"""

from __future__ import annotations

import os

from bench_shapes import registry
from celery import Celery

from litestar_workflows.contrib.celery import TASK_OPTIONS, CeleryExecutionEngine
from litestar_workflows.db import create_store_engine

REDIS_URL = os.environ["BENCH_REDIS_URL"]
broker_app = Celery("bench_broker", broker=REDIS_URL)
broker_app.conf.worker_prefetch_multiplier = 1
_OPTIONS = {k: v for k, v in TASK_OPTIONS.items() if k != "bind"}


@broker_app.task(name="hop", **_OPTIONS)
def hop(left: int) -> None:
    """One broker-only step: send the next, or count the chain done."""
    if left > 1:
        hop.apply_async((left - 1,))
    else:
        with broker_app.connection_for_write() as conn:
            conn.default_channel.client.incr("bench:done")


engine_app = Celery("bench_engine", broker=REDIS_URL)
if os.environ.get("BENCH_SCHEMA"):
    _db = create_store_engine(
        os.environ["BENCH_DB_URL"],
        connect_args={"server_settings": {"search_path": os.environ["BENCH_SCHEMA"]}},
    )
    engine = CeleryExecutionEngine(engine_app, _db, registry())
