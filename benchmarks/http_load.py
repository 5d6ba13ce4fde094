"""HTTP load on a real server: many clients start workflows while hundreds of idle long polls wait.

Shared by ``benchmarks/bench_http.py`` (prints the figures) and ``tests/web/test_web_load.py`` (asserts
that nothing fails and nothing is lost, never how fast).

The server is this file run as a script (``python benchmarks/http_load.py serve --database URL
--port N``): uvicorn serving the plugin on a durable engine, with one workflow, ``load``
(``prepare`` -> a human ``review`` -> ``close``), so every started instance waits for its review.
Identity is the ``X-User`` header. ``GET /load/waiters`` reports how many ``wait()`` calls the
engine holds, so the client knows that its long polls are open before it measures anything.

The client (:func:`run_load`):
1. starts ``polls`` instances and opens one idle long poll on each
   (``GET /workflows/instances/{id}?wait=30&until=completed``, reissued when it answers), each as a
   different user, and waits until the server holds them all;
2. measures the server's CPU over ``idle_seconds`` with only those polls open;
3. starts ``n`` workflows with ``clients`` concurrent POSTs, timing each;
4. reads every started instance back (``GET``) and the listing's total.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

STARTUP_SECONDS = 30
KEEPALIVE_SECONDS = 20
POLL_WAIT_SECONDS = 30
HERE = Path(__file__).resolve()


# ---------------------------------------------------------------------------- the server


def build_app(database_url: str, poll_interval: float) -> Any:
    """The plugin on a durable engine with the ``load`` workflow, identity from ``X-User``."""
    from litestar import Litestar, get

    from litestar_workflows import BaseHumanStep, BaseMachineStep, Edge, WorkflowDefinition
    from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

    class Prepare(BaseMachineStep):
        name = "prepare"

        async def execute(self, context: Any) -> None:
            context.set("prepared", True)

    class Review(BaseHumanStep):
        name = "review"
        title = "Review"
        form_schema = {"type": "object"}
        assignee = "boss"

    class Close(BaseMachineStep):
        name = "close"

    definition = WorkflowDefinition(
        name="load",
        version="1.0.0",
        steps={"prepare": Prepare(), "review": Review(), "close": Close()},
        edges=[Edge("prepare", "review"), Edge("review", "close")],
        initial_step="prepare",
    )
    plugin = WorkflowPlugin(
        WorkflowPluginConfig(
            database_url=database_url,
            auto_register_workflows=[definition],
            engine_options={"poll_interval": poll_interval},
            user_resolver=lambda connection: connection.headers.get("x-user"),
        )
    )

    @get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @get("/load/waiters", sync_to_thread=False)
    def waiters() -> dict[str, int]:
        # The engine's own bookkeeping: how many wait() calls it holds right now.
        engine: Any = plugin.engine
        return {"waiters": sum(len(live.waiters) for live in engine._live.values())}

    return Litestar([health, waiters], plugins=[plugin])


def serve(database_url: str, port: int, poll_interval: float) -> None:
    """Run the load app with uvicorn until terminated."""
    import uvicorn

    app = build_app(database_url, poll_interval)
    # Keep-alive outlasts the client's (KEEPALIVE_SECONDS), so the server never closes a
    # connection the client is about to reuse.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_keep_alive=60,
        timeout_graceful_shutdown=2,
    )


def free_port() -> int:
    """A local TCP port free right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """A running server process and how to reach it."""

    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime
        return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.asynccontextmanager
async def running_server(directory: Path, *, poll_interval: float = 1.0) -> AsyncIterator[Server]:
    """The load server on a new SQLite file in ``directory``; terminated (then killed) afterwards."""
    port = free_port()
    url = f"sqlite+aiosqlite:///{directory / 'load.db'}"
    log_path = directory / "server.log"
    with log_path.open("w") as log:
        command = [sys.executable, str(HERE), "serve", "--database", url, "--port", str(port)]
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything is measured
            [*command, "--poll-interval", str(poll_interval)],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        server = Server(process, f"http://127.0.0.1:{port}", log_path)
        try:
            await _until_ready(server)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


