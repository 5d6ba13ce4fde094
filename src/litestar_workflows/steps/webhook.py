"""A step that waits for an outside system to call back (``engine.deliver_webhook``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from litestar_workflows.core.types import StepType
from litestar_workflows.steps.base import BaseStep

if TYPE_CHECKING:
    from litestar_workflows.core.context import WorkflowContext


class WebhookStep(BaseStep):
    """Waits until a payload is delivered for this step, then stores it in the context.

    ``WebhookStep(name, callback_key=None, description=None)``: the payload lands at
    ``callback_key`` (``payload_key`` is the same setting under this package's earlier name). The
    default is the step's name, not the reference package's fixed ``"webhook_data"``, so two
    webhook steps in one workflow never overwrite each other's payload. ``payload_schema`` (JSON
    Schema), when given, is checked on delivery: a payload that does not match is rejected and
    the step keeps waiting.
    """

    step_type: ClassVar[StepType] = StepType.WEBHOOK
    payload_key: str | None = None
    payload_schema: dict[str, Any] | None = None

    def __init__(
        self,
        name: str | None = None,
        callback_key: str | None = None,
        description: str | None = None,
        *,
        payload_key: str | None = None,
        payload_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name, description)
        if callback_key is not None and payload_key is not None and callback_key != payload_key:
            raise ValueError(f"webhook step {name!r}: callback_key and payload_key name the same setting")
        key = callback_key if callback_key is not None else payload_key
        if key is not None:
            self.payload_key = key
        if payload_schema is not None:
            self.payload_schema = payload_schema

    @property
    def target_key(self) -> str:
        """Context key the delivered payload is stored under."""
        return self.payload_key or self.name

    @property
    def callback_key(self) -> str:
        """The reference package's name for :attr:`target_key`."""
        return self.target_key

    async def execute(self, context: WorkflowContext) -> Any:
        """Return the delivered payload (what the engine stored at :attr:`callback_key`), if any."""
        return context.get(self.target_key)


__all__ = ("WebhookStep",)
