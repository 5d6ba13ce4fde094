"""A wait for a status ends when the instance finishes otherwise: canceled or failed, it cannot get there.

``wait(until=COMPLETED)`` on an instance that is canceled or fails while waited on returns it with
that status, at once, on every store (the REST API's long poll waits this way).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    WaitTimeoutError,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


class Explode(BaseMachineStep):
    name = "explode"

    async def execute(self, context: WorkflowContext) -> None:
        raise RuntimeError("no way through")


def registry() -> WorkflowRegistry:
    found = WorkflowRegistry()
    found.register_definition(
        WorkflowDefinition(
            name="ends_otherwise",
            version="1.0.0",
            steps={"approve": BaseHumanStep("approve", title="Approve"), "explode": Explode()},
            edges=[Edge("approve", "explode")],
            initial_step="approve",
            terminal_steps={"explode"},
        )
    )
    return found


async def test_a_wait_for_completed_ends_when_the_instance_is_canceled_or_fails(
    database: ScratchDatabase | None,
) -> None:
    async with engine_for(database, registry()) as engine:
        canceled = await engine.start_workflow("ends_otherwise", {})
        failed = await engine.start_workflow("ends_otherwise", {})
        for instance in (canceled, failed):
            assert (await engine.wait(instance.id, timeout=10)).status is WorkflowStatus.WAITING
        waits = [
            asyncio.create_task(engine.wait(instance.id, until=WorkflowStatus.COMPLETED, timeout=60))
            for instance in (canceled, failed)
        ]
        await engine.cancel_workflow(canceled.id, "no longer needed")
        await engine.complete_human_task(failed.id, "approve", "ann", {})
        ended = await asyncio.wait_for(asyncio.gather(*waits), timeout=30)  # far below the 60 s asked
        assert [instance.status for instance in ended] == [WorkflowStatus.CANCELED, WorkflowStatus.FAILED]
        # Already finished: at once too; and a wait that times out still names what was asked.
        again = await engine.wait(canceled.id, until={WorkflowStatus.COMPLETED}, timeout=0.01)
        assert again.status is WorkflowStatus.CANCELED
        running = await engine.start_workflow("ends_otherwise", {})
        with pytest.raises(WaitTimeoutError, match="completed"):
            await engine.wait(running.id, until=WorkflowStatus.COMPLETED, timeout=0.05)
