"""Small steps and history readers that the engine tests of every store share.

Free of pytest, so that the durable tests' child processes can import it in a plain interpreter.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from typing import TYPE_CHECKING, Any

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    StepStatus,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar_workflows import WorkflowContext, WorkflowInstanceData

FINISHED = (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED)


class Fn(BaseMachineStep):
    """A machine step running ``fn(context)`` (sync or async); with ``interleave`` it first yields
    to the event loop once, so that many instances' steps alternate."""

    def __init__(
        self,
        name: str,
        fn: Callable[[WorkflowContext], Any] | None = None,
        *,
        interleave: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, **kwargs)
        self.fn = fn
        self.interleave = interleave

    async def execute(self, context: WorkflowContext) -> Any:
        if self.interleave:
            await asyncio.sleep(0)  # lets other instances run in between (not a synchronisation)
        if self.fn is None:
            return None
        result = self.fn(context)
        if inspect.isawaitable(result):
            result = await result
        return result


class Set(BaseMachineStep):
    """Sets fixed keys in the context and returns their sorted names."""

    def __init__(self, name: str, **values: Any) -> None:
        super().__init__(name)
        self.values = values

    async def execute(self, context: WorkflowContext) -> Any:
        for key, value in self.values.items():
            context.set(key, value)
        return sorted(self.values)


class Nested(BaseMachineStep):
    """Writes nested data (its quantity is the context's ``i``, else 2) and returns a result with a
    float, a list and non-ASCII text: what JSON columns and copies of instances must keep."""

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        context.set("order", {"lines": [{"sku": "a-1", "qty": context.get("i", 2)}], "total": 12.5})
        return {"checked": [1, 2, 3], "ratio": 0.25, "note": "ünïcode"}


def statuses(instance: WorkflowInstanceData) -> dict[str, list[StepStatus]]:
    """Step name -> statuses of its executions, in history order."""
    result: dict[str, list[StepStatus]] = {}
    for run in instance.step_history:
        result.setdefault(run.step_name, []).append(StepStatus(run.status))
    return result


def succeeded(instance: WorkflowInstanceData) -> list[str]:
    """Names of the steps that succeeded, in history order."""
    return [run.step_name for run in instance.step_history if run.status == StepStatus.SUCCEEDED]


def approve_then_done(name: str, assignee: str = "ann") -> WorkflowDefinition:
    """Workflow ``name``: ``assignee`` approves (the first step, so a start waits at it), ``done`` sets ``done``."""
    return WorkflowDefinition(
        name=name,
        steps=[BaseHumanStep("approve", assignee=assignee), Set("done", done=True)],
        edges=[Edge("approve", "done")],
        initial_step="approve",
    )


def approval_registry(name: str) -> WorkflowRegistry:
    """A registry with one workflow ``name``: ``begin`` sets ``began``, ann approves, ``done`` sets ``done``."""
    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name=name,
            steps=[
                Set("begin", began=True),
                BaseHumanStep("approve", assignee="ann"),
                Set("done", done=True),
            ],
            edges=[Edge("begin", "approve"), Edge("approve", "done")],
            initial_step="begin",
        )
    )
    return registry


def linear_registry(name: str, steps: int) -> WorkflowRegistry:
    """A registry with one workflow ``name``: ``steps`` machine steps in a row, each setting ``s<i>``."""
    names = [f"s{i}" for i in range(steps)]
    registry = WorkflowRegistry()
    registry.register(
        WorkflowDefinition(
            name=name,
            steps=[Set(step, **{step: i}) for i, step in enumerate(names)],
            edges=[Edge(a, b) for a, b in itertools.pairwise(names)],
            initial_step=names[0],
        )
    )
    return registry
