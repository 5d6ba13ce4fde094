"""Idempotent starts: at most one instance per (workflow, key), ever, on every store; a start with a
key that is taken answers the existing instance and runs nothing, concurrently too (one engine,
two engines, several processes).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import sql
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.core.errors import WorkflowValidationError
from step_kit import Fn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase
    from litestar_workflows import LocalExecutionEngine, WorkflowContext

TIMEOUT = 10.0
HERE = Path(__file__).resolve().parent
CALLS: list[str] = []
"""Keys of the instances whose first step ran, in this process."""


def _record(context: WorkflowContext) -> None:
    CALLS.append(context.get("order", "?"))


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="order",
            steps=[Fn("record", _record), BaseHumanStep("approve", title="Approve")],
            edges=[Edge("record", "approve")],
            initial_step="record",
        )
    )
    reg.register(
        WorkflowDefinition(name="refund", steps=[Fn("record", _record)], edges=[], initial_step="record")
    )
    return reg


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


@pytest.fixture
async def engine(database: ScratchDatabase | None) -> AsyncIterator[LocalExecutionEngine]:
    CALLS.clear()
    async with engine_for(database, registry(), poll_interval=0.2) as started:
        yield started


async def test_a_second_start_with_the_key_returns_the_first_instance(engine: LocalExecutionEngine) -> None:
    first, created = await engine.start_or_get("order", {"order": "o-1"}, key="order-123")
    again, created_again = await engine.start_or_get("order", {"order": "other data"}, key="order-123")
    plain = await engine.start_workflow("order", {"order": "o-1"}, key="order-123")

    assert (created, created_again) == (True, False)
    assert again.id == first.id == plain.id
    assert again.key == "order-123"
    assert again.data["order"] == "o-1"  # the first start's data; the second's was not used
    assert CALLS == ["o-1"]  # nothing ran for the repeated starts
    assert (await stored(engine, first.id)).key == "order-123"


async def test_the_existing_instance_is_returned_whatever_its_status(engine: LocalExecutionEngine) -> None:
    first = await engine.start_workflow("order", {"order": "o-2"}, key="k")
    await engine.wait(first.id, timeout=TIMEOUT)
    await engine.cancel_workflow(first.id, "changed my mind")

    again, created = await engine.start_or_get("order", {"order": "o-2"}, key="k")

    assert (again.id, created) == (first.id, False)
    assert again.status is WorkflowStatus.CANCELED
    assert CALLS == ["o-2"]


async def test_keys_are_per_workflow_and_starts_without_a_key_are_free(engine: LocalExecutionEngine) -> None:
    order = await engine.start_workflow("order", {"order": "a"}, key="same")
    refund = await engine.start_workflow("refund", {"order": "b"}, key="same")
    free = [await engine.start_workflow("order", {"order": f"f{i}"}) for i in range(3)]

    assert order.id != refund.id
    assert len({instance.id for instance in free} | {order.id}) == 4
    assert all(instance.key is None for instance in free)
    assert sorted(CALLS) == ["a", "b", "f0", "f1", "f2"]


async def test_concurrent_starts_with_one_key_make_one_instance(engine: LocalExecutionEngine) -> None:
    results = await asyncio.gather(
        *(engine.start_or_get("order", {"order": "c"}, key="concurrent") for _ in range(8))
    )

    assert len({instance.id for instance, _ in results}) == 1
    assert sorted(created for _, created in results) == [False] * 7 + [True]
    assert CALLS == ["c"]


async def test_a_taken_key_in_a_batch_does_not_fail_the_other_starts(engine: LocalExecutionEngine) -> None:
    # Started together, these share group commits: the starts that lose the key drop out of the
    # batch, and everything else in it is written.
    keyed = [engine.start_or_get("order", {"order": "k"}, key="batch") for _ in range(4)]
    plain = [engine.start_workflow("order", {"order": f"p{i}"}) for i in range(6)]
    results = await asyncio.gather(*keyed, *plain)

    keyed_results = results[:4]
    assert len({instance.id for instance, _ in keyed_results}) == 1  # type: ignore[misc]
    page = await engine.find_instances(workflow_name="order", limit=100)
    assert page.total == 7
    assert sorted(CALLS) == ["k", "p0", "p1", "p2", "p3", "p4", "p5"]


@pytest.mark.parametrize("key", ["", "x" * 256, 42])
async def test_a_bad_key_is_refused_before_anything_is_stored(engine: LocalExecutionEngine, key: Any) -> None:
    with pytest.raises(WorkflowValidationError, match="key must be a non-empty string of at most 255"):
        await engine.start_workflow("order", {"order": "x"}, key=key)

    assert (await engine.find_instances(limit=10)).total == 0
    assert CALLS == []


# ---------------------------------------------------------------------------- across engines and processes

DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def shared_database(request: pytest.FixtureRequest) -> ScratchDatabase:
    found = database_of(request)
    assert found is not None
    return found


async def test_two_engines_on_one_database_make_one_instance(shared_database: ScratchDatabase) -> None:
    CALLS.clear()
    async with (
        engine_for(shared_database, registry(), poll_interval=0.2) as one,
        engine_for(shared_database, registry(), poll_interval=0.2) as two,
    ):
        results = await asyncio.gather(
            *(engine.start_or_get("order", {"order": "e"}, key="two-engines") for engine in (one, two) * 3)
        )

        assert len({instance.id for instance, _ in results}) == 1
        assert [created for _, created in results].count(True) == 1
        assert CALLS == ["e"]


_CHILD = """
import asyncio, json, sys
sys.path[:0] = sys.argv[3].split("|")
from durable_support import store_engine
from sqlalchemy.ext.asyncio import async_sessionmaker
from litestar_workflows import WorkflowDefinition, WorkflowRegistry
from litestar_workflows.db import PersistentExecutionEngine
from step_kit import Fn

