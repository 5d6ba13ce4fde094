"""One measurement of the neutral benchmark, written only against the documented API.

Run by ``bench_neutral.py`` in a fresh process, with this project's interpreter or with the
reference package's (a throwaway virtualenv): nothing here imports from this repository, and
every name used from ``litestar_workflows`` is one the documentation shows (quickstart,
simple-workflow and persistence guides, execution concepts page). Prints one JSON line.

``python benchmarks/neutral_workload.py --engine memory|sqlite|postgresql --workload
linear|fanout|human --n 1000 [--url URL] [--timeout S] [--serial] [--relaxed]``

What a user following the documentation writes:
- steps subclass ``BaseMachineStep`` / ``BaseHumanStep`` and return a small dict; they are built
  as ``Step("name")`` because the reference's step classes require the name in the constructor
  (the guides' ``SubmitRequest()`` raises ``TypeError`` there);
- a workflow is a class with ``__workflow_name__`` and ``get_definition()`` (the web-plugin guide's
  shape), registered with ``register_definition(...)`` and ``register_workflow_class(...)``;
  ``get_definition()`` returns one definition built once, so neither engine pays for rebuilding it
  (the reference 0.3.3 has neither documented method: its own ``registry.register(cls)`` is used);
- ``LocalExecutionEngine(registry)``, or ``PersistentExecutionEngine(registry=..., session=...)``
  inside ``async with session_factory() as session`` as the persistence guide builds it, with the
  tables created by ``UUIDAuditBase.metadata.create_all`` (the guide's "Direct Table Creation");
  the engine is never ``start()``-ed, as in the guides;
- starts by class, each awaited before the next; then each instance is waited on in turn:
  ``engine.wait(id, timeout=...)`` where the engine has it (this project), otherwise by polling
  ``get_instance`` (the reference documents nothing else: ``asyncio.sleep(0)`` between polls in
  memory, 5 ms on a database; an instance that stays at the same status and step for 10 s "never
  completes"); then each instance is read back with ``get_instance``. The human
  workload waits for every instance to reach its task, completes the tasks one ``await`` at a
  time with ``complete_human_task``, then waits again. ``--serial`` instead runs each instance to
  its end before starting the next; a durable engine without ``wait`` is then polled through a
  second engine on its own session (see ``run_durable``).

Correctness is checked inside the measurement: every instance COMPLETED, every step ran exactly
once (the steps count their executions), and the final data right (the last step writes a result
derived from what earlier steps and the task wrote). Otherwise the line says ``"ok": false`` with
the reason, and the harness prints "wrong result" instead of a figure.

For a durable engine the same process also measures the raw commit rate of the same database:
sequential one-row INSERT + COMMIT into a scratch table through the same driver (SQLAlchemy on
aiosqlite with WAL and synchronous=FULL -- one fsync per commit, the best a commit-per-transition
design gets -- or on asyncpg), before and after the workload.

``--relaxed`` (durable engines, this project only: the reference 0.3.3 has no such option) measures
relaxed commits: the engine is built as ``PersistentExecutionEngine(registry=..., session=...,
synchronous_commit=False)``, and the raw commit rate is measured with the same relaxed setting
(SQLite ``PRAGMA synchronous=NORMAL``, WAL kept; PostgreSQL ``SET synchronous_commit TO off`` on
the connection), so that ours / raw still compares like with like. A commit then waits for no
fsync: it survives a crash of the process, not a power loss (see the README, "Relaxed commits").
Ignored in memory.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import itertools
import json
import os
import resource
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
)

EXECUTIONS: collections.Counter[tuple[int, str]] = collections.Counter()
COMMITS = 300
STALL = 10.0  # seconds a polled instance may stay at the same status and step


class Work(BaseMachineStep):
    """A machine step that counts its runs and returns a small dict."""

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        i = context.get("i")
        EXECUTIONS[i, self.name] += 1
        return {"step": self.name, "i": i}


class Branch(Work):
    """A parallel branch: also writes its own key, which the join must see."""

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        context.set(self.name, True)
        return await super().execute(context)


class Finish(Work):
    """The terminal step: writes ``result`` from what the instance's data holds by then."""

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        seen = sorted(k for k in context.data if k.startswith("b"))
        approved = context.get("approved")
        context.set("result", f"{context.get('i')}:{len(seen)}:{approved}")
        return await super().execute(context)


