"""What the broker tests share: waiting on database state, reading effects, checking histories."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import TYPE_CHECKING

from sqlalchemy import text

from litestar_workflows import WorkflowStatus
from step_kit import FINISHED, statuses

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from broker_processes import Workers
    from sqlalchemy.ext.asyncio import AsyncEngine

    from litestar_workflows import LocalExecutionEngine, WorkflowInstanceData
    from litestar_workflows.engine.distributed import DistributedExecutionEngine

DEADLINE = 90.0


async def until(check: Callable[[], Awaitable[bool]], what: str, deadline: float = DEADLINE) -> None:
    """Wait until ``check()`` holds (looked at every 50 ms), or fail naming ``what``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while not await check():
        if loop.time() > end:
            raise AssertionError(f"gave up waiting for {what} after {deadline}s")
        await asyncio.sleep(0.05)  # the interval between looks at the database, not a synchronisation


async def count(db_engine: AsyncEngine, sql: str, **params: object) -> int:
    async with db_engine.connect() as conn:
        return int((await conn.execute(text(sql), params)).scalar_one())


async def finished(db_engine: AsyncEngine) -> int:
    return await count(
        db_engine,
        "SELECT count(*) FROM workflow_instances WHERE status IN ('completed', 'failed', 'canceled')",
    )


def effects(path: Path) -> dict[tuple[str, str], list[tuple[str, int, str]]]:
    """(instance, step) -> [(execution, attempt, worker)] of every time a step really ran."""
    found: dict[tuple[str, str], list[tuple[str, int, str]]] = defaultdict(list)
    if not path.exists():
        return found
    for line in path.read_text().splitlines():
        instance, step, execution, attempt, worker = line.split()
        found[(instance, step)].append((execution, int(attempt), worker))
    return found


async def load_all(engine: LocalExecutionEngine, ids: list[object]) -> list[WorkflowInstanceData]:
    loaded = []
    for instance_id in ids:
        instance = await engine.store.load_instance(instance_id)  # type: ignore[attr-defined]
        assert instance is not None
        loaded.append(instance)
    return loaded


def assert_once_each(
    done: list[WorkflowInstanceData], steps: list[str], ran: dict[tuple[str, str], list[tuple[str, int, str]]]
) -> None:
    """Every instance completed, each step has one succeeded execution, and ran once per attempt."""
    for instance in done:
        assert instance.status is WorkflowStatus.COMPLETED, (instance.id, instance.status, instance.error)
        assert statuses(instance) == {step: ["succeeded"] for step in steps} | (
            {} if "approve" not in steps else {"approve": ["succeeded"]}
        ), instance.id
        for step in steps:
            runs = ran.get((str(instance.id), step), [])
            if step in ("fork", "approve"):
                continue
            assert runs, (instance.id, step)
            attempts = [attempt for _, attempt, _ in runs]
            assert len(attempts) == len(set(attempts)), (instance.id, step, runs)  # re-runs: new attempts
            [execution] = instance.executions_of(step)
            assert {e for e, _, _ in runs} == {str(execution.id)}
            assert execution.attempt == max(attempts)


async def left_to_a_worker_that_has_it(
    engine: DistributedExecutionEngine,
    db_engine: AsyncEngine,
    workers: Workers,
    start_worker: Callable[..., object],
    effects_path: Path,
) -> None:
    """A worker whose registry lacks ``chain`` logs its step and lets it go; one that has it runs it.

    ``start_worker(name, **env)`` starts a worker of the backend under test. The one without the
    workflow is killed once it has refused the step (the sweep publishes it to that worker again
    while it lives), so that the next message can only go to the one that has it.
    """
    start_worker("ignorant", WF_LACKS="chain")
    instance = await engine.start_workflow("chain")
    refusal = (
        "workflow 'chain' is not registered in this worker's registry; released for a worker that has it"
    )

    async def refused_and_released() -> bool:
        leased = "SELECT count(*) FROM workflow_step_executions WHERE lease_owner IS NOT NULL"
        return refusal in workers.log("ignorant") and await count(db_engine, leased) == 0

    await until(refused_and_released, "the worker without the workflow to log and release its step")
    stored = await engine.store.load_instance(instance.id)  # type: ignore[attr-defined]
    assert stored is not None
    assert (stored.version, statuses(stored)) == (instance.version, {"s0": ["scheduled"]})
    assert workers.processes["ignorant"].poll() is None  # it goes on serving other messages
    workers.kill("ignorant")
    start_worker("knowing")
    done = await engine.wait(instance.id, until=FINISHED, timeout=DEADLINE)
    ran = effects(effects_path)
    assert_once_each([done], ["s0", "s1", "s2", "s3"], ran)
    assert {worker for runs in ran.values() for _, _, worker in runs} == {"knowing"}


async def failing_steps_fail_and_the_worker_goes_on(
    engine: DistributedExecutionEngine, workers: Workers, worker: str, effects_path: Path
) -> None:
    """A step raising ``SystemExit`` (argparse) or an exception ``str()`` cannot read fails its instance.

    Once each: neither takes the worker down (its process, or its event loop thread on Celery),
    nor leaves the step to run again after its lease; a chain started afterwards completes on it.
    """
    exits = await engine.start_workflow("exits")
    unprintable = await engine.start_workflow("unprintable")
    for instance in (exits, unprintable):
        assert (
            await engine.wait(instance.id, until=FINISHED, timeout=DEADLINE)
        ).status is WorkflowStatus.FAILED
    chain = await engine.start_workflow("chain")
    done = await engine.wait(chain.id, until=FINISHED, timeout=DEADLINE)
    assert done.status is WorkflowStatus.COMPLETED
    failed = {i.workflow_name: i for i in await load_all(engine, [exits.id, unprintable.id])}
    assert "step 'parse' raised SystemExit(2)" in (failed["exits"].error or "")
    assert (
        failed["exits"].executions_of("parse")[0].error_type == "litestar_workflows.core.errors.StepExitError"
    )
    assert "Unprintable: <its message could not be read: str() raised ValueError>" in (
        failed["unprintable"].error or ""
    )
    ran = effects(effects_path)
    assert len(ran[str(exits.id), "parse"]) == 1
    assert len(ran[str(unprintable.id), "raise"]) == 1
    assert workers.processes[worker].poll() is None  # still serving
