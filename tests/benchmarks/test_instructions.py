"""The instruction counter's workloads (``benchmarks/instructions.py``) run at tiny N without valgrind.

The counts themselves need valgrind and minutes; what can rot is the workload each count runs,
so each one is run here once, the way the counter runs it under valgrind (``--run``). The neutral
workloads check themselves: a wrong run raises instead of finishing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "instructions.py"


@pytest.mark.parametrize(
    "options",
    [
        ["--neutral", "--run", "linear"],
        ["--neutral", "--run", "fanout"],
        ["--neutral", "--run", "human"],
        ["--run", "chain"],
    ],
    ids=["neutral-linear", "neutral-fanout", "neutral-human", "chain"],
)
def test_a_counted_workload_runs_to_its_end(options: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *options, "--n", "3"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=SCRIPT.parent,
    )
    assert done.returncode == 0, done.stderr


def test_a_neutral_workload_that_goes_wrong_fails_the_run(tmp_path: Path) -> None:
    """The counter counts only a correct run: a step that runs twice makes the workload raise."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import asyncio, sys\n"
        f"sys.path.insert(0, {str(SCRIPT.parent)!r})\n"
        "import instructions, neutral_workload\n"
        "neutral_workload.EXECUTIONS[0, 's0'] += 1  # as if s0 of instance 0 had run before\n"
        "asyncio.run(instructions.neutral('linear', 3))\n"
    )
    done = subprocess.run(
        [sys.executable, str(probe)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=SCRIPT.parent,
    )
    assert done.returncode != 0
    assert "WrongResultError" in done.stderr
    assert "s0 ran 2 times" in done.stderr
