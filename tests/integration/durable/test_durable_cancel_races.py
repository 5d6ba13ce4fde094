"""Cancels made by another engine while this one completes tasks and waits: every call answers.

A transition of this engine that lost its version check to a cancel made elsewhere, while another
of its commits for the same instance was in flight, used to leave ``complete_human_task`` and
``wait`` asleep for good: notifications are held back while a commit is in flight, and the last
commit to land, refused in its turn, reported nothing.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from typing import TYPE_CHECKING

import pytest
from durable_support import running_engine

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    InvalidTransitionError,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows.engine.local import LocalExecutionEngine

ROUNDS = 40
REQUESTERS = 20
ANSWER_WITHIN = 20.0  # seconds: far beyond any answer; a call still pending then is hung
ENDED = {WorkflowStatus.COMPLETED, WorkflowStatus.CANCELED}


def registry() -> WorkflowRegistry:
    made = WorkflowRegistry()
    made.register(
        WorkflowDefinition(
            name="approve",
            version="1.0.0",
            steps=[Fn("submit"), BaseHumanStep("review"), Fn("after")],
            edges=[Edge("submit", "review"), Edge("review", "after")],
            initial_step="submit",
        )
    )
    made.register(  # completing its task completes the instance at once
        WorkflowDefinition(
            name="sign",
            version="1.0.0",
            steps=[BaseHumanStep("review")],
            edges=[],
            initial_step="review",
        )
    )
    return made


async def test_completions_and_waits_answer_while_another_engine_cancels(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    answers: Counter[str] = Counter()
    hung: list[str] = []
    rng = random.Random(7)
    async with (
        running_engine(scratch_database, registry()) as here,
        running_engine(scratch_database, registry()) as elsewhere,
    ):
        finished = 0

        async def requester() -> None:
            nonlocal finished
            for _ in range(ROUNDS):
                instance = await here.start_workflow("approve")
                completing = asyncio.ensure_future(here.complete_human_task(instance.id, "review", "ann", {}))
                waiting = asyncio.ensure_future(here.wait(instance.id, until=ENDED))
                for name, call in (("complete", completing), ("wait", waiting)):
                    try:
                        await asyncio.wait_for(call, ANSWER_WITHIN)
                        answers[f"{name} answered"] += 1
                    except TimeoutError:
                        hung.append(f"{name} {instance.id}")
                    except InvalidTransitionError:  # canceled first: a refusal is an answer
                        answers[f"{name} refused"] += 1
            finished += 1

        async def canceller(engine: LocalExecutionEngine) -> None:
            while finished < REQUESTERS:
                page = await engine.find_instances(status=["running", "waiting"], limit=20)
                if page.items:
                    try:
                        await engine.cancel_workflow(rng.choice(page.items).id, "changed my mind")
                    except InvalidTransitionError:
                        answers["cancel refused"] += 1
                await asyncio.sleep(0.001)  # lets the requesters run (the cancels race with them)

        await asyncio.gather(
            *(requester() for _ in range(REQUESTERS)),
            *(canceller(engine) for engine in (elsewhere, elsewhere, elsewhere, here, here, here)),
        )
    assert hung == []
    assert answers["complete answered"] + answers["complete refused"] == REQUESTERS * ROUNDS
    assert answers["wait answered"] == REQUESTERS * ROUNDS


async def test_a_wait_reports_what_is_stored_when_a_completion_loses_to_a_cancel_elsewhere(
    scratch_database: ScratchDatabase,
) -> None:
    """The completion's commit loses to the other engine's cancel: the waiter hears "canceled",
    never the completion this engine applied to its copy and could not store."""
    await scratch_database.migrate()
    async with (
        running_engine(scratch_database, registry()) as here,
        running_engine(scratch_database, registry()) as elsewhere,
    ):
        for _ in range(5):
            instance = await here.start_workflow("sign")
            await here.wait(instance.id, timeout=30)  # at its task
            waiting = asyncio.ensure_future(here.wait(instance.id, until=ENDED, timeout=30))
            await asyncio.sleep(0)  # the waiter registers (it is then woken by notifications only)
            await elsewhere.cancel_workflow(instance.id, "withdrawn")
            with pytest.raises(InvalidTransitionError):
                await here.complete_human_task(instance.id, "review", "ann", {})
            seen = await waiting
            stored = await elsewhere.get_instance(instance.id)
            assert (seen.status, stored.status) == (WorkflowStatus.CANCELED, WorkflowStatus.CANCELED)