async def main():
    registry = WorkflowRegistry()
    registry.register(WorkflowDefinition(name="order", steps=[Fn("record")], edges=[], initial_step="record"))
    db_engine = store_engine(sys.argv[1], sys.argv[2] or None)
    engine = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine))
    try:
        results = await asyncio.gather(*(engine.start_or_get("order", key="processes") for _ in range(3)))
        print(json.dumps([[str(instance.id), created] for instance, created in results]))
    finally:
        await engine.stop()
        await db_engine.dispose()

asyncio.run(main())
"""


async def test_several_processes_make_one_instance(shared_database: ScratchDatabase) -> None:
    await shared_database.migrate()
    paths = f"{HERE}|{HERE.parent.parent}"  # durable_support, step_kit
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            *shared_database.argv,
            paths,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]
    outputs = [await process.communicate() for process in processes]

    answers: list[tuple[str, bool]] = []
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, stderr.decode()[-3000:]
        answers.extend((ident, created) for ident, created in json.loads(stdout.decode().splitlines()[-1]))
    assert len({ident for ident, _ in answers}) == 1
    assert [created for _, created in answers].count(True) == 1
    db_engine = shared_database.create_engine()
    try:
        rows = await sql(db_engine, "SELECT key FROM workflow_instances")
        runs = await sql(db_engine, "SELECT step_name FROM workflow_step_executions")
    finally:
        await db_engine.dispose()
    assert rows == [{"key": "processes"}]
    assert runs == [{"step_name": "record"}]  # its step ran once, in one process


async def test_what_ran_before_a_prompt_stop_is_kept(shared_database: ScratchDatabase) -> None:
    # The engine stops right after the starts return: the commits of what their first steps did
    # (awaited by drivers that stop() cancels) are still written, keyed start or not.
    CALLS.clear()
    async with engine_for(shared_database, registry(), poll_interval=0.2) as engine:
        plain = await engine.start_workflow("refund", {"order": "p"})
        keyed = await engine.start_workflow("refund", {"order": "k"}, key="prompt-stop")
        assert plain.status is keyed.status is WorkflowStatus.COMPLETED  # in this process's copy
    async with engine_for(shared_database, registry(), poll_interval=0.2) as later:
        for instance in (plain, keyed):
            assert (await stored(later, instance.id)).status is WorkflowStatus.COMPLETED
