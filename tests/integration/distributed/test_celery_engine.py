"""CeleryExecutionEngine with real parts: Redis on a free port, PostgreSQL, ``celery worker`` processes.

The test process is the web app: it starts instances and completes tasks through its own
``CeleryExecutionEngine``; steps run only in worker processes started with Celery's own CLI on
the module ``celery_worker.py`` (prefork, solo and threads pools). Results are read from the
database and from the effects each step appends to a file (see ``distributed_flows.py``).
"""

from __future__ import annotations

import asyncio
import os
import signal
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from broker_processes import BIN, free_port
from broker_support import (
    assert_once_each,
    count,
    effects,
    failing_steps_fail_and_the_worker_goes_on,
    finished,
    left_to_a_worker_that_has_it,
    load_all,
    until,
)
from celery import Celery
from distributed_flows import registry
from sqlalchemy import text

from litestar_workflows.contrib.celery import TASK_NAME, CeleryExecutionEngine
from litestar_workflows.engine.messages import BrokerUnavailableError, StepMessage
from step_kit import FINISHED

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from broker_processes import RedisServer, Workers
    from sqlalchemy.ext.asyncio import AsyncEngine

    from conftest import ScratchDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
LEASE = {"WF_LEASE_SECONDS": "2", "WF_SWEEP_SECONDS": "0.5"}
STEADY = {"WF_LEASE_SECONDS": "10", "WF_SWEEP_SECONDS": "0.5"}
"""For workers that must never lose a lease while alive, even on a loaded machine: a lapsed lease is
taken by the sweep and its step re-run (its late outcome is refused), which tests that count re-runs
would see."""
CHAIN = ["s0", "s1", "s2", "s3"]
FAN = ["fork", "a", "b", "c", "join", "approve", "close"]
SUCCEEDED = "SELECT count(*) FROM workflow_step_executions WHERE status = 'succeeded'"


