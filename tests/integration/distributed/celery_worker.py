"""A Celery worker module as a user writes one: ``celery -A celery_worker:celery_app worker``.

Configured by environment variables: ``WF_DB_URL``/``WF_DB_SCHEMA`` name the test's database,
``WF_REDIS_URL`` its Redis, ``WF_OWNER`` the worker's lease owner (prefork children add their
pid), ``WF_LEASE_SECONDS``/``WF_SWEEP_SECONDS`` the lease and the sweep, ``WF_CONCURRENCY`` the
steps one process runs at once. With ``WF_READY_DIR``, the worker creates a file named after its
owner there once Celery says it is ready, so a test can wait for it.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery, signals
from distributed_flows import registry

from litestar_workflows.contrib.celery import CeleryExecutionEngine
from litestar_workflows.db.store import create_store_engine

_PARENT = os.getpid()
schema = os.environ.get("WF_DB_SCHEMA")
db_engine = create_store_engine(
    os.environ["WF_DB_URL"],
    **({"connect_args": {"server_settings": {"search_path": schema}}} if schema else {}),
)
celery_app = Celery("celery_worker", broker=os.environ["WF_REDIS_URL"])
engine = CeleryExecutionEngine(
    celery_app,
    db_engine,
    registry(),
    lease_seconds=float(os.environ.get("WF_LEASE_SECONDS", "30")),
    sweep_interval=float(os.environ.get("WF_SWEEP_SECONDS", "5")),
    owner=os.environ.get("WF_OWNER"),
    max_running=int(os.environ.get("WF_CONCURRENCY", "64")),
)


@signals.worker_process_init.connect
def _name_the_process(**_: object) -> None:
    """Effects name the process that ran a step: ``w1/<pid>`` in a prefork child (see the tests)."""
    if os.getpid() != _PARENT:
        os.environ["WF_OWNER"] = f"{os.environ.get('WF_OWNER', 'test')}/{os.getpid()}"


@signals.worker_ready.connect
def _say_ready(**_: object) -> None:
    ready_dir = os.environ.get("WF_READY_DIR")
    if ready_dir:
        Path(ready_dir, os.environ.get("WF_OWNER", "worker")).touch()
