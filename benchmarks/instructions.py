"""Instructions per step transition of the in-memory engine, counted by valgrind (callgrind).

Run: ``.venv/bin/python benchmarks/instructions.py [--n 300]``

Wall-clock figures on a shared machine vary by tens of percent between runs; instruction counts
do not, so this is the figure to compare before and after a change to the hot path. Each workload
runs twice under callgrind, with N instances and with none, and the difference is divided by the
number of transitions.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRANSITIONS = {"chain": 10, "fanout": 10, "human": 4}


async def workload(name: str, n: int) -> None:
    sys.path.insert(0, str(HERE))
    from bench_engine import chain, fanout, human

    from litestar_workflows import LocalExecutionEngine, WorkflowRegistry

    definition = {"chain": chain, "fanout": fanout, "human": human}[name]()
    registry = WorkflowRegistry()
    registry.register_definition(definition)
    engine = LocalExecutionEngine(registry)
    for count in (1, n):  # the first round warms caches up and is part of both runs
        instances = [await engine.start_workflow(definition.name, {"i": i}) for i in range(count)]
        for instance in instances:
            await engine.wait(instance.id)
        if name == "human":
            for instance in instances:
                await engine.complete_human_task(instance.id, "approve", "u", {"ok": True})
            for instance in instances:
                await engine.wait(instance.id)


def counted(name: str, n: int) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        __file__,
        "--run",
        name,
        "--n",
        str(n),
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stderr
    found = re.search(r"Collected\s*:\s*([\d,]+)", output)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{output}")
    return int(found.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        asyncio.run(workload(args.run, args.n))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    for name, per_instance in TRANSITIONS.items():
        extra = counted(name, args.n) - counted(name, 0)
        print(f"{name:<7} {extra // (args.n * per_instance):>8,} instructions per transition")


if __name__ == "__main__":
    main()
