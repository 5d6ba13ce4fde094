"""A second process for the durable tests: ``python durable_child.py MODE URL SCHEMA RECORDS READY [N]``.

Modes:
  crash   -- start N ``durable_crash`` instances (``{"n": i}``), write their ids to READY, then run them
             until done (the test SIGKILLs it before that) and write ``done`` to READY + ".done".
  worker  -- start an engine that only sweeps (claims expired leases, runs what it claimed); write
             READY once started; run until terminated.
Both use a 1 s lease and a short poll interval, like the engine in the test process, so that each
side reclaims the other's work quickly. The process exits by itself after ``MAX_LIFETIME`` seconds
in case the test that started it is gone.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent))

import durable_flows  # noqa: E402
from durable_support import store_engine  # noqa: E402

from litestar_workflows.db import PersistentExecutionEngine  # noqa: E402

LEASE_SECONDS = 1.0
MAX_LIFETIME = 120.0


def _write_atomically(path: Path, content: str) -> None:
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(content)
    os.replace(scratch, path)  # readers see the whole file or none


async def crash(engine: PersistentExecutionEngine, ready: Path, n: int) -> None:
    # Every instance is created (committed) before any step does its work: the first step waits.
    gate = durable_flows.GATES[durable_flows.CRASH_STEPS[0]] = asyncio.Event()
    instances = await asyncio.gather(*(engine.start_workflow("durable_crash", {"n": i}) for i in range(n)))
    _write_atomically(ready, "\n".join(f"{i},{inst.id}" for i, inst in enumerate(instances)) + "\n")
    gate.set()
    await asyncio.gather(*(engine.wait(inst.id, timeout=MAX_LIFETIME) for inst in instances))
    _write_atomically(ready.with_name(ready.name + ".done"), "done\n")


async def main() -> None:
    mode, url, schema, records, ready = sys.argv[1:6]
    durable_flows.RECORD_PATH = records
    db_engine = store_engine(url, schema or None)
    engine = PersistentExecutionEngine(
        durable_flows.registry(),
        session_factory=async_sessionmaker(db_engine),
        owner=f"child-{mode}-{os.getpid()}",
        lease_seconds=LEASE_SECONDS,
        poll_interval=0.2 if mode == "crash" else 0.05,
    )
    try:
        await engine.start()
        async with asyncio.timeout(MAX_LIFETIME):
            if mode == "crash":
                await crash(engine, Path(ready), int(sys.argv[6]))
            else:
                _write_atomically(Path(ready), f"{os.getpid()}\n")
                await asyncio.Event().wait()  # sweep until terminated
    finally:
        await engine.stop()
        await db_engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
