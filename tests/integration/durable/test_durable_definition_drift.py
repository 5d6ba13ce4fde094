"""Two processes with different definitions under one name and version, on one database.

A worker deployed with a changed workflow but the old version number would run the instances
others started through its own steps. The first process to start the workflow stores its
definition; a process whose definition routes otherwise refuses to start or continue it, naming
the difference, and the instance stays as it was for a process with the right definition.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from durable_support import running_engine

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from step_kit import FINISHED, Fn, succeeded

if TYPE_CHECKING:
    from conftest import ScratchDatabase


def review(then: str, *, description: str = "") -> WorkflowDefinition:
    """submit -> approve (a person) -> ``then``."""
    return WorkflowDefinition(
        name="review",
        version="1.0.0",
        description=description,
        steps=[Fn("submit"), BaseHumanStep("approve"), Fn(then)],
        edges=[Edge("submit", "approve"), Edge("approve", then)],
        initial_step="submit",
    )


def registry_of(definition: WorkflowDefinition) -> WorkflowRegistry:
    registry = WorkflowRegistry()
    registry.register(definition)
    return registry


async def test_a_process_whose_definition_routes_otherwise_refuses_the_instances(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    async with (
        running_engine(scratch_database, registry_of(review("book"))) as web,
        running_engine(scratch_database, registry_of(review("pay"))) as drifted,
    ):
        instance = await web.start_workflow("review")
        assert (await web.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
        with pytest.raises(WorkflowValidationError) as refused:
            await drifted.complete_human_task(instance.id, "approve", "ann", {})
        message = str(refused.value)
        assert "workflow 'review' version '1.0.0' is stored with other steps or edges" in message
        assert "'book'" in message
        assert "'pay'" in message
        assert "give the changed definition a new version" in message
        with pytest.raises(WorkflowValidationError, match="stored with other steps or edges"):
            await drifted.start_workflow("review")
        # Nothing changed: the process with the stored definition carries on.
        await web.complete_human_task(instance.id, "approve", "ann", {})
        done = await web.wait(instance.id, until=FINISHED, timeout=30)
        assert done.status is WorkflowStatus.COMPLETED
        assert succeeded(done) == ["submit", "approve", "book"]


async def test_texts_and_class_paths_may_differ(scratch_database: ScratchDatabase) -> None:
    """Only routing counts: a process whose definition has another description still runs it."""
    await scratch_database.migrate()
    async with (
        running_engine(scratch_database, registry_of(review("book"))) as web,
        running_engine(scratch_database, registry_of(review("book", description="reworded"))) as other,
    ):
        instance = await web.start_workflow("review")
        await web.wait(instance.id, timeout=30)
        await other.complete_human_task(instance.id, "approve", "ann", {})
        done = await other.wait(instance.id, until=FINISHED, timeout=30)
        assert succeeded(done) == ["submit", "approve", "book"]
