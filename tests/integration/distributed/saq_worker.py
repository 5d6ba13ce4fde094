"""A SAQ worker module as a user writes one: ``saq saq_worker.settings`` (configured by env vars).

``WF_DB_URL``/``WF_DB_SCHEMA`` name the test's database, ``WF_REDIS_URL`` its Redis, ``WF_OWNER``
the worker's lease owner, ``WF_LEASE_SECONDS`` the lease, ``WF_CONCURRENCY`` its job slots. With
``WF_READY_DIR``, the worker creates a file named after its owner there once its startup (the
engine's start, with its database check) is done, so a test can wait for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from distributed_flows import registry
from saq import Queue

from litestar_workflows.contrib.saq import SAQExecutionEngine
from litestar_workflows.db.store import create_store_engine

schema = os.environ.get("WF_DB_SCHEMA")
db_engine = create_store_engine(
    os.environ["WF_DB_URL"],
    **({"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}),
)
engine = SAQExecutionEngine(
    queue=Queue.from_url(os.environ["WF_REDIS_URL"]),
    persistence=db_engine,
    registry=registry(),
    lease_seconds=float(os.environ.get("WF_LEASE_SECONDS", "30")),
    sweep_interval=float(os.environ.get("WF_SWEEP_SECONDS", "5")),
    owner=os.environ.get("WF_OWNER"),
    concurrency=int(os.environ.get("WF_CONCURRENCY", "64")),
)
settings = engine.worker_settings()

_READY_DIR = os.environ.get("WF_READY_DIR")
if _READY_DIR:
    _engine_startup = settings["startup"]

    async def _startup_then_say_ready(ctx: Any) -> None:
        await _engine_startup(ctx)
        Path(_READY_DIR, os.environ.get("WF_OWNER", "worker")).touch()  # noqa: ASYNC240 - once, tiny

    settings["startup"] = _startup_then_say_ready
