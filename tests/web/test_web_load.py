"""A bounded load over real HTTP: 1,000 starts from 20 concurrent clients while 200 idle long polls
are open, on a uvicorn server with a durable SQLite engine. Nothing answers 5xx and nothing is lost.

How fast is for ``benchmarks/bench_http.py`` to print (same load code), never asserted here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import ModuleType

N, CLIENTS, POLLS = 1_000, 20, 200


def load_module() -> ModuleType:
    """``benchmarks/http_load.py``, the load code the benchmark shares."""
    path = Path(__file__).parents[2] / "benchmarks" / "http_load.py"
    spec = importlib.util.spec_from_file_location("workflows_http_load", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


async def test_starts_under_load_with_idle_long_polls_lose_nothing(tmp_path: Path) -> None:
    http_load: Any = load_module()
    async with http_load.running_server(tmp_path) as server:
        result = await http_load.run_load(server, n=N, clients=CLIENTS, polls=POLLS)
    assert result.polls_open >= POLLS  # the server held every long poll while the starts ran
    assert result.server_errors == 0, result.statuses
    assert len(result.started) == N, result.statuses
    assert len(set(result.started)) == N
    assert result.missing == []  # every started instance reads back
    assert result.listed_total == N + POLLS  # and the listing counts every one
