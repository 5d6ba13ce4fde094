"""Shared refusal for distributed engines that are declared in the API but not built yet."""

from __future__ import annotations

from typing import Any, NoReturn


def refuse(engine: str, *_: Any, **__: Any) -> NoReturn:
    """Raise a clear error instead of pretending to run work on a broker."""
    raise NotImplementedError(
        f"{engine} is not available in this release: its driver is not built yet. "
        "SAQExecutionEngine (litestar_workflows.contrib.saq) runs the same workflows on worker "
        "processes; PersistentExecutionEngine runs them durably in one process."
    )
