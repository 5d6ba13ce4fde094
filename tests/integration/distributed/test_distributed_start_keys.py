"""Distributed engines start through the same path: one instance per key, one message for it,
and a failed step's traceback recorded by the worker that ran it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from inprocess_broker import inprocess_cluster
from litestar_workflows import BaseMachineStep, WorkflowDefinition, WorkflowRegistry, WorkflowStatus
from litestar_workflows.store.base import InstanceQuery

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

pytestmark = pytest.mark.postgres

RUNS: list[str] = []


class Pay(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> None:
        RUNS.append(str(context.instance_id))
        if context.get("fail"):
            raise ConnectionError("ledger unreachable")


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register_definition(WorkflowDefinition(name="pay", steps=[Pay("pay")], initial_step="pay"))
    return reg


async def test_concurrent_keyed_starts_make_one_instance_and_one_run(
    scratch_postgres: ScratchDatabase,
) -> None:
    RUNS.clear()
    async with inprocess_cluster(scratch_postgres, registry(), workers=2) as cluster:
        results = await asyncio.gather(*(cluster.client.start_or_get("pay", key="order-9") for _ in range(5)))

        assert len({instance.id for instance, _ in results}) == 1
        assert [created for _, created in results].count(True) == 1
        instance = results[0][0]
        assert (await cluster.client.wait(instance.id, timeout=30)).status is WorkflowStatus.COMPLETED
        assert (await cluster.client.find_instances(InstanceQuery())).total == 1
        assert [str(instance.id)] == RUNS


async def test_a_worker_records_the_traceback_of_a_failed_step(scratch_postgres: ScratchDatabase) -> None:
    async with inprocess_cluster(scratch_postgres, registry(), workers=1) as cluster:
        started = await cluster.client.start_workflow("pay", {"fail": True}, key="order-10")
        await cluster.client.wait(started.id, timeout=30)
        stored = await cluster.client.get_instance(started.id)

        assert stored.status is WorkflowStatus.FAILED
        [run] = stored.step_history
        assert run.error_type == "ConnectionError"
        assert run.stack_trace is not None
        assert "in execute" in run.stack_trace
        assert stored.key == "order-10"
