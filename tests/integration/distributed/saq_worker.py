"""A SAQ worker module as a user writes one: ``saq saq_worker.settings`` (configured by env vars).

``WF_DB_URL``/``WF_DB_SCHEMA`` name the test's database, ``WF_REDIS_URL`` its Redis, ``WF_OWNER``
the worker's lease owner, ``WF_LEASE_SECONDS`` the lease, ``WF_CONCURRENCY`` its job slots.
"""

from __future__ import annotations

import os

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
