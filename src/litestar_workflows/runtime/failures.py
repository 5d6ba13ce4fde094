"""What a failed step leaves behind for whoever has to find out why: its error and one log line.

A failure is recorded as three strings on the step execution (``error``: ``"Type: message"``,
``error_type`` and a bounded ``stack_trace``) and logged once, where the step runner catches it:
that is the one place every engine (in-memory, database, distributed worker) runs a step attempt,
so a failure is logged once whatever happens to its outcome afterwards (a commit retried after a
write race, say). A failure that will be retried logs at WARNING, the last one at ERROR.

The traceback is formatted by :mod:`traceback` without local variables, so nothing the step held
(passwords, tokens, personal data) is added to it beyond what the exception message already says.
It keeps the innermost frames of each exception in the chain and, past :data:`MAX_TRACE_CHARS`,
the end of the text: where the error was raised matters most.
"""

from __future__ import annotations

import logging
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.models import WorkflowInstanceData

logger = logging.getLogger("litestar_workflows.steps")

MAX_TRACE_FRAMES = 20
"""Frames kept per exception of a chain (the innermost ones)."""
MAX_TRACE_CHARS = 8192
"""Characters of a stored traceback; a longer one keeps its end, marked as cut."""
_CUT_MARK = "[... traceback cut to its last {} characters ...]\n"


def error_type_of(error: BaseException) -> str:
    """The exception's class as users import it: ``ValueError``, ``httpx.ConnectError``."""
    cls = type(error)
    module = cls.__module__
    name = cls.__qualname__ if module in {"builtins", "__main__"} else f"{module}.{cls.__qualname__}"
    return name[:255]  # the width of its column


def format_trace(error: BaseException) -> str:
    """The traceback of ``error`` (with its causes), bounded in frames and characters."""
    text = "".join(traceback.format_exception(error, limit=-MAX_TRACE_FRAMES))
    if len(text) <= MAX_TRACE_CHARS:
        return text
    mark = _CUT_MARK.format(MAX_TRACE_CHARS)
    return mark + text[len(text) - (MAX_TRACE_CHARS - len(mark)) :]


def log_step_failure(
    instance: WorkflowInstanceData,
    run: StepExecution,
    error: BaseException,
    description: str,
    retry_at: datetime | None,
) -> None:
    """Log one line (no traceback: that is stored) for a failed step attempt, ids as record fields.

    The fields (``workflow_name``, ``workflow_version``, ``instance_id``, ``step_name``,
    ``attempt``, ``execution_id``, ``error_type``, ``will_retry``) let a structured log handler
    (JSON logs, OpenTelemetry's logging bridge) index them without parsing the message.
    """
    will_retry = retry_at is not None
    level = logging.WARNING if will_retry else logging.ERROR
    if not logger.isEnabledFor(level):
        return
    then = f"; attempt {run.attempt + 1} at {retry_at.isoformat()}" if will_retry else ""  # type: ignore[union-attr]
    logger.log(
        level,
        "step %r of workflow %r v%s failed (instance %s, attempt %d): %s%s",
        run.step_name,
        instance.workflow_name,
        instance.workflow_version,
        instance.id,
        run.attempt,
        description,
        then,
        extra={
            "workflow_name": instance.workflow_name,
            "workflow_version": instance.workflow_version,
            "instance_id": str(instance.id),
            "step_name": run.step_name,
            "attempt": run.attempt,
            "execution_id": str(run.id),
            "error_type": error_type_of(error),
            "will_retry": will_retry,
        },
    )


__all__ = ("MAX_TRACE_CHARS", "MAX_TRACE_FRAMES", "error_type_of", "format_trace", "log_step_failure")
