"""Fixtures of the distributed tests: a private Redis, a private PostgreSQL server and worker
processes, all stopped after."""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING

import pytest
from broker_processes import HERE, TESTS, RedisServer, Workers, free_port
from private_postgres import PrivatePostgres, unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


def _skip_unless(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("WORKFLOWS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (WORKFLOWS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    _skip_unless(None if shutil.which("redis-server") else "redis-server is not installed")
    server = RedisServer(free_port())
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL server of the test's own, which it may stop and start (an outage).

    Where the shared server runs locally (CI starts it with ``pg_ctlcluster``), the server
    binaries this needs are installed too, so ``WORKFLOWS_REQUIRE_SERVICES=1`` fails the test
    without them rather than letting the outage test skip unnoticed.
    """
    reason = unavailable()
    _skip_unless(None if reason is None else f"no private PostgreSQL for the restart test: {reason}")
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.destroy()


@pytest.fixture
def workers(scratch_postgres: object, redis_server: RedisServer, tmp_path: Path) -> Iterator[Workers]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "WF_DB_URL": scratch_postgres.url,  # type: ignore[attr-defined]
        "WF_DB_SCHEMA": scratch_postgres.schema or "",  # type: ignore[attr-defined]
        "WF_REDIS_URL": redis_server.url,
        "WF_EFFECTS": str(tmp_path / "effects.log"),
    }
    pool = Workers(env, tmp_path)
    try:
        yield pool
    finally:
        pool.stop_all()
