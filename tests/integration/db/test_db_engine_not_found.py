"""An unknown instance id on the persistent engine: our error, and advanced-alchemy's NotFoundError.

Code written for the reference package's persistent engine catches
``advanced_alchemy.exceptions.NotFoundError`` (its repository's error leaked through); ours keeps
raising ``WorkflowInstanceNotFoundError`` (a ``KeyError``), as a subclass that is both.
"""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING
from uuid import uuid4

import pytest
from advanced_alchemy.exceptions import NotFoundError

from litestar_workflows import Edge, WorkflowDefinition, WorkflowRegistry
from litestar_workflows.core.errors import WorkflowInstanceNotFoundError
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.engine import StoredInstanceNotFoundError
from step_kit import Fn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from uuid import UUID

    from conftest import ScratchDatabase
    from litestar_workflows.core.models import WorkflowInstanceData


@pytest.fixture
async def engine(scratch_sqlite: ScratchDatabase) -> AsyncIterator[PersistentExecutionEngine]:
    await scratch_sqlite.migrate()
    url = scratch_sqlite.url
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(name="w", steps=[Fn("a"), Fn("b")], edges=[Edge("a", "b")], initial_step="a")
    )
    async with PersistentExecutionEngine(reg, url=url) as workflow_engine:
        yield workflow_engine


CALLS: dict[str, Callable[[PersistentExecutionEngine, UUID], Awaitable[WorkflowInstanceData]]] = {
    "get_instance": lambda e, i: e.get_instance(i),
    "complete_human_task": lambda e, i: e.complete_human_task(i, "a", "ann", {}),
    "cancel_workflow": lambda e, i: e.cancel_workflow(i, "no longer needed"),
    "retry": lambda e, i: e.retry(i),
    "pause_workflow": lambda e, i: e.pause_workflow(i),
    "resume_workflow": lambda e, i: e.resume_workflow(i),
    "deliver_webhook": lambda e, i: e.deliver_webhook(i, "a", {}),
    "wait": lambda e, i: e.wait(i, timeout=5),
}


@pytest.mark.parametrize("call", sorted(CALLS))
async def test_an_unknown_instance_is_not_found_in_both_error_trees(
    engine: PersistentExecutionEngine, call: str
) -> None:
    missing = uuid4()
    with pytest.raises(StoredInstanceNotFoundError) as caught:
        await CALLS[call](engine, missing)
    error = caught.value
    assert isinstance(error, NotFoundError)
    assert isinstance(error, WorkflowInstanceNotFoundError)
    assert isinstance(error, KeyError)
    assert error.instance_id == missing
    assert str(error) == f"workflow instance {missing} not found"
    copy = pickle.loads(pickle.dumps(error))  # errors cross process boundaries
    assert (type(copy), copy.instance_id) == (StoredInstanceNotFoundError, missing)


async def test_a_known_instance_is_found(engine: PersistentExecutionEngine) -> None:
    started = await engine.start_workflow("w", {})
    assert (await engine.get_instance(started.id)).id == started.id
