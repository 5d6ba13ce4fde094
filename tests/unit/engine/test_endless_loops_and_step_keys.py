"""Loops: one nothing can end is rejected with the definition; a long one never starves other
instances. Step keys: the key in ``steps`` is the step's name in the workflow, whatever ``step.name`` says.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    ExclusiveGateway,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from step_kit import FINISHED, Fn, succeeded

TIMEOUT = 10.0


def defn(steps: list[Any], edges: list[Edge], **options: Any) -> WorkflowDefinition:
    return WorkflowDefinition(name="loops", steps=steps, edges=edges, initial_step=steps[0].name, **options)


@pytest.mark.parametrize(
    ("edges", "names"),
    [
        ([Edge("a", "b"), Edge("b", "a")], "steps 'a', 'b' loop for ever"),
        # An unconditional edge out of the loop fires on every iteration: it does not end the loop.
        ([Edge("a", "b"), Edge("b", "a"), Edge("b", "c")], "steps 'a', 'b' loop for ever"),
        ([Edge("a", "b"), Edge("b", "b"), Edge("b", "c")], "step 'b' loops on itself for ever"),
        ([Edge("a", "b"), Edge("b", "c"), Edge("c", "b")], "steps 'b', 'c' loop for ever"),
    ],
)
def test_a_loop_nothing_can_end_is_rejected_naming_its_steps(edges: list[Edge], names: str) -> None:
    with pytest.raises(WorkflowValidationError) as rejected:
        WorkflowRegistry().register_definition(defn([Fn("a"), Fn("b"), Fn("c")], edges))
    [problem] = [p for p in rejected.value.errors if "for ever" in p]
    assert problem.startswith(names)


def test_loops_that_can_end_are_accepted() -> None:
    # A condition on the way back, on the way round, or a gateway choosing: each can end the loop.
    for definition in (
        defn(
            [Fn("a"), Fn("b"), Fn("c")],
            [Edge("a", "b"), Edge("b", "a", condition="context.get('x')"), Edge("b", "c")],
        ),
        defn([Fn("a"), Fn("b")], [Edge("a", "b", condition="context.get('again')"), Edge("b", "a")]),
        defn(
            [Fn("a"), ExclusiveGateway("g", lambda ctx: "c"), Fn("c")],
            [Edge("a", "g"), Edge("g", "a"), Edge("g", "c")],
        ),
    ):
        assert definition.validate() == []
        WorkflowRegistry().register_definition(definition)


async def test_a_long_loop_lets_other_instances_run() -> None:
    """Steps that never suspend: before the driver yielded, the loop ran to its end first."""
    long_loop = WorkflowDefinition(
        name="long",
        steps=[Fn("count", lambda ctx: ctx.set("n", ctx.get("n", 0) + 1)), Fn("end")],
        edges=[
            Edge("count", "count", condition="context.get('n') < 2000"),
            Edge("count", "end", condition="context.get('n') >= 2000"),
        ],
        initial_step="count",
    )
    seen: list[Any] = []
    holder: dict[str, Any] = {}
    short = defn([Fn("peek", lambda ctx: seen.append((holder["long"].status, holder["long"].data["n"])))], [])
    async with LocalExecutionEngine(WorkflowRegistry()) as engine:
        holder["long"] = await engine.start_workflow(long_loop)
        other = await engine.start_workflow(short)
        await engine.wait(other.id, until=FINISHED, timeout=TIMEOUT)
        [(status, iterations)] = seen
        assert status is WorkflowStatus.RUNNING
        assert 0 < iterations < 2000
        done = await engine.wait(holder["long"].id, until=FINISHED, timeout=TIMEOUT)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data["n"] == 2000


def test_max_iterations_must_be_a_positive_integer() -> None:
    with pytest.raises(WorkflowValidationError, match="max_iterations must be a positive integer, not 0"):
        WorkflowRegistry().register_definition(defn([Fn("a")], [], max_iterations=0))


class Named(BaseMachineStep):
    name = "send_email"  # one class, used under several keys

    async def execute(self, context: Any) -> None:
        context.set(f"sent_{context.current_step}", True)


async def test_the_key_in_steps_is_the_steps_name_in_the_workflow() -> None:
    async def slow(context: Any) -> None:
        await asyncio.Event().wait()  # ended by its timeout

    definition = WorkflowDefinition(
        name="keys",
        steps={
            "notify_requester": Named(),
            "notify_manager": Named(),
            "approve": BaseHumanStep("ask"),
            "deadline": Fn("slow_step", slow, timeout=0.01),
        },
        edges=[
            Edge("notify_requester", "notify_manager"),
            Edge("notify_manager", "approve"),
            Edge("approve", "deadline"),
        ],
        initial_step="notify_requester",
    )
    async with LocalExecutionEngine(WorkflowRegistry()) as engine:
        instance = await engine.start_workflow(definition)
        await engine.wait(instance.id, timeout=TIMEOUT)
        assert succeeded(instance) == ["notify_requester", "notify_manager"]
        assert instance.data == {"sent_notify_requester": True, "sent_notify_manager": True}
        [task] = (await engine.find_tasks(instance_id=instance.id)).items
        assert task.step_name == "approve"
        await engine.complete_human_task(instance.id, "approve", "ann", {})
        await engine.wait(instance.id, until=FINISHED, timeout=TIMEOUT)
    assert instance.error.startswith("step 'deadline' failed: StepTimeoutError: step 'deadline' timed out")
