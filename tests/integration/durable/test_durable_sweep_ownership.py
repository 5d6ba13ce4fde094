"""What a process's sweep takes over, and how it keeps what it runs.

- A process whose registry lacks a workflow (another app, an older release on the same database)
  leaves that workflow's due work alone, for a process that has its definition: it used to claim
  it at every sweep and hold it for a lease, so the instances never moved.
- One that claimed work it cannot continue (a definition that routes otherwise) gives it up at once.
- Leases of running steps are renewed every third of a lease, however long ``poll_interval`` is:
  a poll interval above the lease let healthy steps' leases run out, and another process ran
  them a second time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from durable_support import running_engine, sql

from litestar_workflows import BaseMachineStep, Edge, WorkflowDefinition, WorkflowRegistry, WorkflowStatus
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase


class Held(BaseMachineStep):
    """Runs until the test lets it go (``Held.gate``): a step in flight when its process stops."""

    gate: asyncio.Event

    async def execute(self, context: Any) -> None:
        await Held.gate.wait()


def slow(then: str = "done") -> WorkflowDefinition:
    return WorkflowDefinition(
        name="slow",
        version="1.0.0",
        steps=[Held("held"), Fn(then)],
        edges=[Edge("held", then)],
        initial_step="held",
    )


def registry_of(*definitions: WorkflowDefinition) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    for definition in definitions:
        registry.register(definition)
    return registry


def other() -> WorkflowDefinition:
    return WorkflowDefinition(name="other", version="1.0.0", steps=[Fn("x")], edges=[], initial_step="x")


async def _left_behind(db: ScratchDatabase) -> Any:
    """An instance of ``slow`` whose step was running when its process stopped: due, unleased."""
    Held.gate = asyncio.Event()  # one per test: an Event belongs to the loop it is first awaited on
    async with running_engine(db, registry_of(slow()), poll_interval=3600) as gone:
        instance = await gone.start_workflow("slow")
        await asyncio.sleep(0)  # the step begins (it then waits for the gate)
    return instance


async def _lease_owners(db_engine: Any) -> list[Any]:
    rows = await sql(db_engine, "SELECT lease_owner FROM workflow_step_executions WHERE step_name = 'held'")
    return [row["lease_owner"] for row in rows]


async def test_a_process_without_the_workflow_leaves_its_due_work_to_one_that_has_it(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    instance = await _left_behind(scratch_database)
    db_engine = scratch_database.create_engine()
    try:
        async with running_engine(scratch_database, registry_of(other()), poll_interval=3600) as lacking:
            assert await lacking.recover() == 0  # nor did its start()'s sweep take anything
            assert await _lease_owners(db_engine) == [None]
            Held.gate.set()
            async with running_engine(scratch_database, registry_of(slow()), poll_interval=3600) as knowing:
                # Its start() swept once and took the step over; no other sweep runs meanwhile.
                done = await knowing.wait(instance.id, until=FINISHED, timeout=30)
                assert done.status is WorkflowStatus.COMPLETED
    finally:
        await db_engine.dispose()


async def test_work_a_process_cannot_continue_is_given_up_at_once(scratch_database: ScratchDatabase) -> None:
    await scratch_database.migrate()
    instance = await _left_behind(scratch_database)
    db_engine = scratch_database.create_engine()
    try:
        drifted = registry_of(slow(then="elsewhere"))  # same name and version, other routing
        async with running_engine(scratch_database, drifted, poll_interval=3600) as wrong:
            # Its start() swept: it claimed the step (it has the name and version), found that it
            # routes otherwise, and gave it back; it claims that version no more.
            assert await _lease_owners(db_engine) == [None]
            assert await wrong.recover() == 0
            stored = await wrong.get_instance(instance.id)
            assert stored.status is WorkflowStatus.RUNNING
    finally:
        await db_engine.dispose()


async def test_leases_are_renewed_within_a_lease_when_the_poll_interval_is_longer(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    Held.gate = asyncio.Event()
    db_engine = scratch_database.create_engine()
    try:
        async with running_engine(
            scratch_database, registry_of(slow()), lease_seconds=3, poll_interval=60
        ) as engine:
            instance = await engine.start_workflow("slow")
            loop = asyncio.get_running_loop()
            watched_until = loop.time() + 4.5  # renewed every 1 s (2 s of slack), or expired at 3 s
            while loop.time() < watched_until:
                [row] = await sql(
                    db_engine,
                    "SELECT lease_expires_at FROM workflow_step_executions WHERE step_name = 'held'",
                )
                expires = row["lease_expires_at"]
                if isinstance(expires, str):
                    expires = datetime.fromisoformat(expires)
                if expires.tzinfo is None:
                    expires = expires.replace(tzinfo=UTC)
                assert expires > datetime.now(UTC), "the running step's lease ran out"
                await asyncio.sleep(0.1)  # samples the row again; the deadline above ends the test
            Held.gate.set()
            done = await engine.wait(instance.id, until=FINISHED, timeout=30)
            assert done.status is WorkflowStatus.COMPLETED
    finally:
        await db_engine.dispose()


async def test_a_full_batch_of_work_it_cannot_continue_ends_the_sweep(
    scratch_database: ScratchDatabase,
) -> None:
    """More due executions than one claim takes (500), none of which this process can continue:
    the sweep gave each batch back and claimed it again at once, for ever (``start()`` never
    returned). It now stops at a batch it gave back, and leaves that workflow version alone after."""
    from litestar_workflows.engine.recovery import CLAIM_BATCH

    await scratch_database.migrate()
    Held.gate = asyncio.Event()
    async with running_engine(scratch_database, registry_of(slow()), poll_interval=3600) as gone:
        for _ in range(CLAIM_BATCH + 1):
            await gone.start_workflow("slow")
        await asyncio.sleep(0)  # their steps begin; stop() then gives them back, due at once
    db_engine = scratch_database.create_engine()
    try:
        drifted = registry_of(slow(then="elsewhere"))
        starting = running_engine(scratch_database, drifted, poll_interval=3600)
        wrong = await asyncio.wait_for(starting.__aenter__(), 60)  # its start() sweeps once
        try:
            assert await wrong.recover() == 0  # the version it cannot run is no longer claimed
            owners = await _lease_owners(db_engine)
            assert len(owners) == CLAIM_BATCH + 1
            assert set(owners) == {None}
        finally:
            await starting.__aexit__(None, None, None)
    finally:
        await db_engine.dispose()
