"""Celery driver (not implemented yet: constructing it raises ``NotImplementedError``)."""

from __future__ import annotations

from typing import Any

from litestar_workflows.contrib._unsupported import refuse


class CeleryExecutionEngine:
    """Would run steps as Celery tasks; refuses clearly until the distributed driver exists."""

    def __init__(self, celery_app: Any = None, persistence: Any = None, *args: Any, **kwargs: Any) -> None:
        refuse("CeleryExecutionEngine")


__all__ = ("CeleryExecutionEngine",)
