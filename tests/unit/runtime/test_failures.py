"""How a step's exception is recorded: its type as users import it, a bounded traceback."""

from __future__ import annotations

import pytest

from litestar_workflows.core.errors import StepTimeoutError
from litestar_workflows.runtime.failures import MAX_TRACE_FRAMES, error_type_of, format_trace


def raised(error: BaseException, depth: int = 0) -> BaseException:
    def down(level: int) -> None:
        if level == 0:
            raise error
        down(level - 1)

    with pytest.raises(type(error)) as info:
        down(depth)
    return info.value


def test_error_type_is_the_bare_name_for_builtins_and_qualified_otherwise() -> None:
    assert error_type_of(ValueError("x")) == "ValueError"
    assert error_type_of(StepTimeoutError("late", "s")) == "litestar_workflows.core.errors.StepTimeoutError"


def test_only_the_innermost_frames_are_kept() -> None:
    shallow = format_trace(raised(KeyError("missing"), depth=MAX_TRACE_FRAMES - 3))
    deep = format_trace(raised(KeyError("missing"), depth=MAX_TRACE_FRAMES))

    assert ", in raised\n" in shallow  # the outermost frame, while it is among the last 20
    assert ", in raised\n" not in deep
    assert "in down\n    raise error" in deep  # the frame that raised is kept
    assert deep.rstrip().endswith("KeyError: 'missing'")


def test_a_short_traceback_is_kept_whole() -> None:
    trace = format_trace(raised(ValueError("bad amount")))

    assert trace.startswith("Traceback (most recent call last):\n")
    assert trace.count('  File "') == 2  # raised(), down()
    assert trace.endswith("ValueError: bad amount\n")
