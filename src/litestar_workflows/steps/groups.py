"""Step groups: several steps composed into one step of a definition.

A group runs inside one step execution, so it is retried, timed out and recorded as one unit;
inner steps share the group's context and their changes become the group's change set.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from litestar_workflows.steps.base import BaseMachineStep, BaseStep

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from litestar_workflows.core.context import WorkflowContext


async def _run_inner(step: BaseStep, context: WorkflowContext) -> Any:
    if not await step.can_execute(context):
        return None
    try:
        result = await step.execute(context)
    except Exception as error:
        await step.on_failure(context, error)
        raise
    await step.on_success(context, result)
    return result


class SequentialGroup(BaseMachineStep):
    """Runs its steps one after another; the result is the list of their results."""

    def __init__(self, name: str, steps: Sequence[BaseStep], description: str | None = None) -> None:
        super().__init__(name, description)
        self.steps = list(steps)

    async def execute(self, context: WorkflowContext) -> list[Any]:
        """Run each inner step in order; the first failure stops the group."""
        return [await _run_inner(step, context) for step in self.steps]


class ParallelGroup(BaseMachineStep):
    """Runs its steps concurrently; the result is the list of their results, in declaration order."""

    def __init__(self, name: str, steps: Sequence[BaseStep], description: str | None = None) -> None:
        super().__init__(name, description)
        self.steps = list(steps)

    async def execute(self, context: WorkflowContext) -> list[Any]:
        """Run all inner steps at once; any failure fails the group after all have finished."""
        results = await asyncio.gather(
            *(_run_inner(step, context) for step in self.steps), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return list(results)


class ConditionalGroup(BaseMachineStep):
    """Runs ``if_true`` when ``condition(context)`` holds, else ``if_false`` (if any)."""

    def __init__(
        self,
        name: str,
        condition: Callable[[WorkflowContext], bool | Awaitable[bool]],
        if_true: BaseStep,
        if_false: BaseStep | None = None,
        description: str | None = None,
    ) -> None:
        super().__init__(name, description)
        self.condition = condition
        self.if_true = if_true
        self.if_false = if_false

    async def execute(self, context: WorkflowContext) -> Any:
        """Evaluate the condition and run the chosen branch; its result is the group's."""
        holds: Any = self.condition(context)
        if inspect.isawaitable(holds):
            holds = await holds
        branch = self.if_true if holds else self.if_false
        return None if branch is None else await _run_inner(branch, context)


__all__ = ("ConditionalGroup", "ParallelGroup", "SequentialGroup")
