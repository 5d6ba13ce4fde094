"""What a broker carries for a distributed engine: "run step execution X, attempt N", nothing else.

The message holds no payload and no workflow state: the database is the only source of truth,
so a message that arrives twice, late or for work that moved on is harmless (its claim finds
nothing to do). JSON keeps it readable in any broker's tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from uuid import UUID

import orjson

from litestar_workflows.core.errors import WorkflowsError

if TYPE_CHECKING:
    from collections.abc import Sequence


class BrokerUnavailableError(WorkflowsError):
    """The broker of a distributed engine does not answer (the message names where it was looked for)."""


class MalformedMessageError(ValueError):
    """A broker message that is not ``{"execution": <uuid>, "attempt": <int>}``."""


@dataclass(frozen=True, slots=True)
class StepMessage:
    """Run step execution ``execution_id`` at ``attempt`` (a worker claims it in the database first).

    ``traceparent`` (the instance's W3C trace context) and ``scheduled_at`` (when the step became
    ready, for the queue-lag metric) are set by an engine with telemetry on. Both are optional in
    the JSON, so workers and publishers of older versions understand each other; a malformed
    value of either is ignored rather than dropping the step.
    """

    execution_id: UUID
    attempt: int
    traceparent: str | None = None
    scheduled_at: datetime | None = None

    def to_json(self) -> str:
        """The message as the broker carries it."""
        data: dict[str, Any] = {"execution": str(self.execution_id), "attempt": self.attempt}
        if self.traceparent is not None:
            data["traceparent"] = self.traceparent
        if self.scheduled_at is not None:
            data["scheduled_at"] = self.scheduled_at.isoformat()
        return orjson.dumps(data).decode()

    @classmethod
    def parse(cls, raw: str | bytes | dict[str, Any] | StepMessage) -> StepMessage:
        """Read a message from JSON text or an already decoded mapping.

        Raises:
            MalformedMessageError: Anything but an execution id and a positive attempt number.
        """
        if isinstance(raw, StepMessage):
            return raw
        try:
            data = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
            execution, attempt = data["execution"], data["attempt"]
            if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
                raise TypeError(attempt)
            execution_id = UUID(str(execution))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise MalformedMessageError(f"not a step message: {raw!r:.200}") from error
        traceparent = data.get("traceparent")
        return cls(
            execution_id,
            attempt,
            traceparent if isinstance(traceparent, str) else None,
            _moment(data.get("scheduled_at")),
        )


def _moment(value: Any) -> datetime | None:
    """An aware datetime from ISO text; ``None`` for anything else (tracing data never drops a step)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@runtime_checkable
class Transport(Protocol):
    """How a distributed engine hands messages to a broker; the broker's module implements it.

    ``publish`` is called only after the transition that scheduled the executions committed.
    It may raise: the executions stay unclaimed in the database and the sweep publishes them
    again later, so a broker that is briefly away loses nothing.

    A transport may also have ``async def republish(messages)``, which the sweep then calls
    instead of ``publish`` for executions that stayed unclaimed for a lease: it publishes only
    those whose earlier message is no longer waiting in the broker (a lost one), so that a
    backed-up queue does not grow by a copy of every waiting message at each sweep.
    """

    async def publish(self, messages: Sequence[StepMessage]) -> None:
        """Hand ``messages`` to the broker."""


__all__ = ("BrokerUnavailableError", "MalformedMessageError", "StepMessage", "Transport")
