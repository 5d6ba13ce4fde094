"""SAQExecutionEngine with real parts: Redis on a free port, PostgreSQL, ``saq`` worker processes.

The test process is the web app: it starts instances and completes tasks through its own
``SAQExecutionEngine``; steps run only in the worker processes, started with SAQ's CLI on the
module ``saq_worker.py``. Results are read from the database and from the effects each step
appends to a file (see ``distributed_flows.py``).
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
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
from distributed_flows import WIDE_BRANCHES, registry
from saq import Job, Queue
from saq.job import TERMINAL_STATUSES, Status

from litestar_workflows import WorkflowStatus
from litestar_workflows.contrib.saq import JOB_FUNCTION, SAQExecutionEngine
from litestar_workflows.engine.messages import BrokerUnavailableError, StepMessage
from step_kit import FINISHED

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from pathlib import Path

    from broker_processes import RedisServer, Workers
    from sqlalchemy.ext.asyncio import AsyncEngine

    from conftest import ScratchDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
LEASE = {"WF_LEASE_SECONDS": "2", "WF_SWEEP_SECONDS": "0.5"}
STEADY = {"WF_LEASE_SECONDS": "10", "WF_SWEEP_SECONDS": "0.5"}
"""For a worker that must never lose a lease while alive (a test that counts re-runs): see the Celery tests."""
CHAIN = ["s0", "s1", "s2", "s3"]
FAN = ["fork", "a", "b", "c", "join", "approve", "close"]


@asynccontextmanager
async def web_app(
    db: ScratchDatabase, redis: RedisServer, *, twice: bool = False
) -> AsyncIterator[tuple[SAQExecutionEngine, AsyncEngine]]:
    """The test process's engine (it starts and acts; it runs no step), on a migrated database."""
    await db.migrate()
    db_engine = db.create_engine()
    engine = SAQExecutionEngine(
        queue=Queue.from_url(redis.url),
        persistence=db_engine,
        registry=registry(),
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


async def test_fan_out_join_and_human_step_on_two_workers_with_every_message_twice(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    for name in ("w1", "w2"):
        workers.saq(name, WF_STEP_SECONDS="0.01", **LEASE)
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
    # Which worker takes which message is up to Redis and the workers' free job slots (64 each),
    # and a worker continues the chains it began: nothing makes the work spread here, so this test
    # does not ask which workers ran it. That branches of one instance can run on different workers
    # is shown deterministically by test_branches_of_one_instance_run_on_different_workers.


async def test_many_branches_of_one_instance_finishing_on_two_workers_each_run_once(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    """Both workers commit branch outcomes to the same instances at once: each lost version check
    is applied again (after a random, growing back-off) instead of being given up after a burst of
    lockstep retries, which left the step to run a second time once its lease ran out."""
    for name in ("w1", "w2"):
        workers.saq(name, WF_STEP_SECONDS="0.05", WF_LEASE_SECONDS="30", WF_SWEEP_SECONDS="5")
    async with web_app(scratch_postgres, redis_server) as (engine, _):
        started = await asyncio.gather(*(engine.start_workflow("wide") for _ in range(4)))
        for instance in started:
            done = await engine.wait(instance.id, until=FINISHED, timeout=60)
            assert done.status is WorkflowStatus.COMPLETED, (done.status, done.error)
        loaded = await load_all(engine, [instance.id for instance in started])
    ran = effects(tmp_path / "effects.log")
    assert_once_each(loaded, ["fork", *WIDE_BRANCHES, "join"], ran)
    assert all(len(runs) == 1 for runs in ran.values())  # no step ran again after its lease
    assert {worker for runs in ran.values() for _, _, worker in runs} == {"w1", "w2"}
    for name in ("w1", "w2"):
        assert "gave up after retries" not in workers.log(name)


async def test_branches_of_one_instance_run_on_different_workers(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    """Two workers with one job slot each; each branch of ``meet`` waits until a sibling branch runs
    on another worker. One worker cannot run both (its slot is taken by the first), so the join
    is reached only if the other worker takes the sibling branch while the first one still runs."""
    meet_dir = tmp_path / "meet"
    meet_dir.mkdir()
    for name in ("w1", "w2"):
        workers.saq(name, WF_CONCURRENCY="1", WF_MEET_DIR=str(meet_dir), **LEASE)
    async with web_app(scratch_postgres, redis_server) as (engine, _):
        ids = []
        for _ in range(3):  # one at a time: two instances could hold one slot each and wait forever
            instance = await engine.start_workflow("meet")
            done = await engine.wait(instance.id, until=FINISHED, timeout=60)
            assert done.status is WorkflowStatus.COMPLETED, (done.status, done.error)
            ids.append(instance.id)
        loaded = await load_all(engine, ids)
    ran = effects(tmp_path / "effects.log")
    assert_once_each(loaded, ["fork", "a", "b", "join"], ran)
    for instance in loaded:
        assert {ran[(str(instance.id), branch)][0][2] for branch in "ab"} == {"w1", "w2"}


async def test_kill_9_of_a_worker_mid_step_with_200_instances_in_flight(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    # Eight job slots: the 2,000 steps take the doomed worker over ten seconds, so it is still
    # mid-run when the test looks, however long the 200 starts took on a loaded machine.
    workers.saq("doomed", WF_STEP_SECONDS="0.05", WF_CONCURRENCY="8", **LEASE)
    async with web_app(scratch_postgres, redis_server) as (engine, db_engine):
        ids = [(await engine.start_workflow("chain")).id for _ in range(200)]

        async def doomed_is_mid_step() -> bool:
            held = "SELECT count(*) FROM workflow_step_executions WHERE lease_owner = 'doomed'"
            done = "SELECT count(*) FROM workflow_step_executions WHERE status = 'succeeded'"
            return await count(db_engine, held) > 0 and await count(db_engine, done) >= 100

        await until(doomed_is_mid_step, "the first worker to be busy")
        workers.kill("doomed")
        # What the dead worker held when it died (it can change nothing any more).
        held = await count(
            db_engine,
            "SELECT count(*) FROM workflow_step_executions WHERE lease_owner = 'doomed' "
            "AND status IN ('scheduled', 'running')",
        )
        assert held > 0
        workers.saq("replacement", WF_STEP_SECONDS="0.05", **LEASE)

        async def all_finished() -> bool:
            return await finished(db_engine) == 200

        await until(all_finished, "200 instances to finish")
        done = await load_all(engine, ids)
    ran = effects(tmp_path / "effects.log")
    assert_once_each(done, CHAIN, ran)
    assert all(instance.data["n"] == len(CHAIN) for instance in done)  # no transition applied twice
    reruns = [runs for runs in ran.values() if len(runs) > 1]
    assert all(runs[0][2] == "doomed" for runs in reruns)  # only what the dead worker ran re-ran
    assert len(reruns) <= held
    assert {worker for runs in ran.values() for _, _, worker in runs} == {"doomed", "replacement"}


async def test_redis_restarted_empty_mid_run(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    workers.saq("w1", WF_STEP_SECONDS="0.02", **STEADY)
    async with web_app(scratch_postgres, redis_server) as (engine, db_engine):
        ids = [(await engine.start_workflow("chain")).id for _ in range(200)]

        async def under_way() -> bool:
            done = "SELECT count(*) FROM workflow_step_executions WHERE status = 'succeeded'"
            return await count(db_engine, done) >= 100

        await until(under_way, "the run to be under way")
        redis_server.kill()
        redis_server.start()  # empty: every queued job is gone, and nobody was told

        async def all_finished() -> bool:
            return await finished(db_engine) == 200

        await until(all_finished, "200 instances to finish after the restart")
        done = await load_all(engine, ids)
    ran = effects(tmp_path / "effects.log")
    assert_once_each(done, CHAIN, ran)
    assert all(len(runs) == 1 for runs in ran.values())  # lost jobs were never running: no re-runs


async def test_bad_input_is_logged_acknowledged_and_harmless(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    """A malformed job, one for an unknown execution and one for a finished instance's step."""
    workers.start("w1", [str(BIN / "saq"), "saq_worker.settings", "-vv"], **LEASE)  # logs debug too
    async with web_app(scratch_postgres, redis_server) as (engine, _):
        instance = await engine.start_workflow("chain")
        await engine.wait(instance.id, until=FINISHED, timeout=60)
        before = await engine.store.load_instance(instance.id)  # type: ignore[attr-defined]
        assert before is not None
        last = before.executions_of("s3")[0]
        unknown = StepMessage(uuid4(), 1)
        bodies = ["not json", unknown.to_json(), StepMessage(last.id, last.attempt).to_json()]  # type: ignore[arg-type]
        jobs = [Job(JOB_FUNCTION, kwargs={"message": body}, timeout=0, retries=1) for body in bodies]
        for job in jobs:  # as the engine enqueues them, but kept in Redis after they end (ttl)
            await engine.queue.enqueue(job)

        async def all_ended() -> bool:
            for job in jobs:
                await job.refresh()
            return all(job.status in TERMINAL_STATUSES for job in jobs)

        await until(all_ended, "the bad jobs to end")
        # Acknowledged: each job ended without an error (none is tried again), nothing waits.
        assert [(job.status, job.result, job.error) for job in jobs] == [(Status.COMPLETE, False, None)] * 3
        assert await engine.queue.count("incomplete") == 0
        log = workers.log("w1")
        assert "dropping a malformed broker message" in log
        assert f"dropping a message for unknown execution {unknown.execution_id}" in log
        assert (
            f"dropping a message for execution {last.id} attempt {last.attempt}: its instance is completed"
            in log
        )
        after = await engine.store.load_instance(instance.id)  # type: ignore[attr-defined]
        assert after is not None
        assert (after.version, after.status, after.data) == (before.version, before.status, before.data)
        assert [e.attempt for e in after.executions_of("s3")] == [last.attempt]
    assert len(effects(tmp_path / "effects.log")[(str(instance.id), "s3")]) == 1


async def test_a_step_raising_system_exit_or_an_unprintable_error_fails_and_the_worker_goes_on(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    workers.saq("w1", **LEASE)
    async with web_app(scratch_postgres, redis_server) as (engine, _):
        await failing_steps_fail_and_the_worker_goes_on(engine, workers, "w1", tmp_path / "effects.log")


async def test_a_worker_without_the_workflow_leaves_it_to_one_that_has_it(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    def start(name: str, **env: str) -> None:
        workers.saq(name, **env, **LEASE)

    async with web_app(scratch_postgres, redis_server) as (engine, db_engine):
        await left_to_a_worker_that_has_it(engine, db_engine, workers, start, tmp_path / "effects.log")


async def test_a_broker_that_is_down_at_start_is_named(scratch_postgres: ScratchDatabase) -> None:
    await scratch_postgres.migrate()
    db_engine = scratch_postgres.create_engine()
    port = free_port()
    engine = SAQExecutionEngine(
        queue=Queue.from_url(f"redis://127.0.0.1:{port}/0"), persistence=db_engine, registry=registry()
    )
    try:
        with pytest.raises(BrokerUnavailableError, match=f"redis://127.0.0.1:{port}/0"):
            await engine.start()
    finally:
        await engine.stop()
        await db_engine.dispose()


async def test_a_backlog_that_outlasts_leases_does_not_grow_and_a_job_a_dead_worker_took_runs(
    scratch_postgres: ScratchDatabase, redis_server: RedisServer, workers: Workers, tmp_path: Path
) -> None:
    """The sweep publishes again only what no queued job will bring to a worker any more.

    No worker runs while the sweep goes round four times over 20 unclaimed first steps: the queue
    holds each step's first job and one of the sweep's, not one more per sweep. Then a "worker"
    takes every job and dies before claiming anything (SAQ leaves such jobs active for good): the
    next sweep publishes each step again, and a real worker runs every step exactly once.
    """
    await scratch_postgres.migrate()
    db_engine = scratch_postgres.create_engine()
    queue = Queue.from_url(redis_server.url)
    engine = SAQExecutionEngine(
        queue=queue,
        persistence=db_engine,
        registry=registry(),
        lease_seconds=0.2,
        sweep_interval=3600,
        owner="web",
    )

    async def swept() -> bool:  # true once a sweep found the unclaimed steps (a lease after the last)
        return await engine.recover() > 0

    try:
        async with engine:
            ids = [(await engine.start_workflow("chain")).id for _ in range(20)]
            await engine.flush()
            for round_ in range(4):
                await until(swept, f"sweep {round_ + 1} to publish the unclaimed steps again")
            assert await queue.count("queued") == 40  # 20 first jobs + 20 of the sweep, however many sweeps

            taken = []
            while (job := await queue.dequeue(timeout=1)) is not None:  # a worker that dies holding them
                await job.update(status=Status.ACTIVE)
                taken.append(job)
            assert len(taken) == 40
            assert await queue.count("queued") == 0
            await until(swept, "the sweep after the dead worker")
            assert await queue.count("queued") == 20  # the sweep's jobs, taken and never claimed, again

            workers.saq("w1", **STEADY)

            async def all_finished() -> bool:
                return await finished(db_engine) == 20

            await until(all_finished, "20 instances to finish")
            done = await load_all(engine, ids)
    finally:
        await db_engine.dispose()
    ran = effects(tmp_path / "effects.log")
    assert_once_each(done, CHAIN, ran)
    assert all(len(runs) == 1 for runs in ran.values())
