"""Gateways: steps that only decide which outgoing edges carry the flow on."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from litestar_workflows.core.types import StepType
from litestar_workflows.steps.base import BaseStep

if TYPE_CHECKING:
    from litestar_workflows.core.context import WorkflowContext

BranchChooser = Callable[["WorkflowContext"], "str | Awaitable[str | None] | None"]


class GatewayStep(BaseStep):
    """Base of gateways: :meth:`choose` returns the successors that stay alive (``None`` = all)."""

    step_type: ClassVar[StepType] = StepType.GATEWAY

    async def choose(self, context: WorkflowContext) -> frozenset[str] | None:
        """Return the names of the successors the flow continues to, or ``None`` for all."""
        return None

    async def evaluated(self, context: WorkflowContext) -> Any:
        """What ``evaluate(context)`` answers, whether it is written ``async def`` or plain ``def``.

        The guides write ``async def evaluate``; a plain ``def`` is as clear a choice, and awaiting
        its string failed the instance with "object str can't be used in 'await' expression".
        """
        answer = self.evaluate(context)  # type: ignore[attr-defined]
        return await answer if inspect.isawaitable(answer) else answer


class ExclusiveGateway(GatewayStep):
    """Routes to exactly one successor: the step name returned by ``condition`` (or :meth:`evaluate`).

    The other outgoing edges carry a dead token, so a later join does not wait for them. A
    returned name that is not a successor fails the instance with an error naming it.

    Examples:
        ``ExclusiveGateway("route", condition=lambda ctx: "big" if ctx.get("amount") > 1000 else "small")``
    """

    condition: BranchChooser | None = None

    def __init__(
        self, name: str | None = None, condition: BranchChooser | None = None, description: str | None = None
    ) -> None:
        super().__init__(name, description)
        if condition is not None:
            self.condition = condition

    async def evaluate(self, context: WorkflowContext) -> str | None:
        """Return the successor to take; override this or pass ``condition``."""
        if self.condition is None:
            raise NotImplementedError(f"ExclusiveGateway {self.name!r} needs a condition or an evaluate()")
        chosen: Any = self.condition(context)
        if inspect.isawaitable(chosen):
            chosen = await chosen
        return None if chosen is None else str(chosen)

    async def execute(self, context: WorkflowContext) -> str | None:
        """Return the chosen successor's name (called directly; the engines use :meth:`choose`)."""
        chosen: str | None = await self.evaluated(context)
        return chosen

    async def choose(self, context: WorkflowContext) -> frozenset[str] | None:
        """Return the single chosen successor (an empty set when nothing was chosen)."""
        chosen = await self.evaluated(context)
        return frozenset() if chosen is None else frozenset((chosen,))


class ParallelGateway(GatewayStep):
    """Forks to all successors (or to ``branches`` only, when given); a later step joins them."""

    branches: tuple[str, ...] = ()

    def __init__(
        self, name: str | None = None, branches: Iterable[str] | None = None, description: str | None = None
    ) -> None:
        super().__init__(name, description)
        if branches is not None:
            self.branches = tuple(branches)

    async def execute(self, context: WorkflowContext) -> list[str]:
        """Return the configured ``branches`` (called directly; the engines use :meth:`choose`)."""
        return list(self.branches)

    async def choose(self, context: WorkflowContext) -> frozenset[str] | None:
        """Return ``branches`` when given, else ``None`` (every successor)."""
        return frozenset(self.branches) if self.branches else None


__all__ = ("BranchChooser", "ExclusiveGateway", "GatewayStep", "ParallelGateway")
