"""SAQ driver (not implemented yet: constructing it raises ``NotImplementedError``)."""

from __future__ import annotations

from typing import Any

from litestar_workflows.contrib._unsupported import refuse


class SAQExecutionEngine:
    """Would run steps as SAQ jobs; refuses clearly until the distributed driver exists."""

    def __init__(self, queue: Any = None, persistence: Any = None, *args: Any, **kwargs: Any) -> None:
        refuse("SAQExecutionEngine")


__all__ = ("SAQExecutionEngine",)
