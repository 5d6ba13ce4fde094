"""Distributed engines refuse leases, sweep intervals and worker sizes that are not positive.

A lease of zero let every worker take every step over at once (a three-second step ran eight
times), and a sweep interval of zero made an idle worker poll the database without pause. They
are refused where they are given, naming the setting, before anything connects.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from celery import Celery

from litestar_workflows import WorkflowRegistry
from litestar_workflows.contrib.celery import CeleryExecutionEngine
from litestar_workflows.contrib.saq import SAQExecutionEngine

URL = "sqlite+aiosqlite:///never-opened.db"
BAD = [0, -5, 0.0, math.nan, math.inf, "30", True, None]


@pytest.mark.parametrize("name", ["lease_seconds", "sweep_interval", "poll_interval"])
@pytest.mark.parametrize("value", BAD)
def test_timing_settings_must_be_positive_numbers(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=f"^{name} must be a positive number of seconds, not "):
        SAQExecutionEngine(object(), URL, WorkflowRegistry(), **{name: value})
    with pytest.raises(ValueError, match=f"^{name} must be a positive number of seconds, not "):
        CeleryExecutionEngine(Celery("settings_check"), URL, WorkflowRegistry(), **{name: value})


@pytest.mark.parametrize("value", [*BAD, 2.5])
def test_worker_sizes_must_be_positive_whole_numbers(value: Any) -> None:
    with pytest.raises(ValueError, match="^concurrency must be a positive whole number, not "):
        SAQExecutionEngine(object(), URL, WorkflowRegistry(), concurrency=value)
    with pytest.raises(ValueError, match="^max_running must be a positive whole number, not "):
        CeleryExecutionEngine(Celery("settings_check"), URL, WorkflowRegistry(), max_running=value)


def test_positive_settings_are_taken() -> None:
    engine = SAQExecutionEngine(
        object(),
        URL,
        WorkflowRegistry(),
        lease_seconds=0.5,
        sweep_interval=1,
        poll_interval=0.1,
        concurrency=1,
    )
    assert (engine.lease_seconds, engine.sweep_interval, engine.concurrency) == (0.5, 1, 1)
