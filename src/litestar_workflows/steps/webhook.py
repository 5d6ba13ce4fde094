"""A step that waits for an outside system to call back (``engine.deliver_webhook``)."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar_workflows.core.types import StepType
from litestar_workflows.steps.base import BaseStep


class WebhookStep(BaseStep):
    """Waits until a payload is delivered for this step, then stores it in the context.

    The payload lands at ``payload_key`` (default: the step's name). ``payload_schema`` (JSON
    Schema), when given, is checked on delivery: a payload that does not match is rejected and the
    step keeps waiting.
    """

    step_type: ClassVar[StepType] = StepType.WEBHOOK
    payload_key: str | None = None
    payload_schema: dict[str, Any] | None = None

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        *,
        payload_key: str | None = None,
        payload_schema: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(name, description)
        if payload_key is not None:
            self.payload_key = payload_key
        if payload_schema is not None:
            self.payload_schema = payload_schema

    @property
    def target_key(self) -> str:
        """Context key the delivered payload is stored under."""
        return self.payload_key or self.name


__all__ = ("WebhookStep",)
