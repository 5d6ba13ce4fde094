"""What an engine holds for an instance it works on: its copy, in-flight work and waiters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar_workflows.core.errors import WorkflowInstanceNotFoundError

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Collection

    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.core.types import WorkflowStatus
    from litestar_workflows.engine.clock import TimerHandle
    from litestar_workflows.runtime.interpreter import Interpreter
    from litestar_workflows.runtime.runner import StepPlan


class Live:
    """An instance this engine drives: its state, interpreter, in-flight work and waiters."""

    __slots__ = (
        "committing",
        "instance",
        "interpreter",
        "plans",
        "running",
        "timers",
        "unverified",
        "waiters",
    )

    def __init__(self, instance: WorkflowInstanceData, pair: tuple[Interpreter, dict[str, StepPlan]]) -> None:
        self.instance = instance
        self.interpreter, self.plans = pair
        # Keyed by execution ``id.int``: cheaper to hash than UUIDs on the hot path.
        self.running: dict[int, asyncio.Task[Any]] = {}
        self.timers: dict[int, TimerHandle] = {}
        self.waiters: list[tuple[Collection[WorkflowStatus], asyncio.Future[None]]] = []
        self.unverified = False
        """Taken from the idle cache: another process may have moved the stored instance since."""
        self.committing = 0
        """Transitions applied to ``instance`` but not yet durable: its status runs ahead of the store."""


def as_uuid(value: UUID | str) -> UUID:
    """An id given as a UUID or its text; anything else names no instance."""
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        raise WorkflowInstanceNotFoundError(value) from None


__all__ = ("Live", "as_uuid")
