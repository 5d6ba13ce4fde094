"""Retry policy of a step: how often, how long to wait, and for which errors."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from litestar_workflows.core.errors import NonRetryableError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how a failing step is tried again before the instance fails.

    Delays grow exponentially from ``initial_delay`` by ``backoff``, capped at ``max_delay``, and
    are spread by up to ``jitter`` (a fraction) so that many instances failing together do not
    retry in lock-step.

    Args:
        max_attempts: Total attempts including the first; 1 means no retry.
        initial_delay: Seconds before the second attempt.
        backoff: Factor applied to the delay after each attempt.
        max_delay: Upper bound of any delay, in seconds.
        jitter: Fraction of the delay added or removed at random (0 disables jitter).
        retry_on: Exception types that are retried; others fail at once.
        non_retryable: Exception types never retried, even when they match ``retry_on``.
    """

    max_attempts: int = 3
    initial_delay: float = 1.0
    backoff: float = 2.0
    max_delay: float = 300.0
    jitter: float = 0.1
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    non_retryable: tuple[type[BaseException], ...] = (NonRetryableError,)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0 or self.backoff < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy delays must be >= 0, backoff >= 1 and 0 <= jitter <= 1")

    def should_retry(self, error: BaseException, attempt: int) -> bool:
        """Tell whether a failure of ``attempt`` (1-based) with ``error`` is tried again."""
        if attempt >= self.max_attempts or isinstance(error, self.non_retryable):
            return False
        return isinstance(error, self.retry_on)

    def delay_for(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the failure of ``attempt`` (1-based) before the next one."""
        delay = min(self.initial_delay * self.backoff ** (attempt - 1), self.max_delay)
        if self.jitter and delay:
            spread = delay * self.jitter
            delay += (rng or random).uniform(-spread, spread)
        return max(0.0, min(delay, self.max_delay))


def as_seconds(value: float | timedelta) -> float:
    """Normalise a duration given as seconds or a ``timedelta`` to seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


__all__ = ("RetryPolicy", "as_seconds")