def celery_worker(
    workers: Workers, name: str, pool: str = "prefork", *, supervised: bool = False, **env: str
) -> None:
    """``celery -A celery_worker:celery_app worker`` with ``pool``, as an operator starts one."""
    argv = [str(BIN / "celery"), "-A", "celery_worker:celery_app", "worker", f"--pool={pool}"]
    argv += ["--concurrency=2"] if pool != "solo" else []
    argv += ["--loglevel=WARNING", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    workers.start(name, [*argv, f"--hostname={name}@%h"], supervised=supervised, **env)


@asynccontextmanager
async def web_app(
    db: ScratchDatabase, redis: RedisServer, *, twice: bool = False
) -> AsyncIterator[tuple[CeleryExecutionEngine, AsyncEngine]]:
    """The test process's engine (it starts and acts; it runs no step), on a migrated database."""
    await db.migrate()
    db_engine = db.create_engine()
    engine = CeleryExecutionEngine(
        Celery("web", broker=redis.url),
        db_engine,
        registry(),
        lease_seconds=2,
        sweep_interval=0.5,
        poll_interval=0.1,
        owner="web",
    )
    if twice:  # every message is published twice at once: a broker's duplicate delivery
        publish = engine.transport.publish

        async def publish_twice(messages: Sequence[StepMessage]) -> None:
            await asyncio.gather(publish(messages), publish(messages))

        engine.transport.publish = publish_twice  # type: ignore[method-assign]
    try:
        async with engine:
            yield engine, db_engine
    finally:
        await db_engine.dispose()


async def all_finished(db_engine: AsyncEngine, n: int) -> None:
    async def done() -> bool:
        return await finished(db_engine) == n

    await until(done, f"{n} instances to finish")


async def test_fan_out_join_and_human_step_on_prefork_and_solo_workers_with_every_message_twice(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    celery_worker(workers, "w1", "prefork", WF_STEP_SECONDS="0.01", **LEASE)
    celery_worker(workers, "w2", "solo", WF_STEP_SECONDS="0.01", **LEASE)
    async with web_app(scratch_postgres, redis_server, twice=True) as (engine, db_engine):
        started = [await engine.start_workflow("fan") for _ in range(20)]

        async def approve(instance_id: Any) -> None:
            await engine.wait(instance_id, timeout=60)
            await engine.complete_human_task(instance_id, "approve", "ann", {"ok": True})
            await engine.wait(instance_id, until=FINISHED, timeout=60)

        await asyncio.gather(*(approve(instance.id) for instance in started))
        done = await load_all(engine, [instance.id for instance in started])
    ran = effects(tmp_path / "effects.log")
    assert_once_each(done, FAN, ran)
    assert all(len(runs) == 1 for runs in ran.values())  # duplicates claimed nothing
    # Which process takes which message is up to Redis and the free pool slots, and a worker
    # continues the chains it began, so nothing makes the work spread here: the test asks only
    # that every step and join ran once. That branches of one instance run on different
    # workers is shown deterministically by test_branches_of_one_instance_run_on_different_workers.


async def test_branches_of_one_instance_run_on_different_workers(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    """Two solo workers that run one step at a time; each branch of ``meet`` waits until a sibling
    branch runs on another worker. The fork's worker runs the first branch itself (a chain goes on
    where it is) and cannot run the second while the first waits. Celery may still hand it the
    second branch's message, which it then holds unclaimed (its task waits for the busy slot):
    the web app's sweep publishes that execution again once it stayed unclaimed for the lease
    (2 s), and only the other worker is free to take it. So the join is reached only through a
    branch on each worker, whichever way Redis hands the messages out."""
    meet_dir = tmp_path / "meet"
    meet_dir.mkdir()
    for name in ("w1", "w2"):
        celery_worker(workers, name, "solo", WF_CONCURRENCY="1", WF_MEET_DIR=str(meet_dir), **STEADY)
    async with web_app(scratch_postgres, redis_server) as (engine, _):
        ids = []
        for _ in range(3):  # one at a time: two instances could hold one slot each and wait forever
            instance = await engine.start_workflow("meet")
            done = await engine.wait(instance.id, until=FINISHED, timeout=60)
            assert done.status == "completed", (done.status, done.error)
            ids.append(instance.id)
        loaded = await load_all(engine, ids)
    ran = effects(tmp_path / "effects.log")
    assert_once_each(loaded, ["fork", "a", "b", "join"], ran)
    for instance in loaded:
        assert {ran[(str(instance.id), branch)][0][2] for branch in "ab"} == {"w1", "w2"}


async def held_by(db_engine: AsyncEngine, owner_like: str) -> int:
    """Executions a lease owner (pattern) holds unfinished right now."""
    return await count(
        db_engine,
        "SELECT count(*) FROM workflow_step_executions WHERE lease_owner LIKE :owner "
        "AND status IN ('scheduled', 'running')",
        owner=owner_like,
    )


def assert_no_transition_twice(
    done: list[Any], ran: dict[tuple[str, str], list[tuple[str, int, str]]]
) -> None:
    assert_once_each(done, CHAIN, ran)
    assert all(instance.data["n"] == len(CHAIN) for instance in done)  # no transition applied twice


async def test_kill_9_of_a_prefork_pool_child_mid_step_with_200_instances_in_flight(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    celery_worker(workers, "w1", "prefork", WF_STEP_SECONDS="0.05", **STEADY)
    async with web_app(scratch_postgres, redis_server) as (engine, db_engine):
        ids = [(await engine.start_workflow("chain")).id for _ in range(200)]
        victim: list[str] = []

        async def a_child_is_mid_step() -> bool:
            async with db_engine.connect() as conn:
                owners = await conn.execute(
                    text(
                        "SELECT lease_owner FROM workflow_step_executions WHERE lease_owner LIKE 'w1/%' "
                        "AND status IN ('scheduled', 'running') LIMIT 1"
                    )
                )
                victim[:] = [row[0] for row in owners]
            return bool(victim) and await count(db_engine, SUCCEEDED) >= 100

        await until(a_child_is_mid_step, "a pool child to be busy")
        [owner] = victim
        os.kill(int(owner.rsplit("/", 1)[1]), signal.SIGKILL)  # the child only; its parent lives on
        held = await held_by(db_engine, owner)  # what the dead child held (it changes nothing now)
        assert held > 0
        await all_finished(db_engine, 200)  # the parent's new child, once the leases ran out
        done = await load_all(engine, ids)
    ran = effects(tmp_path / "effects.log")
    assert_no_transition_twice(done, ran)
    # What the dead child ran re-ran, each as a new attempt (a live sibling's lease may also lapse
    # on a loaded machine; its re-runs are new attempts too, as assert_no_transition_twice checks).
    assert len([runs for runs in ran.values() if len(runs) > 1 and runs[0][2] == owner]) <= held
    assert workers.processes["w1"].poll() is None  # the worker itself never stopped


async def test_kill_9_of_a_whole_worker_mid_step_with_200_instances_in_flight(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    celery_worker(workers, "doomed", "prefork", WF_STEP_SECONDS="0.05", **LEASE)
    async with web_app(scratch_postgres, redis_server) as (engine, db_engine):
        ids = [(await engine.start_workflow("chain")).id for _ in range(200)]

        async def doomed_is_mid_step() -> bool:
            return await held_by(db_engine, "doomed%") > 0 and await count(db_engine, SUCCEEDED) >= 100

        await until(doomed_is_mid_step, "the first worker to be busy")
        workers.kill("doomed")  # the main process and its pool children, all at once
        held = await held_by(db_engine, "doomed%")
        assert held > 0
        # Its unacknowledged messages come back from Redis only after the visibility timeout (an
        # hour): finishing in this test's deadline shows that the engine's sweep brought them back.
        celery_worker(workers, "replacement", "prefork", WF_STEP_SECONDS="0.05", **STEADY)
        await all_finished(db_engine, 200)
        done = await load_all(engine, ids)
    ran = effects(tmp_path / "effects.log")
    assert_no_transition_twice(done, ran)
    reruns = [runs for runs in ran.values() if len(runs) > 1]
    assert all(runs[0][2].startswith("doomed/") for runs in reruns)  # only what the dead worker ran re-ran
    assert len(reruns) <= held
    assert {worker.split("/")[0] for runs in ran.values() for _, _, worker in runs} == {
        "doomed",
        "replacement",
    }


async def test_redis_restarted_empty_mid_run_on_the_threads_pool(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    # Supervised, as in production: Celery 5.7.0's worker may exit on the outage (see Workers.start).
    celery_worker(workers, "w1", "threads", supervised=True, WF_STEP_SECONDS="0.02", **STEADY)
    async with web_app(scratch_postgres, redis_server) as (engine, db_engine):
        ids = [(await engine.start_workflow("chain")).id for _ in range(200)]

        async def under_way() -> bool:
            return await count(db_engine, SUCCEEDED) >= 100

        await until(under_way, "the run to be under way")
        redis_server.kill()
        redis_server.start()  # empty: every queued message is gone, and nobody was told
        await all_finished(db_engine, 200)
        done = await load_all(engine, ids)
    ran = effects(tmp_path / "effects.log")
    assert_no_transition_twice(done, ran)
    assert all(len(runs) == 1 for runs in ran.values())  # lost messages were never running: no re-runs


async def test_bad_input_is_logged_acknowledged_and_harmless(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    celery_worker(workers, "w1", "solo", **LEASE)
    async with web_app(scratch_postgres, redis_server) as (engine, db_engine):
        instance = await engine.start_workflow("chain")
        await engine.wait(instance.id, until=FINISHED, timeout=60)
        before = await engine.store.load_instance(instance.id)  # type: ignore[attr-defined]
        assert before is not None
        last = before.executions_of("s3")[0]
        unknown = StepMessage(__import__("uuid").uuid4(), 1)
        app = engine.celery_app
        for body in ("not json", unknown.to_json(), StepMessage(last.id, last.attempt).to_json()):  # type: ignore[arg-type]
            await asyncio.to_thread(app.send_task, TASK_NAME, args=(body,))

        async def all_logged() -> bool:
            log = workers.log("w1")
            return all(
                line in log
                for line in ("malformed broker message", f"unknown execution {unknown.execution_id}")
            )

        await until(all_logged, "the worker to log the bad messages")
        redis = redis_server_client(redis_server)

        async def acknowledged() -> bool:  # nothing waits in the queue, nothing is held unacked
            return await asyncio.to_thread(lambda: redis.llen("celery") + redis.hlen("unacked")) == 0

        await until(acknowledged, "the bad messages to be acknowledged")
        after = await engine.store.load_instance(instance.id)  # type: ignore[attr-defined]
        assert after is not None
        assert (after.version, after.status, after.data) == (before.version, before.status, before.data)
        assert [e.attempt for e in after.executions_of("s3")] == [last.attempt]
    assert len(effects(tmp_path / "effects.log")[(str(instance.id), "s3")]) == 1


async def test_a_step_raising_system_exit_or_an_unprintable_error_fails_and_the_worker_goes_on(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    celery_worker(workers, "w1", "prefork", **LEASE)
    async with web_app(scratch_postgres, redis_server) as (engine, _):
        await failing_steps_fail_and_the_worker_goes_on(engine, workers, "w1", tmp_path / "effects.log")


async def test_a_worker_without_the_workflow_leaves_it_to_one_that_has_it(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    def start(name: str, **env: str) -> None:
        celery_worker(workers, name, "solo", **env, **LEASE)

    async with web_app(scratch_postgres, redis_server) as (engine, db_engine):
        await left_to_a_worker_that_has_it(engine, db_engine, workers, start, tmp_path / "effects.log")


def redis_server_client(server: RedisServer) -> Any:
    import redis

    return redis.Redis.from_url(server.url)


async def test_a_broker_that_is_down_at_start_is_named(scratch_postgres: ScratchDatabase) -> None:
    await scratch_postgres.migrate()
    db_engine = scratch_postgres.create_engine()
    url = f"redis://127.0.0.1:{free_port()}/0"
    engine = CeleryExecutionEngine(Celery("down", broker=url), db_engine, registry())
    try:
        with pytest.raises(BrokerUnavailableError, match=f"redis://127.0.0.1:{url.split(':')[2]}"):
            await engine.start()
    finally:
        await engine.stop()
        await db_engine.dispose()


@pytest.mark.parametrize(
    ("pool", "broken"),
    [
        ("prefork", "a database that does not exist"),
        ("solo", "a database nobody migrated"),
        ("cli", "a database nobody migrated"),  # `litestar workflows worker`: prefork, in the CLI's loop
    ],
)
async def test_a_worker_whose_database_is_unusable_stops_instead_of_swallowing_messages(
    scratch_postgres: ScratchDatabase, workers: Workers, pool: str, broken: str
) -> None:
    """It exits with a failure, saying why, rather than stay "ready" and fail every message it takes."""
    if broken == "a database that does not exist":
        env = {"WF_DB_URL": scratch_postgres.url.rsplit("/", 1)[0] + f"/missing_{uuid4().hex[:8]}"}
    else:
        env = {}  # the scratch schema, never migrated
    if pool == "cli":
        workers.start(
            "broken", [str(BIN / "litestar"), "--app", "celery_web:app", "workflows", "worker"], **env
        )
    else:
        celery_worker(workers, "broken", pool, **env)
    code = await asyncio.to_thread(workers.processes["broken"].wait, 60)
    log = workers.log("broken")
    assert code != 0, log
    assert "the workflow engine did not start" in log, log
    assert ("does not exist" if env else "upgrade") in log, log
