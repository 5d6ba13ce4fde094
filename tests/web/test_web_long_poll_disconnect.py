"""Over real HTTP: a long poll whose client disconnects stops waiting at once.

The ASGI server does not cancel the request; without watching for the disconnect the poll held
its engine waiter (and its client's long-poll slot) for its whole ``wait``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from test_web_load import load_module

USER = {"x-user": "erik"}


async def waiters(client: httpx.AsyncClient) -> int:
    """How many ``wait()`` calls the server's engine holds now."""
    count: int = (await client.get("/load/waiters")).json()["waiters"]
    return count


async def until_waiters(client: httpx.AsyncClient, expected: int, what: str) -> None:
    """Ask the server until its engine holds ``expected`` waiters (bounded: 10 s)."""
    for _ in range(200):
        if await waiters(client) == expected:
            return
        await asyncio.sleep(0.05)  # polling the server's state, not waiting for a time
    raise AssertionError(f"never observed: {what} (waiters: {await waiters(client)})")


async def test_a_long_poll_ends_when_its_client_disconnects(tmp_path: Path) -> None:
    http_load: Any = load_module()
    async with (
        http_load.running_server(tmp_path) as server,
        httpx.AsyncClient(base_url=server.base_url, timeout=30) as client,
    ):
        started = await client.post(
            "/workflows/instances", json={"definition_name": "load", "input_data": {}}, headers=USER
        )
        assert started.json()["status"] == "waiting"  # at its review task: a poll would wait
        url = f"/workflows/instances/{started.json()['id']}"

        async with httpx.AsyncClient(base_url=server.base_url, timeout=60) as leaving:
            poll = asyncio.ensure_future(
                leaving.get(url, params={"wait": 25, "until": "completed"}, headers=USER)
            )
            await until_waiters(client, 1, "the long poll waiting on the engine")
            poll.cancel()  # the client gives up: its connection closes
        await until_waiters(client, 0, "the abandoned long poll released")

        # A poll that stays still answers when its time is up.
        answer = await client.get(url, params={"wait": 0.2, "until": "completed"}, headers=USER)
        assert answer.json()["status"] == "waiting"
