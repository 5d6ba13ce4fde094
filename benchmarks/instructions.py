"""Instructions per step transition of the in-memory engine, counted by valgrind (callgrind).

Run: ``.venv/bin/python benchmarks/instructions.py [--n 300] [--sqlite | --neutral]``

Wall-clock figures on a shared machine vary by tens of percent between runs; instruction counts
do not, so this is the figure to compare before and after a change to the hot path. Each workload
runs twice under callgrind, with N instances and with none, and the difference is divided by the
number of transitions. ``--sqlite`` counts the durable engine on a SQLite file instead, the
database's own work included (callgrind follows its thread too). ``--neutral`` counts the
in-memory engine on the neutral harness's workloads instead (``neutral_workload.py``: documented
names only, steps returning a small dict, starts by class awaited one by one, then ``wait`` and
``get_instance`` per instance), which is what ``bench_neutral.py`` times against the reference.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys

TRANSITIONS = {"chain": 10, "fanout": 10, "human": 4}
NEUTRAL_TRANSITIONS = {"linear": 10, "fanout": 10, "human": 4}


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


async def neutral(name: str, n: int) -> None:
    import neutral_workload

    from litestar_workflows import LocalExecutionEngine

    engine = LocalExecutionEngine(neutral_workload.registry_for(name))
    args = argparse.Namespace(workload=name, timeout=600.0)
    await neutral_workload.drive(engine, engine, args, -1, 1, 0.0, serial=True)  # warms caches up
    if n:
        await neutral_workload.drive(engine, engine, args, 0, n, 0.0, serial=False)


def counted(name: str, n: int, *, sqlite: bool = False, neutral_run: bool = False) -> int:
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
        *(["--neutral"] if neutral_run else []),
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
    parser.add_argument("--neutral", action="store_true", help="count the neutral workloads in memory")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run = neutral if args.neutral else durable_workload if args.sqlite else workload
        asyncio.run(run(args.run, args.n))
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed")
    workloads = NEUTRAL_TRANSITIONS if args.neutral else TRANSITIONS
    for name, per_instance in workloads.items():
        options = {"sqlite": args.sqlite, "neutral_run": args.neutral}
        extra = counted(name, args.n, **options) - counted(name, 0, **options)
        print(f"{name:<7} {extra // (args.n * per_instance):>8,} instructions per transition")


if __name__ == "__main__":
    main()
