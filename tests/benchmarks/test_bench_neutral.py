"""The neutral benchmark (``benchmarks/bench_neutral.py``) runs, at tiny N, on our engines, and its
correctness check turns a wrong run into "wrong result" instead of a figure.

Figures are for the script to print, never asserted here. The reference package is not installed
(that needs the network and minutes): its path stays behind ``--reference``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from types import ModuleType

    from conftest import ScratchDatabase

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"
WORKLOADS = ("linear", "fanout", "human")


def run_harness(engine: str, env: dict[str, str] | None = None, *options: str) -> list[list[str]]:
    """The harness's Markdown rows for ``engine`` (one round, N = 5), split into cells."""
    command = [sys.executable, str(BENCHMARKS / "bench_neutral.py"), "--n", "5", "--rounds", "1"]
    done = subprocess.run(
        [*command, "--engines", engine, *options],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and "| N |" not in line]
    rows = [row for row in rows if not row.startswith("| ---")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def assert_measured(rows: list[list[str]]) -> None:
    assert [row[1] for row in rows] == list(WORKLOADS), rows
    for row in rows:
        assert float(row[3].replace(",", "")) > 0, row  # ours: a figure, not "wrong result"
        assert row[4] == "-", row  # no reference without --reference


def test_harness_measures_the_in_memory_engine() -> None:
    assert_measured(run_harness("memory"))


def test_harness_measures_the_durable_engine(scratch_database: ScratchDatabase) -> None:
    # The harness makes its own fresh database (a SQLite file, or a schema in this PostgreSQL database).
    rows = run_harness(scratch_database.kind, {"WORKFLOWS_POSTGRES_URL": scratch_database.url})
    assert_measured(rows)
    for row in rows:
        assert float(row[5].replace(",", "")) > 0, row  # the raw commit rate of the same database
        assert row[6].endswith("x"), row


def test_harness_measures_the_durable_engine_with_relaxed_commits(scratch_database: ScratchDatabase) -> None:
    rows = run_harness(scratch_database.kind, {"WORKFLOWS_POSTGRES_URL": scratch_database.url}, "--relaxed")
    assert_measured(rows)
    for row in rows:
        assert "relaxed commits" in row[0], row  # labelled as what was measured
        assert float(row[5].replace(",", "")) > 0, row  # the raw rate, with the same relaxed setting
        assert row[6].endswith("x"), row


# ----------------------------------------------------------------------- the correctness check


def load_workload() -> ModuleType:
    spec = importlib.util.spec_from_file_location("neutral_workload", BENCHMARKS / "neutral_workload.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


class FakeContext:
    def __init__(self, data: dict[str, Any], keep_writes: bool) -> None:
        self.data = dict(data)
        self.keep_writes = keep_writes

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if self.keep_writes:
            self.data[key] = value


class FakeInstance:
    def __init__(self, number: int, context: FakeContext) -> None:
        self.id = number
        self.status = "COMPLETED"
        self.current_step = None
        self.context = context


class FaultyEngine:
    """Runs every step of a definition in order, but with one of the faults seen in real engines."""

    def __init__(self, fault: str) -> None:
        self.fault = fault
        self.instances: dict[int, FakeInstance] = {}

    async def start_workflow(self, workflow: Any, initial_data: dict[str, Any]) -> FakeInstance:
        context = FakeContext(initial_data, keep_writes=self.fault != "loses writes")
        for name, step in workflow.get_definition().steps.items():
            if self.fault == "skips the join" and name == "join":
                continue
            await step.execute(context)
            if self.fault == "runs a step twice" and name == "b3":
                await step.execute(context)
        instance = FakeInstance(len(self.instances), context)
        self.instances[instance.id] = instance
        return instance

    async def get_instance(self, instance_id: int) -> FakeInstance:
        return self.instances[instance_id]


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("skips the join", "9 of 10 steps ran"),
        ("runs a step twice", "b3 ran 2 times"),
        ("loses writes", "ended with result None"),
    ],
)
async def test_a_faulty_run_is_a_wrong_result(fault: str, reason: str) -> None:
    workload = load_workload()
    workload.EXECUTIONS.clear()
    args = type("Args", (), {"workload": "fanout", "timeout": 30.0})()
    engine = FaultyEngine(fault)
    with pytest.raises(workload.WrongResultError, match=reason):
        await workload.drive(engine, engine, args, 0, 3, 0.0, serial=False)


async def test_a_correct_run_passes_the_check() -> None:
    workload = load_workload()
    workload.EXECUTIONS.clear()
    engine = FaultyEngine("none")
    args = type("Args", (), {"workload": "fanout", "timeout": 30.0})()
    await workload.drive(engine, engine, args, 0, 3, 0.0, serial=False)
    assert len(engine.instances) == 3
