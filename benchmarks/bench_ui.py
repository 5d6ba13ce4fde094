"""The web UI under a large inbox and a long history: time to first byte and full load, over real HTTP.

Run: ``.venv/bin/python benchmarks/bench_ui.py [--tasks 10000] [--steps 200] [--runs 7]``

1. Fills a new SQLite file through the durable engine: ``--tasks`` instances of ``inbox``
   (``prepare`` -> a human ``review`` assigned to ``boss``), so boss's inbox holds that many pending
   tasks, and one instance of ``long`` whose ``tick`` step loops until it has run ``--steps`` times.
2. Serves the app (uvicorn, this file run as ``serve``) with the plugin's UI; identity from ``X-User``.
3. For the inbox (``/workflows/ui/tasks``) and that instance's page, prints the median (and the
   slowest) of ``--runs`` requests after one warm-up:
   - ``ttfb``: request sent -> response headers (httpx, one keep-alive connection);
   - ``html``: request sent -> whole HTML read, and its size;
   - in Chromium (when ``/usr/bin/chromium`` and Playwright are installed), a fresh page each run:
     ``ttfb`` (navigation timing's responseStart), ``dcl`` (DOMContentLoaded), ``load`` (the load
     event: scripts and styles fetched and run) and, on the instance page, ``graph`` (until the
     Mermaid graph is drawn, ``[data-graph][data-rendered]``).
The figures are for comparing runs on one machine (client and server share its cores).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

HERE = Path(__file__).resolve()
CHROMIUM = os.environ.get("WORKFLOWS_CHROMIUM", "/usr/bin/chromium")
STARTUP_SECONDS = 60
USER = "boss"


# ---------------------------------------------------------------------------- workflows and server


def definitions(steps: int) -> list[Any]:
    """``inbox`` (one human task for boss per instance) and ``long`` (``tick`` runs ``steps`` times)."""
    from litestar_workflows import BaseHumanStep, BaseMachineStep, Edge, WorkflowDefinition

    class Prepare(BaseMachineStep):
        name = "prepare"

        async def execute(self, context: Any) -> None:
            context.set("prepared", True)

    class Review(BaseHumanStep):
        name = "review"
        title = "Review the request"
        form_schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}
        assignee = USER

    class Tick(BaseMachineStep):
        name = "tick"

        async def execute(self, context: Any) -> None:
            context.set("count", int(context.get("count", 0)) + 1)

    class Done(BaseMachineStep):
        name = "done"

    inbox = WorkflowDefinition(
        name="inbox",
        steps={"prepare": Prepare(), "review": Review(), "close": Done("close")},
        edges=[Edge("prepare", "review"), Edge("review", "close")],
        initial_step="prepare",
    )
    long = WorkflowDefinition(
        name="long",
        steps={"tick": Tick(), "done": Done("done")},
        edges=[
            Edge("tick", "tick", condition=f"context.get('count') < {steps}"),
            Edge("tick", "done", condition=f"context.get('count') >= {steps}"),
        ],
        initial_step="tick",
    )
    return [inbox, long]


def build_app(database_url: str, steps: int) -> Any:
    """The plugin (API and UI) on a durable engine; the acting user is the ``X-User`` header."""
    from litestar import Litestar, get

    from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    config = WorkflowPluginConfig(
        database_url=database_url,
        auto_register_workflows=definitions(steps),
        user_resolver=lambda connection: connection.headers.get("x-user"),
    )
    return Litestar([health], plugins=[WorkflowPlugin(config)])


def serve(database_url: str, port: int, steps: int) -> None:
    """Run the app with uvicorn until terminated."""
    import uvicorn

    uvicorn.run(build_app(database_url, steps), host="127.0.0.1", port=port, log_level="warning")


async def fill(database_url: str, tasks: int, steps: int) -> str:
    """Create the tasks and the long instance; return the long instance's id."""
    from litestar_workflows import WorkflowRegistry, WorkflowStatus
    from litestar_workflows.db import PersistentExecutionEngine, upgrade_database_async
    from litestar_workflows.db.store import create_store_engine

    db_engine = create_store_engine(database_url)
    await upgrade_database_async(db_engine)
    await db_engine.dispose()
    registry = WorkflowRegistry()
    for definition in definitions(steps):
        registry.register_definition(definition)
    async with PersistentExecutionEngine(registry, url=database_url) as engine:
        started = time.perf_counter()
        batch = 500
        for first in range(0, tasks, batch):
            instances = await asyncio.gather(
                *(engine.start_workflow("inbox", {"n": n}) for n in range(first, min(first + batch, tasks)))
            )
            await asyncio.gather(*(engine.wait(i.id, timeout=120) for i in instances))
        long = await engine.start_workflow("long", {})
        finished = await engine.wait(long.id, timeout=300)
        assert finished.status is WorkflowStatus.COMPLETED, finished.error
        print(
            f"filled: {tasks} pending tasks for {USER!r}, one instance of {steps} steps "
            f"({len(finished.context.step_history)} in its history) in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        return str(long.id)


def free_port() -> int:
    """A local TCP port free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.asynccontextmanager
async def running_server(directory: Path, database_url: str, steps: int) -> AsyncIterator[str]:
    """The app served from a subprocess; yields its base URL; terminated (then killed) after."""
    port = free_port()
    log_path = directory / "server.log"
    with log_path.open("w") as log:
        command = [sys.executable, str(HERE), "serve", "--database", database_url, "--port", str(port)]
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
            [*command, "--steps", str(steps)], cwd=directory, stdout=log, stderr=subprocess.STDOUT
        )
        base = f"http://127.0.0.1:{port}"
        try:
            await _until_ready(base, process, log_path.read_text)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


async def _until_ready(base: str, process: subprocess.Popen[bytes], log: Callable[[], str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    async with httpx.AsyncClient(base_url=base, timeout=5) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited ({process.returncode}):\n{log()}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)  # polling a port for readiness
    raise RuntimeError(f"the server did not answer within {STARTUP_SECONDS}s:\n{log()}")


# ---------------------------------------------------------------------------- measuring


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms (max {max(values) * 1000:7.1f})"


async def over_http(base: str, path: str, runs: int) -> None:
    """TTFB and full HTML over one keep-alive connection (first request is a warm-up)."""
    ttfb: list[float] = []
    full: list[float] = []
    size = 0
    async with httpx.AsyncClient(base_url=base, timeout=60, headers={"X-User": USER}) as client:
        for run in range(runs + 1):
            started = time.perf_counter()
            async with client.stream("GET", path) as response:
                first = time.perf_counter()
                body = await response.aread()
                done = time.perf_counter()
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}: {body[:500]!r}")
            if run:
                ttfb.append(first - started)
                full.append(done - started)
            size = len(body)
    print(f"  http     ttfb {_ms(ttfb)}   html {_ms(full)}   {size / 1024:7.1f} KiB", flush=True)


async def in_browser(base: str, path: str, runs: int, *, graph: bool) -> None:
    """Navigation timing in Chromium, a fresh page (and cache) per run; the first run is a warm-up."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        print("  browser  skipped: playwright is not installed", flush=True)
        return
    if not shutil.which(CHROMIUM):
        print(f"  browser  skipped: no chromium at {CHROMIUM}", flush=True)
        return
    figures: dict[str, list[float]] = {"ttfb": [], "dcl": [], "load": [], "graph": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            for run in range(runs + 1):
                context = await browser.new_context(extra_http_headers={"X-User": USER})
                page = await context.new_page()
                started = time.perf_counter()
                await page.goto(base + path, wait_until="load")
                if graph:
                    await page.wait_for_selector(
                        "[data-graph][data-rendered]", state="attached", timeout=60_000
                    )
                drawn = time.perf_counter()
                timing = await page.evaluate(
                    "() => { const t = performance.getEntriesByType('navigation')[0];"
                    " return [t.responseStart - t.startTime, t.domContentLoadedEventEnd - t.startTime,"
                    " t.loadEventEnd - t.startTime]; }"
                )
                await context.close()
                if run:
                    figures["ttfb"].append(timing[0] / 1000)
                    figures["dcl"].append(timing[1] / 1000)
                    figures["load"].append(timing[2] / 1000)
                    figures["graph"].append(drawn - started)
        finally:
            await browser.close()
    line = f"  browser  ttfb {_ms(figures['ttfb'])}   dcl {_ms(figures['dcl'])}   load {_ms(figures['load'])}"
    if graph:
        line += f"   graph {_ms(figures['graph'])}"
    print(line, flush=True)


async def measure(tasks: int, steps: int, runs: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-ui-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'ui.db'}"
        long_id = await fill(url, tasks, steps)
        async with running_server(Path(directory), url, steps) as base:
            pages = [
                (f"inbox, {tasks} pending tasks", "/workflows/ui/tasks", False),
                (f"instance page, {steps}-step history", f"/workflows/ui/instances/{long_id}", True),
            ]
            for title, path, graph in pages:
                print(f"{title}: GET {path}", flush=True)
                await over_http(base, path, runs)
                await in_browser(base, path, runs, graph=graph)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command")
    server = sub.add_parser("serve", help="run the app (used by the benchmark itself)")
    server.add_argument("--database", required=True)
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--steps", type=int, default=200)
    parser.add_argument("--tasks", type=int, default=10_000, help="pending tasks in the inbox")
    parser.add_argument("--steps", type=int, default=200, help="steps in the long instance's history")
    parser.add_argument("--runs", type=int, default=7, help="measured requests per page (after a warm-up)")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.database, args.port, args.steps)
    else:
        asyncio.run(measure(args.tasks, args.steps, args.runs))


if __name__ == "__main__":
    main()