def _definition(name: str, steps: dict[str, Any], edges: list[Edge], terminal: str) -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name,
        version="1.0.0",
        description="neutral benchmark workload",
        steps=steps,
        edges=edges,
        initial_step=next(iter(steps)),
        terminal_steps={terminal},
    )


def linear_definition() -> WorkflowDefinition:
    names = [f"s{i}" for i in range(10)]
    steps: dict[str, Any] = {n: Work(n) for n in names[:-1]}
    steps[names[-1]] = Finish(names[-1])
    return _definition("neutral_linear", steps, [Edge(a, b) for a, b in itertools.pairwise(names)], names[-1])


def fanout_definition() -> WorkflowDefinition:
    branches = [f"b{i}" for i in range(8)]
    steps: dict[str, Any] = {"fork": Work("fork"), **{b: Branch(b) for b in branches}, "join": Finish("join")}
    edges = [Edge("fork", b) for b in branches] + [Edge(b, "join") for b in branches]
    return _definition("neutral_fanout", steps, edges, "join")


def human_definition() -> WorkflowDefinition:
    steps: dict[str, Any] = {
        "submit": Work("submit"),
        "approve": BaseHumanStep("approve", title="Approve"),
        "done": Finish("done"),
    }
    return _definition("neutral_human", steps, [Edge("submit", "approve"), Edge("approve", "done")], "done")


class LinearWorkflow:
    __workflow_name__ = "neutral_linear"
    __workflow_version__ = "1.0.0"
    _definition = linear_definition()

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return cls._definition


class FanoutWorkflow:
    __workflow_name__ = "neutral_fanout"
    __workflow_version__ = "1.0.0"
    _definition = fanout_definition()

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return cls._definition


class HumanWorkflow:
    __workflow_name__ = "neutral_human"
    __workflow_version__ = "1.0.0"
    _definition = human_definition()

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return cls._definition


# name: (workflow class, transitions per instance, machine steps that run, expected result)
WORKLOADS: dict[str, tuple[Any, int, list[str], str]] = {
    "linear": (LinearWorkflow, 10, [f"s{i}" for i in range(10)], "{i}:0:None"),
    "fanout": (FanoutWorkflow, 10, ["fork", *(f"b{i}" for i in range(8)), "join"], "{i}:8:None"),
    "human": (HumanWorkflow, 4, ["submit", "done"], "{i}:0:True"),
}
FINISHED = {"COMPLETED", "FAILED", "CANCELED"}
SETTLED = FINISHED | {"WAITING"}


class WrongResultError(Exception):
    """The workload did not do what it should: no figure may be printed for it."""


def status_name(instance: Any) -> str:
    return str(getattr(instance.status, "name", instance.status)).upper()


async def settle(engine: Any, instance_id: Any, deadline: float, poll: float) -> Any:
    """The instance once it is finished or waits for input (``wait`` if the engine has it)."""
    remaining = deadline - time.perf_counter()
    if remaining <= 0:
        raise WrongResultError("never completes (timed out)")
    if hasattr(engine, "wait"):
        try:
            return await engine.wait(instance_id, timeout=remaining)
        except TimeoutError:
            raise WrongResultError("never completes (timed out)") from None
    seen, since = None, time.perf_counter()
    while True:
        instance = await engine.get_instance(instance_id)
        state = (status_name(instance), instance.current_step)
        if state[0] in SETTLED:
            return instance
        now = time.perf_counter()
        if state != seen:
            seen, since = state, now
        elif now - since > STALL or now > deadline:
            raise WrongResultError(f"never completes ({state[0]} at {state[1]!r} for {now - since:.0f} s)")
        await asyncio.sleep(poll)


async def settle_all(engine: Any, ids: list[Any], deadline: float, poll: float, expect: str) -> None:
    for position, instance_id in enumerate(ids):
        instance = await settle(engine, instance_id, deadline, poll)
        if status_name(instance) != expect:
            error = getattr(instance, "error", None)
            raise WrongResultError(f"instance {position} is {status_name(instance)}, not {expect} ({error})")


