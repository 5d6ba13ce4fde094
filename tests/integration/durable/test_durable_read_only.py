"""SQLite: after the database file was read-only for a while, the engine recovers by itself.

SQLite opens a file it may not write read-only, and such a connection stays read-only after the
file is writable again. The store drops its pooled connections on that error and writes the
batch again on a fresh one; executions whose outcome could not be committed meanwhile are claimed
back by the next sweep. All without restarting the engine.

The file is made read-only with ``chattr +i`` (immutable): unlike ``chmod``, it stops root too.
Its write-ahead log too: a connection of the process that opened the file before keeps writing
into the log, and so may a connection opened after, since SQLite hands a new connection a
descriptor of the file that another connection of the process closed while a lock on the file
was held (an fd opened for writing). Such a connection's commit fails with an I/O error instead
of "readonly"; either way the write fails, which is what the test needs.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from durable_support import eventually

from litestar_workflows import Edge, WorkflowDefinition, WorkflowRegistry, WorkflowStatus
from litestar_workflows.core.errors import StoreError
from litestar_workflows.db import PersistentExecutionEngine
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

STUCK = 5
LATER = 20


def immutable(path: Path, on: bool) -> None:
    subprocess.run(["chattr", "+i" if on else "-i", str(path)], check=True, capture_output=True)


def database_immutable(database: Path, on: bool) -> None:
    """The database file and its write-ahead log, read-only (``on``) or writable again."""
    immutable(database, on)
    log = database.with_name(database.name + "-wal")
    if log.exists():
        immutable(log, on)


def skip_unless_chattr_works(directory: Path) -> None:
    probe = directory / "chattr-probe"
    probe.write_text("")
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    try:
        immutable(probe, True)
    except subprocess.CalledProcessError as error:
        pytest.skip(f"cannot make a file immutable here: {error.stderr.decode().strip()}")
    immutable(probe, False)


async def test_writes_recover_once_the_file_is_writable_again(
    scratch_sqlite: ScratchDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    skip_unless_chattr_works(tmp_path)
    db = scratch_sqlite
    await db.migrate()
    database_file = Path(db.url.split("///", 1)[1])
    gate = asyncio.Event()
    entered: list[str] = []

    async def gated(ctx: WorkflowContext) -> None:
        entered.append(str(ctx.instance_id))
        await gate.wait()

    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="gated",
            steps=[Fn("wait", gated), Fn("after", lambda ctx: ctx.set("after", True))],
            edges=[Edge("wait", "after")],
            initial_step="wait",
        )
    )
    caplog.set_level(logging.ERROR, logger="litestar_workflows")
    engine = PersistentExecutionEngine(reg, url=db.url, poll_interval=0.05)  # default lease: 30 s
    try:
        await engine.start()
        stuck = [(await engine.start_workflow("gated", {})).id for _ in range(STUCK)]
        await eventually(lambda: asyncio.sleep(0, len(entered) == STUCK), what="the steps to start")
        database_immutable(database_file, True)
        try:
            # The pool opens its connections while the file is read-only (as after a restart
            # or a recycled connection): SQLite opens them read-only.
            await engine.sql_store.db_engine.dispose()
            gate.set()  # the steps finish; committing their outcome fails
            failed = lambda: [r for r in caplog.records if "driving instance" in r.getMessage()]  # noqa: E731
            await eventually(lambda: asyncio.sleep(0, len(failed()) >= STUCK), what="the commits to fail")
            with pytest.raises(StoreError, match="readonly|disk I/O error"):
                await engine.start_workflow("gated", {})
        finally:
            database_immutable(database_file, False)
        # Writable again: new work goes through, and the stuck instances finish, long before
        # their leases (30 s) would have run out.
        later = [(await engine.start_workflow("gated", {})).id for _ in range(LATER)]
        finished = [await engine.wait(i, until=FINISHED, timeout=20) for i in [*stuck, *later]]
        assert {i.status for i in finished} == {WorkflowStatus.COMPLETED}
        assert all(i.context.get("after") for i in finished)
    finally:
        database_immutable(database_file, False)
        await engine.stop()
