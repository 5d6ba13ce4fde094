"""Instructions per step transition of the in-memory engine, counted by valgrind (callgrind).

Run: ``.venv/bin/python benchmarks/instructions.py [--n 300] [--sqlite]``

Wall-clock figures on a shared machine vary by tens of percent between runs; instruction counts
do not, so this is the figure to compare before and after a change to the hot path. Each workload
runs twice under callgrind, with N instances and with none, and the difference is divided by the
number of transitions. ``--sqlite`` counts the durable engine on a SQLite file instead, the
database's own work included (callgrind follows its thread too).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys

TRANSITIONS = {"chain": 10, "fanout": 10, "human": 4}


async def workload(name: str, n: int) -> None:
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


async def durable_workload(name: str, n: int) -> None:
    import bench_durable
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from litestar_workflows import WorkflowRegistry
    from litestar_workflows.db import PersistentExecutionEngine, upgrade_database_async

    async with bench_durable.sqlite_database() as db_engine:
        await upgrade_database_async(db_engine)
        registry = WorkflowRegistry()
        for _, make, _ in bench_durable.WORKLOADS:
            registry.register_definition(make())
        engine = PersistentExecutionEngine(registry, session_factory=async_sessionmaker(db_engine))
        await engine.start()
        try:
            for count in (20, n):  # the first round warms caches up and is part of both runs
                if count:
                    await bench_durable.run_workload(engine, name, count)
        finally:
            await engine.stop()


def counted(name: str, n: int, *, sqlite: bool = False) -> int:
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
        *(["--sqlite"] if sqlite else []),
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
    parser.add_argument("--sqlite", action="store_true", help="count the durable engine on SQLite")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        asyncio.run((durable_workload if args.sqlite else workload)(args.run, args.n))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    for name, per_instance in TRANSITIONS.items():
        extra = counted(name, args.n, sqlite=args.sqlite) - counted(name, 0, sqlite=args.sqlite)
        print(f"{name:<7} {extra // (args.n * per_instance):>8,} instructions per transition")


if __name__ == "__main__":
    main()
