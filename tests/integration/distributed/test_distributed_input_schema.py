"""A distributed client checks start data against ``input_schema`` itself: nothing reaches the store or broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from inprocess_broker import inprocess_cluster
from litestar_workflows import WorkflowDefinition, WorkflowRegistry, WorkflowStatus, WorkflowValidationError
from litestar_workflows.store.base import InstanceQuery
from step_kit import Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase

pytestmark = pytest.mark.postgres

INPUT = {
    "type": "object",
    "properties": {"amount": {"type": "number", "exclusiveMinimum": 0}},
    "required": ["amount"],
}


async def test_bad_start_data_is_refused_by_the_client(scratch_postgres: ScratchDatabase) -> None:
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="pay", steps=[Fn("pay", lambda ctx: None)], initial_step="pay", input_schema=INPUT
        )
    )
    async with inprocess_cluster(scratch_postgres, registry, workers=1) as cluster:
        with pytest.raises(WorkflowValidationError) as caught:
            await cluster.client.start_workflow("pay", {"amount": -1})
        assert [entry.split(": ")[0] for entry in caught.value.errors] == ["amount"]
        assert (await cluster.client.find_instances(InstanceQuery())).total == 0
        assert cluster.transport.published == []
        started = await cluster.client.start_workflow("pay", {"amount": 1})
        finished = await cluster.client.wait(started.id, timeout=30)
        assert finished.status is WorkflowStatus.COMPLETED
