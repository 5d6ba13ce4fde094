"""The reads benchmark (``benchmarks/bench_reads.py``) runs at tiny N on both databases.

Figures are for the script to print, never asserted here; the script checks every read itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import ScratchDatabase

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


def test_reads_are_measured_both_ways(scratch_database: ScratchDatabase) -> None:
    # The script makes its own database (a SQLite file, or a PostgreSQL database on this server).
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_reads.py"), "--n", "3", "--rounds", "1"]
        + ["--engines", scratch_database.kind],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "WORKFLOWS_POSTGRES_URL": scratch_database.url},
    )
    assert done.returncode == 0, done.stderr
    rows = [
        line.split(" | ")
        for line in done.stdout.splitlines()
        if line.startswith(f"| {scratch_database.kind}")
    ]
    assert [row[1] for row in rows] == ["load_instance", "instance_version"]
    for row in rows:
        assert float(row[2].replace(",", "")) > 0, row  # direct
        assert float(row[3].replace(",", "")) > 0, row  # careful
