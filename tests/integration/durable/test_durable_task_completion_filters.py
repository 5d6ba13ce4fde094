"""Task listings filtered by who completed a task and since when (the UI's "completed today"),
counted in the store on every engine rather than among a recent page of tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for

from litestar_workflows import BaseHumanStep, Edge, WorkflowDefinition, WorkflowRegistry
from litestar_workflows.core.context import utcnow
from litestar_workflows.core.types import HumanTaskStatus
from litestar_workflows.store.base import TaskQuery
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase

FORM = {"type": "object", "properties": {"ok": {"type": "boolean"}}}


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


async def test_completed_by_and_completed_after(database: ScratchDatabase | None) -> None:
    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name="review",
            steps=[BaseHumanStep("check", title="Check", form_schema=FORM, assignee_group="ops"), Fn("done")],
            edges=[Edge("check", "done")],
            initial_step="check",
        )
    )
    async with engine_for(database, registry) as engine:
        before = utcnow() - timedelta(seconds=1)
        ids = [(await engine.start_workflow("review")).id for _ in range(3)]
        for instance_id, user in zip(ids, ["olga", "olga", "pete"], strict=True):
            await engine.complete_human_task(instance_id, "check", user, {"ok": True})
            await engine.wait(instance_id, until=FINISHED)

        def done(**filters: object) -> TaskQuery:
            return TaskQuery(status=HumanTaskStatus.COMPLETED, limit=1, **filters)  # type: ignore[arg-type]

        assert (await engine.find_tasks(done(completed_by="olga", completed_after=before))).total == 2
        assert (await engine.find_tasks(done(completed_by="pete", completed_after=before))).total == 1
        later = utcnow() + timedelta(minutes=1)
        assert (await engine.find_tasks(done(completed_by="olga", completed_after=later))).total == 0
        assert (await engine.find_tasks(done(completed_by="nobody"))).total == 0
