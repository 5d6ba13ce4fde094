"""PostgreSQL restarted mid-run: workers reconnect; everything completes.

A PostgreSQL server private to the test (initdb + pg_ctl in a temp dir, on a free port; see
``private_postgres.py`` and the ``private_postgres`` fixture of ``conftest.py``) is stopped with
``-m immediate`` (every connection dropped at once, as a crash does) while two worker processes
run 100 chains, and started again: two ``saq`` workers, or a prefork and a solo ``celery``
worker. Commits that were on their way fail or are written again; steps whose commit failed are
re-run once their lease runs out (as a new attempt). Every instance completes with each step
succeeded once.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
from broker_processes import BIN, HERE, TESTS, Workers
from broker_support import assert_once_each, count, effects, finished, load_all, until
from celery import Celery
from distributed_flows import registry
from saq import Queue
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from litestar_workflows.contrib.celery import CeleryExecutionEngine
from litestar_workflows.contrib.saq import SAQExecutionEngine
from litestar_workflows.db import create_store_engine, upgrade_database_async

if TYPE_CHECKING:
    from pathlib import Path

    from broker_processes import RedisServer
    from private_postgres import PrivatePostgres

    from litestar_workflows.engine.distributed import DistributedExecutionEngine

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
CHAIN = ["s0", "s1", "s2", "s3"]
INSTANCES = 100
WORKER_ENV = {"WF_STEP_SECONDS": "0.02", "WF_LEASE_SECONDS": "2", "WF_SWEEP_SECONDS": "0.5"}


def start_workers(backend: str, workers: Workers) -> None:
    if backend == "saq":
        for name in ("w1", "w2"):
            workers.saq(name, **WORKER_ENV)
        return
    for name, pool in (("w1", "prefork"), ("w2", "solo")):
        argv = [str(BIN / "celery"), "-A", "celery_worker:celery_app", "worker", f"--pool={pool}"]
        argv += ["--concurrency=2"] if pool != "solo" else []
        argv += ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
        workers.start(name, [*argv, f"--hostname={name}@%h"], **WORKER_ENV)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["saq", "celery"])
async def test_postgres_restarted_mid_run_workers_reconnect_and_everything_completes(
    backend: str, private_postgres: PrivatePostgres, redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "WF_DB_URL": private_postgres.url,
        "WF_DB_SCHEMA": "",
        "WF_REDIS_URL": redis_server.url,
        "WF_EFFECTS": str(tmp_path / "effects.log"),
        "WF_READY_DIR": str(tmp_path),
    }
    workers = Workers(env, tmp_path)
    # The test's own looks at the database open a connection each time (no pool to go stale).
    probe = create_async_engine(private_postgres.url, poolclass=NullPool)
    db_engine = create_store_engine(private_postgres.url)
    await upgrade_database_async(db_engine)
    options = {"lease_seconds": 2, "sweep_interval": 0.5, "poll_interval": 0.1, "owner": "web"}
    engine: DistributedExecutionEngine
    if backend == "saq":
        engine = SAQExecutionEngine(Queue.from_url(redis_server.url), db_engine, registry(), **options)
    else:
        engine = CeleryExecutionEngine(
            Celery("web", broker=redis_server.url), db_engine, registry(), **options
        )
    try:
        start_workers(backend, workers)

        async def both_up() -> bool:  # a worker starting during the restart would exit, not reconnect
            return all((tmp_path / name).exists() for name in ("w1", "w2"))

        await until(both_up, "both workers to be up")
        async with engine:
            ids = [(await engine.start_workflow("chain")).id for _ in range(INSTANCES)]
            await engine.flush()

            async def under_way() -> bool:
                done = "SELECT count(*) FROM workflow_step_executions WHERE status = 'succeeded'"
                return await count(probe, done) >= INSTANCES

            await until(under_way, "the run to be under way")
            private_postgres.stop("immediate")  # every connection of every process dropped
            private_postgres.start()

            async def all_finished() -> bool:
                try:
                    return await finished(probe) == INSTANCES
                except OSError:  # pragma: no cover - the server is up again before this looks
                    return False

            await until(all_finished, f"{INSTANCES} instances to finish after the restart", 180)
            done = await load_all(engine, ids)
        for name in ("w1", "w2"):
            assert workers.processes[name].poll() is None, workers.log(name)  # they reconnected
    finally:
        workers.stop_all()
        await db_engine.dispose()
        await probe.dispose()
    assert_once_each(done, CHAIN, effects(tmp_path / "effects.log"))
