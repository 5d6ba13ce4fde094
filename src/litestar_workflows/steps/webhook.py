"""A step that waits for an outside system to call back (``engine.deliver_webhook``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias

from litestar_workflows.core.types import StepType
from litestar_workflows.steps.base import BaseStep

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar_workflows.core.context import WorkflowContext

WebhookSecret: TypeAlias = "str | bytes | Callable[[], str | bytes]"
"""A webhook step's signing secret, or a function returning it (read from the environment or a vault)."""


class WebhookStep(BaseStep):
    """Waits until a payload is delivered for this step, then stores it in the context.

    ``WebhookStep(name, callback_key=None, description=None)``: the payload lands at
    ``callback_key`` (``payload_key`` is the same setting under this package's earlier name). The
    default is the step's name, not the reference package's fixed ``"webhook_data"``, so two
    webhook steps in one workflow never overwrite each other's payload. ``payload_schema`` (JSON
    Schema), when given, is checked on delivery: a payload that does not match is rejected and
    the step keeps waiting.

    ``secret`` makes the step reachable over HTTP by an outside system (``POST
    {api}/webhooks/{instance_id}/{step_name}``): each delivery must be signed with it (HMAC-SHA256
    over the timestamp and the raw body, see :mod:`litestar_workflows.web.webhooks`) and at most
    ``max_age`` seconds old. Without a secret the step takes deliveries only through the engine
    (``engine.deliver_webhook``) or the CLI, never from the network.
    """

    step_type: ClassVar[StepType] = StepType.WEBHOOK
    payload_key: str | None = None
    payload_schema: dict[str, Any] | None = None
    secret: WebhookSecret | None = None
    max_age: float = 300.0
    """Seconds a signed HTTP delivery stays acceptable (replays of older ones are refused)."""

    def __init__(
        self,
        name: str | None = None,
        callback_key: str | None = None,
        description: str | None = None,
        *,
        payload_key: str | None = None,
        payload_schema: dict[str, Any] | None = None,
        secret: WebhookSecret | None = None,
        max_age: float | None = None,
    ) -> None:
        super().__init__(name, description)
        if getattr(type(self), "get_callback_token", None) is not None:
            raise NotImplementedError(
                f"webhook step {self.name or type(self).__name__!r} defines get_callback_token(), which "
                "is not supported: a delivery names its instance and step (engine.deliver_webhook, or "
                "the REST route POST /webhooks/{instance_id}/{step_name}) and is authenticated by the "
                "step's secret= (HMAC signature); remove the method, and give the external system "
                "the instance id instead of a token"
            )
        if callback_key is not None and payload_key is not None and callback_key != payload_key:
            raise ValueError(f"webhook step {name!r}: callback_key and payload_key name the same setting")
        key = callback_key if callback_key is not None else payload_key
        if key is not None:
            self.payload_key = key
        if payload_schema is not None:
            self.payload_schema = payload_schema
        if secret is not None:
            if not secret:
                raise ValueError(f"webhook step {name!r}: secret must not be empty")
            self.secret = secret
        if max_age is not None:
            if max_age <= 0:
                raise ValueError(f"webhook step {name!r}: max_age must be positive seconds, got {max_age!r}")
            self.max_age = max_age

    def signing_key(self) -> bytes | None:
        """The secret as bytes (called at each delivery, so a rotated secret applies at once)."""
        secret = self._raw_secret()
        if secret is None:
            return None
        value = secret() if callable(secret) else secret
        return value.encode() if isinstance(value, str) else value

    def _raw_secret(self) -> WebhookSecret | None:
        """``secret`` as set, unbound: a function assigned in a subclass body is not a method."""
        if "secret" in vars(self):
            found: WebhookSecret | None = vars(self)["secret"]
            return found
        for cls in type(self).__mro__:
            if "secret" in vars(cls):
                value = vars(cls)["secret"]
                return value.__func__ if isinstance(value, staticmethod) else value
        return None  # pragma: no cover - the class attribute always exists

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
