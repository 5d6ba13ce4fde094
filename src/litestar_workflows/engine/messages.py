"""What a broker carries for a distributed engine: "run step execution X, attempt N", nothing else.

The message holds no payload and no workflow state: the database is the only source of truth,
so a message that arrives twice, late or for work that moved on is harmless (its claim finds
nothing to do). JSON keeps it readable in any broker's tools.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    """Run step execution ``execution_id`` at ``attempt`` (a worker claims it in the database first)."""

    execution_id: UUID
    attempt: int

    def to_json(self) -> str:
        """The message as the broker carries it."""
        return orjson.dumps({"execution": str(self.execution_id), "attempt": self.attempt}).decode()

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
            return cls(UUID(str(execution)), attempt)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
            raise MalformedMessageError(f"not a step message: {raw!r:.200}") from error


@runtime_checkable
class Transport(Protocol):
    """How a distributed engine hands messages to a broker; the broker's module implements it.

    ``publish`` is called only after the transition that scheduled the executions committed.
    It may raise: the executions stay unclaimed in the database and the sweep publishes them
    again later, so a broker that is briefly away loses nothing.
    """

    async def publish(self, messages: Sequence[StepMessage]) -> None:
        """Hand ``messages`` to the broker."""


__all__ = ("BrokerUnavailableError", "MalformedMessageError", "StepMessage", "Transport")