async def run_batch(
    engine: Any, reader: Any, workload: str, batch: range, deadline: float, poll: float
) -> list[Any]:
    """Start the batch one ``await`` at a time, wait on each, read each back: their results.

    ``reader`` waits and reads (the engine itself, but for the serial durable runs: see ``run_durable``).
    """
    workflow = WORKLOADS[workload][0]
    ids = []
    for i in batch:
        instance = await engine.start_workflow(workflow, initial_data={"i": i})
        ids.append(instance.id)
    if workload == "human":
        await settle_all(reader, ids, deadline, poll, "WAITING")
        for instance_id in ids:
            await engine.complete_human_task(
                instance_id=instance_id, step_name="approve", user_id="bench", data={"approved": True}
            )
    await settle_all(reader, ids, deadline, poll, "COMPLETED")
    return [(await reader.get_instance(instance_id)).context.get("result") for instance_id in ids]


async def drive(
    engine: Any, reader: Any, args: argparse.Namespace, first: int, n: int, poll: float, serial: bool
) -> None:
    """The timed part: N instances all in flight (or, ``serial``, one after the other), checked."""
    workload = args.workload
    _, _, steps, expected = WORKLOADS[workload]
    deadline = time.perf_counter() + args.timeout
    batches = [range(i, i + 1) for i in range(first, first + n)] if serial else [range(first, first + n)]
    results = []
    for batch in batches:
        results += await run_batch(engine, reader, workload, batch, deadline, poll)
    for i in range(first, first + n):
        runs = [EXECUTIONS[i, step] for step in steps]
        if runs != [1] * len(steps):
            again = [f"{step} ran {r} times" for step, r in zip(steps, runs, strict=True) if r > 1]
            ran = f"{sum(1 for r in runs if r)} of {len(steps)} steps ran"
            raise WrongResultError(f"{again[0] if again else ran} (instance {i}: runs per step {runs})")
    for i, result in zip(range(first, first + n), results, strict=True):
        if result != expected.format(i=i):
            raise WrongResultError(f"instance {i} ended with result {result!r}, not {expected.format(i=i)!r}")


def rss_kb() -> int:
    """Current resident set size (Linux ``/proc``), in KiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * (resource.getpagesize() // 1024)


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def measure(engine: Any, args: argparse.Namespace, poll: float, reader: Any = None) -> dict[str, Any]:
    """Warm up with one instance (untimed), then time N; RSS growth is per instance."""
    workload, n, reader = args.workload, args.n, reader or engine
    await drive(engine, reader, args, -1, 1, poll, serial=True)
    gc.collect()
    base_rss = rss_kb()
    began = time.perf_counter()
    await drive(engine, reader, args, 0, n, poll, args.serial)
    elapsed = time.perf_counter() - began
    transitions = n * WORKLOADS[workload][1]
    return {
        "seconds": elapsed,
        "us_per_transition": elapsed / transitions * 1e6,
        "transitions_per_s": transitions / elapsed,
        "peak_rss_kb": peak_rss_kb(),
        "kb_per_instance": max(0, peak_rss_kb() - base_rss) / n,
    }


def registry_for(workload: str) -> Any:
    registry = WorkflowRegistry()
    workflow = WORKLOADS[workload][0]
    if not hasattr(registry, "register_definition"):  # the reference 0.3.3 has neither method
        registry.register(workflow)
        return registry
    registry.register_definition(workflow.get_definition())
    registry.register_workflow_class(workflow)
    return registry


@contextlib.asynccontextmanager
async def database(kind: str, url: str | None) -> Any:
    """A fresh database: a new SQLite file, or a new PostgreSQL schema (dropped afterwards)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench_neutral_") as tmp:
            yield f"sqlite+aiosqlite:///{Path(tmp) / 'workflows.db'}", {}
        return
    assert url is not None
    schema = f"neutral_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(url)
    async with admin.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield url, {"connect_args": {"server_settings": {"search_path": schema}}}
    finally:
        async with admin.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await admin.dispose()


