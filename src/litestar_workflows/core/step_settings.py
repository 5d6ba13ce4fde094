"""Checks of a step's own settings (timeout, timer duration, task deadlines) before anything runs.

A setting of the wrong kind would otherwise surface only when the step runs, as a ``TypeError``
deep inside the engine that fails the instance (``now + "5"``), or not at all: a negative
timeout used to mean "no timeout", and a negative delay "do not wait". Each check returns a
sentence naming the setting and what it must be, or ``None``; a definition collects them as
problems (:class:`~litestar_workflows.core.errors.WorkflowValidationError`), and a step built
with such a setting in its constructor refuses it at once.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any, TypeGuard

from litestar_workflows.core.types import StepType


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def timeout_problem(value: Any) -> str | None:
    """``timeout`` must be ``None`` (no limit) or a positive, finite number of seconds."""
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        return f"timeout must be a positive number of seconds, or None for no limit, not {value!r}"
    return None


def require_positive(name: str, value: object, *, integer: bool = False) -> None:
    """Refuse a setting that is not a positive (finite) number, naming it.

    A zero or negative lease made every worker take every step over at once, and a zero sweep
    interval a worker that polls the database without pause.

    Raises:
        ValueError: ``value`` is not a positive number (an integer, with ``integer``).
    """
    if not _is_number(value) or (integer and not isinstance(value, int)) or not 0 < value < math.inf:
        what = "a positive whole number" if integer else "a positive number of seconds"
        raise ValueError(f"{name} must be {what}, not {value!r}")


def duration_problem(value: Any) -> str | None:
    """A timer's fixed ``duration``: seconds or a ``timedelta``, not negative (a callable's: when called)."""
    if callable(value):
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif _is_number(value) and math.isfinite(value):
        seconds = float(value)
    else:
        return f"duration must be seconds or a timedelta, not {value!r}"
    if seconds < 0:
        return f"duration must not be negative, not {value!r}"
    return None


def _deadline_problems(step: Any) -> list[str]:
    problems = []
    for attr in ("due_in", "reminder_in"):
        value = getattr(step, attr, None)
        if value is not None and not isinstance(value, timedelta):
            problems.append(f"{attr} must be a timedelta, not {value!r}")
    for attr in ("due_at", "reminder_at"):
        value = getattr(step, attr, None)
        if value is not None and not isinstance(value, datetime):
            problems.append(f"{attr} must be a datetime, not {value!r}")
    return problems


def step_setting_problems(key: str, step: Any) -> list[str]:
    """Every setting of ``step`` (the definition's step ``key``) that cannot work, as sentences."""
    problems = [timeout_problem(getattr(step, "timeout", None))]
    duration = getattr(step, "duration", None)
    if step.step_type is StepType.TIMER and duration is not None:
        problems.append(duration_problem(duration))
    if step.step_type is StepType.HUMAN:
        problems.extend(_deadline_problems(step))
    return [f"step {key!r}: {problem}" for problem in problems if problem is not None]


__all__ = ("duration_problem", "require_positive", "step_setting_problems", "timeout_problem")
