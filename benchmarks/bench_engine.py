"""Throughput and memory of the in-memory engine.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--n 1000 10000]``

Workloads, each with N concurrent instances:
  chain   -- a linear chain of 10 trivial machine steps
  fanout  -- one step fanning out to 8 parallel steps joined by a final step (10 transitions)
  human   -- start -> human task (instance waits) -> complete -> finish
Prints wall time, instances/s, microseconds per step transition, peak RSS and, for the human
workload, memory per waiting instance.

``--loop uvloop`` runs on uvloop (what uvicorn picks when it is installed) instead of asyncio's loop.

``--telemetry`` measures the cost of OpenTelemetry: ``off`` (the default when no provider is
configured: one ``None`` check per step), ``noop`` (``telemetry=True`` on the API's no-op
providers) and ``sdk`` (the SDK recording every span, which no processor exports, and the metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import resource
import time
import tracemalloc

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)


class Noop(BaseMachineStep):
    async def execute(self, context):
        return None


def chain() -> WorkflowDefinition:
    names = [f"s{i}" for i in range(10)]
    return WorkflowDefinition(
        name="chain",
        steps={n: Noop(n) for n in names},
        edges=[Edge(a, b) for a, b in itertools.pairwise(names)],
        initial_step="s0",
    )


def fanout() -> WorkflowDefinition:
    branches = [f"b{i}" for i in range(8)]
    steps = {"fork": Noop("fork"), "join": Noop("join"), **{b: Noop(b) for b in branches}}
    edges = [Edge("fork", b) for b in branches] + [Edge(b, "join") for b in branches]
    return WorkflowDefinition(name="fanout", steps=steps, edges=edges, initial_step="fork")


def human() -> WorkflowDefinition:
    steps = {
        "submit": Noop("submit"),
        "approve": BaseHumanStep("approve", title="Approve"),
        "done": Noop("done"),
    }
    edges = [Edge("submit", "approve"), Edge("approve", "done")]
    return WorkflowDefinition(name="human", steps=steps, edges=edges, initial_step="submit")


ENGINE_OPTIONS: dict = {}


def telemetry_option(mode: str) -> object:
    """The engine's ``telemetry=`` value for a ``--telemetry`` mode."""
    if mode == "off":
        return False
    if mode == "noop":
        return True
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from litestar_workflows.observability.otel import Telemetry

    return Telemetry(TracerProvider(), MeterProvider(metric_readers=[InMemoryMetricReader()]))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def run_plain(definition: WorkflowDefinition, n: int, transitions: int) -> dict[str, float]:
    registry = WorkflowRegistry()
    registry.register_definition(definition)
    engine = LocalExecutionEngine(registry, **ENGINE_OPTIONS)
    gc.collect()
    t0 = time.perf_counter()
    instances = [await engine.start_workflow(definition.name, {"i": i}) for i in range(n)]
    for instance in instances:
        await engine.wait(instance.id)
    elapsed = time.perf_counter() - t0
    assert all(i.status is WorkflowStatus.COMPLETED for i in instances)
    return {
        "wall_s": elapsed,
        "inst_per_s": n / elapsed,
        "us_per_transition": elapsed / (n * transitions) * 1e6,
    }


async def start_waiting(engine: LocalExecutionEngine, n: int) -> list:
    instances = [await engine.start_workflow("human", {"i": i}) for i in range(n)]
    for instance in instances:
        await engine.wait(instance.id)
    assert all(i.status is WorkflowStatus.WAITING for i in instances)
    return instances


async def memory_per_waiting(n: int) -> float:
    """Bytes allocated per instance left waiting at a human task (tracemalloc, separate run)."""
    registry = WorkflowRegistry()
    registry.register_definition(human())
    engine = LocalExecutionEngine(registry, **ENGINE_OPTIONS)
    await start_waiting(engine, 100)  # warm caches so they do not count
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    instances = await start_waiting(engine, n)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del instances
    return used / n


async def run_human(n: int) -> dict[str, float]:
    registry = WorkflowRegistry()
    registry.register_definition(human())
    engine = LocalExecutionEngine(registry, **ENGINE_OPTIONS)
    gc.collect()
    t0 = time.perf_counter()
    instances = await start_waiting(engine, n)
    for instance in instances:
        await engine.complete_human_task(instance.id, "approve", "u", {"ok": True})
    for instance in instances:
        await engine.wait(instance.id)
    elapsed = time.perf_counter() - t0
    assert all(i.status is WorkflowStatus.COMPLETED for i in instances)
    # transitions per instance: submit done, approve waiting, approve completed, done
    return {
        "wall_s": elapsed,
        "inst_per_s": n / elapsed,
        "us_per_transition": elapsed / (n * 4) * 1e6,
        "bytes_per_waiting_instance": await memory_per_waiting(n),
    }


async def main(args: argparse.Namespace) -> None:
    ENGINE_OPTIONS["telemetry"] = telemetry_option(args.telemetry)
    print(
        f"{'workload':<8} {'N':>6} {'wall s':>8} {'inst/s':>9} {'µs/trans':>9} "
        f"{'peak RSS MB':>12} {'B/waiting':>10}"
    )
    for n in args.n:
        for label, coro in (
            ("chain", run_plain(chain(), n, 10)),
            ("fanout", run_plain(fanout(), n, 10)),
            ("human", run_human(n)),
        ):
            r = await coro
            extra = (
                f"{r['bytes_per_waiting_instance']:>10.0f}"
                if "bytes_per_waiting_instance" in r
                else f"{'':>10}"
            )
            print(
                f"{label:<8} {n:>6} {r['wall_s']:>8.3f} {r['inst_per_s']:>9.0f} "
                f"{r['us_per_transition']:>9.2f} {rss_mb():>12.1f} {extra}"
            )


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--telemetry", choices=["off", "noop", "sdk"], default="off")
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
