"""Starting workflows over real HTTP while idle long polls are open: POST latency and server CPU.

Run: ``.venv/bin/python benchmarks/bench_http.py [--n 2000] [--clients 20] [--polls 300 0]``

For each number of idle long polls, a fresh server (uvicorn, the plugin on a durable engine over a
new SQLite file; see ``http_load.py``) gets that many ``GET /workflows/instances/{id}?wait=30``
requests held open, each on an instance waiting for a person. It then prints:
  idle CPU  -- the server's CPU (share of one core) over ``--idle`` seconds with only the polls open
  POST p50/p99, starts/s -- ``--n`` starts from ``--clients`` concurrent clients, each POST timed
  load CPU  -- the server's CPU during those POSTs
and checks that none answered 5xx and every started instance reads back. Client and server share
this machine's cores, so the figures are for comparing runs on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from http_load import run_load, running_server


async def measure(n: int, clients: int, polls: int, idle: float, poll_interval: float) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-http-") as directory:
        async with running_server(Path(directory), poll_interval=poll_interval) as server:
            result = await run_load(server, n=n, clients=clients, polls=polls, idle_seconds=idle)
    lost = len(result.missing) + (n - len(result.started))
    print(
        f"polls={polls:4d} (open {result.polls_open:4d})  idle CPU {result.idle_cpu:6.1%}  "
        f"POST p50 {result.p50 * 1000:6.1f} ms  p99 {result.p99 * 1000:6.1f} ms  "
        f"{n / result.wall_seconds:6.0f} starts/s  load CPU {result.load_cpu:6.1%}  "
        f"5xx {result.server_errors}  lost {lost}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=2_000, help="workflows to start")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients starting them")
    parser.add_argument("--polls", type=int, nargs="+", default=[0, 300], help="idle long polls held open")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds the idle CPU is measured over")
    parser.add_argument("--poll-interval", type=float, default=1.0, help="the engine's poll_interval")
    args = parser.parse_args()
    for polls in args.polls:
        asyncio.run(measure(args.n, args.clients, polls, args.idle, args.poll_interval))


if __name__ == "__main__":
    main()
