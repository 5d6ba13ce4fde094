"""A step group holding human steps waits for every person, on every store, round a loop too.

The group is unfolded into a fork, its members and a join when the definition is built: each
member gets its own task, the join (the group's callback) runs once all are done, and a loop back
into the group asks everyone again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored

from litestar_workflows import BaseHumanStep, Edge, WorkflowDefinition, WorkflowRegistry, WorkflowStatus
from litestar_workflows.steps import ParallelGroup
from step_kit import FINISHED, Fn, statuses

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase
    from litestar_workflows import LocalExecutionEngine

TIMEOUT = 10.0


def approval(field: str) -> dict[str, Any]:
    return {"type": "object", "properties": {field: {"type": "boolean"}}, "required": [field]}


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


@pytest.fixture
async def engine(database: ScratchDatabase | None) -> AsyncIterator[LocalExecutionEngine]:
    registry = WorkflowRegistry()
    registry.register_definition(sign_off())
    async with engine_for(database, registry, poll_interval=0.2) as started:
        yield started


def decide(context: Any) -> None:
    votes = [context.get("legal_ok"), context.get("finance_ok")]
    context.set("rounds", context.get("rounds", 0) + 1)
    context.set("approved", all(votes))


def sign_off() -> WorkflowDefinition:
    legal = BaseHumanStep("legal", title="Legal", assignee_group="legal", form_schema=approval("legal_ok"))
    finance = BaseHumanStep(
        "finance", title="Finance", assignee_group="finance", form_schema=approval("finance_ok")
    )
    return WorkflowDefinition(
        name="sign_off",
        steps={
            "draft": Fn("draft"),
            "approvals": ParallelGroup(legal, finance, callback=Fn("decide", decide)),
            "publish": Fn("publish", lambda c: c.set("published", True)),
        },
        edges=[
            Edge("draft", "approvals"),
            Edge("approvals", "draft", condition="context.get('approved') != True"),
            Edge("approvals", "publish", condition="context.get('approved') == True"),
        ],
        initial_step="draft",
        terminal_steps={"publish"},
    )


async def pending(engine: LocalExecutionEngine, instance_id: Any) -> dict[str, Any]:
    """The tasks the instance waits on, once it has settled (the released steps ran)."""
    await engine.wait(instance_id, until=(WorkflowStatus.WAITING, *FINISHED), timeout=TIMEOUT)
    instance = await stored(engine, instance_id)
    return {task.step_name: task for task in instance.runtime.pending_tasks.values()}


async def test_both_people_are_asked_at_once_and_the_callback_runs_after_the_last_answer(
    engine: LocalExecutionEngine,
) -> None:
    started = await engine.start_workflow("sign_off", initial_data={})
    tasks = await pending(engine, started.id)
    assert {name: task.assignee_group for name, task in tasks.items()} == {
        "legal": "legal",
        "finance": "finance",
    }

    # Round one: finance says no; the callback runs once, after both answers, and loops back.
    await engine.complete_human_task(started.id, "legal", "lee", {"legal_ok": True})
    assert sorted(await pending(engine, started.id)) == ["finance"]
    assert "rounds" not in (await stored(engine, started.id)).context.data
    await engine.complete_human_task(started.id, "finance", "fay", {"finance_ok": False})
    again = await pending(engine, started.id)
    assert sorted(again) == ["finance", "legal"]
    assert (await stored(engine, started.id)).context.data["rounds"] == 1

    # Round two: both agree.
    await engine.complete_human_task(started.id, "finance", "fay", {"finance_ok": True})
    assert sorted(await pending(engine, started.id)) == ["legal"]
    await engine.complete_human_task(started.id, "legal", "lee", {"legal_ok": True})
    done = await engine.wait(started.id, timeout=TIMEOUT)
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context.data["published"] is True
    assert done.context.data["rounds"] == 2
    runs = statuses(await stored(engine, started.id))
    assert {
        name: len(runs[name]) for name in ("draft", "approvals.start", "legal", "finance", "approvals")
    } == {
        "draft": 2,
        "approvals.start": 2,
        "legal": 2,
        "finance": 2,
        "approvals": 2,
    }
    assert len(runs["publish"]) == 1