async def _until_ready(server: Server) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({server.process.returncode}):\n{server.log.read_text()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if (await client.get("/health")).status_code == 200:
                    return
            await asyncio.sleep(0.1)  # polling a port for readiness
    raise RuntimeError(f"the server did not answer within {STARTUP_SECONDS}s:\n{server.log.read_text()}")


# ---------------------------------------------------------------------------- the client


@dataclass
class LoadResult:
    """What one run observed."""

    post_seconds: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    """Count of every HTTP status the server answered (posts, polls and read-backs)."""
    started: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Started instances a ``GET`` did not find."""
    listed_total: int = 0
    polls_open: int = 0
    """Waiters the server held when the POSTs began."""
    idle_cpu: float = 0.0
    """Server CPU (fraction of one core) with only the long polls open."""
    load_cpu: float = 0.0
    """Server CPU during the POSTs."""
    wall_seconds: float = 0.0

    def count(self, status: int) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.post_seconds)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.post_seconds)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def _client(server: Server, connections: int, timeout: httpx.Timeout) -> httpx.AsyncClient:
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=KEEPALIVE_SECONDS
    )
    return httpx.AsyncClient(base_url=server.base_url, limits=limits, timeout=timeout)


def _start_body(index: int) -> dict[str, Any]:
    return {"definition_name": "load", "input_data": {"n": index}}


async def _start(client: httpx.AsyncClient, result: LoadResult, index: int, user: str) -> str | None:
    response = await client.post("/workflows/instances", json=_start_body(index), headers={"X-User": user})
    result.count(response.status_code)
    return response.json()["id"] if response.status_code == 201 else None


async def _long_poll(client: httpx.AsyncClient, result: LoadResult, instance_id: str, user: str) -> None:
    """Keep one idle long poll open on ``instance_id`` until cancelled."""
    params = {"wait": POLL_WAIT_SECONDS, "until": "completed"}
    while True:
        response = await client.get(
            f"/workflows/instances/{instance_id}", params=params, headers={"X-User": user}
        )
        result.count(response.status_code)


async def _waiters(client: httpx.AsyncClient) -> int:
    waiting: int = (await client.get("/load/waiters")).json()["waiters"]
    return waiting


async def _until_polls_open(client: httpx.AsyncClient, expected: int, within: float) -> int:
    deadline = time.monotonic() + within
    seen = await _waiters(client)
    while seen < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.05)  # observing the server's state, not timing it
        seen = await _waiters(client)
    return seen


async def run_load(
    server: Server, *, n: int = 2_000, clients: int = 20, polls: int = 300, idle_seconds: float = 0.0
) -> LoadResult:
    """Start ``n`` workflows from ``clients`` concurrent clients while ``polls`` idle long polls are open."""
    result = LoadResult()
    # Two clients: httpx's pool scans its connections on every request, so the starters must not
    # share a pool with hundreds of parked long polls (the client would be the bottleneck).
    timeout = httpx.Timeout(POLL_WAIT_SECONDS + 30)
    async with (
        _client(server, polls + 5, timeout) as pollers,
        _client(server, clients + 5, timeout) as client,
    ):
        polled = await asyncio.gather(*(_start(client, result, -i - 1, f"poller-{i}") for i in range(polls)))
        poll_tasks = [
            asyncio.create_task(_long_poll(pollers, result, instance_id, f"poller-{i}"))
            for i, instance_id in enumerate(polled)
            if instance_id is not None
        ]
        try:
            result.polls_open = await _until_polls_open(client, len(poll_tasks), within=30)
            if idle_seconds > 0:
                before, moment = server.cpu_seconds(), time.monotonic()
                await asyncio.sleep(idle_seconds)  # the measurement window itself
                result.idle_cpu = (server.cpu_seconds() - before) / (time.monotonic() - moment)

            queue = iter(range(n))

            async def worker(number: int) -> None:
                for index in queue:
                    began = time.perf_counter()
                    instance_id = await _start(client, result, index, f"client-{number}")
                    result.post_seconds.append(time.perf_counter() - began)
                    if instance_id is not None:
                        result.started.append(instance_id)

            before, moment = server.cpu_seconds(), time.monotonic()
            await asyncio.gather(*(worker(number) for number in range(clients)))
            result.wall_seconds = time.monotonic() - moment
            result.load_cpu = (server.cpu_seconds() - before) / result.wall_seconds
        finally:
            for task in poll_tasks:
                task.cancel()
            await asyncio.gather(*poll_tasks, return_exceptions=True)

        ids = iter(result.started)

        async def reader() -> None:
            for instance_id in ids:
                response = await client.get(f"/workflows/instances/{instance_id}")
                result.count(response.status_code)
                if response.status_code != 200 or response.json()["id"] != instance_id:
                    result.missing.append(instance_id)

        await asyncio.gather(*(reader() for _ in range(clients)))
        listing = await client.get("/workflows/instances", params={"workflow_name": "load", "limit": 1})
        result.count(listing.status_code)
        result.listed_total = int(listing.headers["x-total-count"])  # the body is a plain JSON array
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("serve", help="run the load server")
    server.add_argument("--database", required=True)
    server.add_argument("--port", type=int, required=True)
    server.add_argument("--poll-interval", type=float, default=1.0)
    args = parser.parse_args()
    serve(args.database, args.port, args.poll_interval)


if __name__ == "__main__":
    main()
