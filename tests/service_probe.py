"""Whether a test service answers: one probe shared by every conftest of the suite."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

PROBE_TIMEOUT_SECONDS = 5


def _probe_connect_args(url: str) -> dict[str, Any]:
    driver = make_url(url).get_driver_name()
    if driver == "asyncpg":
        return {"timeout": PROBE_TIMEOUT_SECONDS}
    if driver.startswith("psycopg"):
        return {"connect_timeout": PROBE_TIMEOUT_SECONDS}
    return {}


@functools.cache
def postgres_available(url: str) -> str | None:
    """Check once per URL and session that PostgreSQL accepts connections.

    Runs the async probe on a private thread, so it works whether or not the caller is inside a running
    event loop.

    Returns:
        ``None`` when reachable, else a human-readable reason (URL shown without its password).
    """
    outcome: list[BaseException | None] = []

    async def probe() -> None:
        engine = create_async_engine(url, poolclass=NullPool, connect_args=_probe_connect_args(url))
        try:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        finally:
            await engine.dispose()

    def run() -> None:
        try:
            asyncio.run(probe())
        except Exception as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, name="postgres-probe")
    thread.start()
    thread.join()
    error = outcome[0] if outcome else RuntimeError("probe thread died")
    if error is None:
        return None
    shown = make_url(url).render_as_string(hide_password=True)
    return f"PostgreSQL at {shown} is unavailable: {type(error).__name__}: {error}"
