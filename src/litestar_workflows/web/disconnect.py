"""Long polls end when their client goes away.

An ASGI server does not cancel a request whose client disconnected: a long poll
(``GET /instances/{id}?wait=30``) would go on waiting, holding one of the client's
``max_waits_per_client`` slots and a waiter on the engine, until its time ran out, so a client
that reconnects at once could be refused for the polls it had abandoned. The server reports the
disconnect as an ``http.disconnect`` message on the request's receive channel; watching that
channel while waiting ends the wait as soon as the client is gone.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Coroutine

    from litestar import Request

__all__ = ("unless_client_leaves",)

T = TypeVar("T")


async def _client_left(request: Request[Any, Any, Any]) -> None:
    """Return once the server reports that the client disconnected (or the channel fails)."""
    try:
        while True:
            message = await request.receive()
            if message.get("type") == "http.disconnect":
                return
    except Exception:  # a closed channel: nobody is there to answer either
        return


async def unless_client_leaves(request: Request[Any, Any, Any], work: Coroutine[Any, Any, T]) -> T | None:
    """Await ``work``, or cancel it and return ``None`` if the client disconnects first.

    Only for requests whose body has been read (or that have none): the watch takes the
    request's remaining ASGI messages.
    """
    task = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_client_left(request))
    try:
        await asyncio.wait((task, watch), return_when=asyncio.FIRST_COMPLETED)
    except BaseException:  # this request was cancelled itself: take the work down with it
        task.cancel()
        raise
    finally:
        watch.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with suppress(asyncio.CancelledError, Exception):  # nobody is left to tell of a late failure
        await task
    return None
