"""The engine's event loop thread in a Celery worker process: when it ends, the worker says so.

Before, a loop thread that ended (a step raising ``SystemExit`` once did that) left the worker
"ready": it took every step message, logged it as succeeded, and ran nothing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest
from celery import Celery
from distributed_flows import registry

from litestar_workflows.contrib.celery import CeleryExecutionEngine

if TYPE_CHECKING:
    from broker_processes import RedisServer

    from conftest import ScratchDatabase

pytestmark = [pytest.mark.redis]


def _end_the_loop() -> None:
    raise SystemExit("gone")  # asyncio lets SystemExit out of run_forever: the thread ends


async def test_a_loop_thread_that_ended_is_logged_and_refuses_every_message(
    scratch_sqlite: ScratchDatabase, redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    await scratch_sqlite.migrate()
    engine = CeleryExecutionEngine(
        Celery("loop-test", broker=redis_server.url), scratch_sqlite.url, registry()
    )
    worker = engine.worker_loop
    worker.ensure_started()
    assert worker.started()
    loop, thread = worker._loop, worker._thread
    assert loop is not None
    assert thread is not None
    with caplog.at_level(logging.CRITICAL, logger="litestar_workflows.distributed"):
        loop.call_soon_threadsafe(_end_the_loop)
        thread.join(30)
    assert not thread.is_alive()
    assert "the workflow engine's event loop in process" in caplog.text
    assert "SystemExit: gone" in caplog.text
    with pytest.raises(RuntimeError, match="event loop thread in this worker process has ended"):
        worker.submit(object())
    with pytest.raises(RuntimeError, match="restart the worker"):
        worker.submit(object())  # every message, not only the first
    loop.close()