async def commit_rate(url: str, options: dict[str, Any], relaxed: bool = False) -> float:
    """Sequential one-row INSERT + COMMIT per second, through the same driver (scratch table).

    ``relaxed``: with the setting of relaxed commits (SQLite ``synchronous=NORMAL``, PostgreSQL
    ``synchronous_commit`` off for the connection), as the engine under ``--relaxed`` commits.
    """
    from sqlalchemy import event, text
    from sqlalchemy.ext.asyncio import create_async_engine

    db_engine = create_async_engine(url, **options)
    if url.startswith("sqlite"):
        sync = "NORMAL" if relaxed else "FULL"

        @event.listens_for(db_engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={sync}")
            cursor.close()

    elif relaxed:

        @event.listens_for(db_engine.sync_engine, "connect")
        def _relaxed(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SET synchronous_commit TO off")
            cursor.close()
            dbapi_connection.commit()  # the driver ran it in a transaction: keep it for the session

    table = f"raw_commit_{uuid.uuid4().hex[:8]}"
    insert = text(f"INSERT INTO {table} (id, payload) VALUES (:id, :payload)")
    try:
        async with db_engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, payload TEXT)"))
        for i in range(10):
            async with db_engine.begin() as conn:
                await conn.execute(insert, {"id": -1 - i, "payload": "warm"})
        began = time.perf_counter()
        for i in range(COMMITS):
            async with db_engine.begin() as conn:
                await conn.execute(insert, {"id": i, "payload": "x" * 64})
        rate = COMMITS / (time.perf_counter() - began)
        async with db_engine.begin() as conn:
            await conn.execute(text(f"DROP TABLE {table}"))
        return rate
    finally:
        await db_engine.dispose()


async def run_durable(args: argparse.Namespace, poll: float) -> dict[str, Any]:
    from advanced_alchemy.base import UUIDAuditBase
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from litestar_workflows.db import (  # noqa: F401 - imported to register the models, as documented
        HumanTaskModel,
        PersistentExecutionEngine,
        StepExecutionModel,
        WorkflowDefinitionModel,
        WorkflowInstanceModel,
    )

    async with database(args.engine, args.url) as (url, options):
        setup = create_async_engine(url, **options)
        async with setup.begin() as conn:
            await conn.run_sync(UUIDAuditBase.metadata.create_all)
        await setup.dispose()
        before = await commit_rate(url, options, args.relaxed)
        db_engine = create_async_engine(url, **options)
        session_factory = async_sessionmaker(db_engine, expire_on_commit=False)
        try:
            async with session_factory() as session, session_factory() as reads:
                registry = registry_for(args.workload)
                if args.relaxed:
                    engine = PersistentExecutionEngine(
                        registry=registry, session=session, synchronous_commit=False
                    )
                else:
                    engine = PersistentExecutionEngine(registry=registry, session=session)
                # Serial runs of an engine without ``wait`` poll through a second engine on its own
                # session, as the guide's "session per request" advice has it: the reference's one
                # session cannot serve a read while its background task uses it, even for one instance.
                polls = args.serial and not hasattr(engine, "wait")
                reader = PersistentExecutionEngine(registry=registry, session=reads) if polls else None
                figures = await measure(engine, args, poll, reader)
        finally:
            await db_engine.dispose()
        after = await commit_rate(url, options, args.relaxed)
    figures["commits_per_s"] = (before + after) / 2
    figures["relaxed"] = args.relaxed
    return figures


async def main(args: argparse.Namespace) -> dict[str, Any]:
    if args.engine == "memory":
        engine = LocalExecutionEngine(registry_for(args.workload))
        return await measure(engine, args, 0.0)
    return await run_durable(args, 0.005)


def cli() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", choices=("memory", "sqlite", "postgresql"), required=True)
    parser.add_argument("--workload", choices=tuple(WORKLOADS), required=True)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument(
        "--url",
        default=os.environ.get("WORKFLOWS_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL URL, a fresh schema is made in it and dropped (default: $WORKFLOWS_POSTGRES_URL, "
        "else postgresql+asyncpg://postgres@127.0.0.1:5432/test)",
    )
    parser.add_argument("--serial", action="store_true", help="one instance at a time (start, wait, read)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds before 'never completes'")
    parser.add_argument(
        "--relaxed", action="store_true", help="durable engines: relaxed commits, ours and raw (see above)"
    )
    args = parser.parse_args()
    import litestar_workflows

    line: dict[str, Any] = {"package": getattr(litestar_workflows, "__version__", "?"), "python": sys.version}
    try:
        line.update(asyncio.run(main(args)), ok=True)
    except WrongResultError as wrong:
        line.update(ok=False, reason=str(wrong))
    except Exception as error:
        line.update(ok=False, reason=f"fails: {type(error).__name__}: {error}"[:300])
    print(json.dumps(line), flush=True)


if __name__ == "__main__":
    cli()
