"""Live updates of an instance page: server-sent events from the engine's ``wait``.

The stream sends one ``update`` event with the instance's status and version at once, then one
each time the instance changes, until it finishes (then it ends; the browser's ``EventSource``
is told not to come back). It waits with ``engine.wait`` -- woken by this process's transitions,
or by the engine's store watcher for changes other processes make -- for the status to change,
and at most ``HEARTBEAT_SECONDS`` at a time: then it reloads the instance, sends an event if its
version moved meanwhile (a step finished within the same status), or a comment line that keeps
proxies from closing an idle connection.

The page (``ui.js``) reloads its live region on each event; without ``EventSource``, or when the
stream fails, it falls back to reloading it every few seconds.
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, nullcontext, suppress
from typing import TYPE_CHECKING, Final

from litestar.exceptions import TooManyRequestsException
from litestar.response import ServerSentEvent, ServerSentEventMessage

from litestar_workflows.core.types import TERMINAL_WORKFLOW_STATUSES, WorkflowStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from uuid import UUID

    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.web.engine import WorkflowEngine

__all__ = ("HEARTBEAT_SECONDS", "instance_changes", "instance_events")

HEARTBEAT_SECONDS: Final = 5.0
"""Longest the stream stays silent; also how soon a change within one status is noticed at worst."""
RETRY_MILLISECONDS: Final = 3000
"""How long a browser waits before reconnecting a dropped stream."""


def _message(status: WorkflowStatus, version: int) -> ServerSentEventMessage:
    data = json.dumps({"status": str(status), "version": version})
    return ServerSentEventMessage(data=data, event="update", id=str(version))


async def instance_changes(
    engine: WorkflowEngine,
    instance: WorkflowInstanceData,
    heartbeat: float = HEARTBEAT_SECONDS,
    hold: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> AsyncIterator[ServerSentEventMessage]:
    """The messages of the stream: the instance now, each change, ``finished`` at the end.

    ``hold`` is entered for as long as the stream waits: the client's long-poll slot, so that one
    client cannot hold more open streams than it may hold long polls.
    """
    # A memory engine hands out its live object, which changes under us: keep copied values.
    seen = (instance.status, instance.version)
    try:
        with hold():
            yield _message(*seen)
            async for message in _follow(engine, instance.id, seen, heartbeat):
                yield message
    except TooManyRequestsException:  # the client opened others meanwhile: this one ends
        yield ServerSentEventMessage(event="busy", data="too many open streams for this client")


async def _follow(
    engine: WorkflowEngine, instance_id: UUID, seen: tuple[WorkflowStatus, int], heartbeat: float
) -> AsyncIterator[ServerSentEventMessage]:
    while seen[0] not in TERMINAL_WORKFLOW_STATUSES:
        with suppress(TimeoutError):
            await engine.wait(instance_id, until=frozenset(WorkflowStatus) - {seen[0]}, timeout=heartbeat)
        fresh = await engine.get_instance(instance_id)
        now = (fresh.status, fresh.version)
        if now != seen:
            seen = now
            yield _message(*seen)
        else:
            yield ServerSentEventMessage(comment="still there")
    yield ServerSentEventMessage(event="finished", data=str(seen[0]))


def instance_events(
    engine: WorkflowEngine,
    instance: WorkflowInstanceData,
    *,
    heartbeat: float = HEARTBEAT_SECONDS,
    hold: Callable[[], AbstractContextManager[None]] = nullcontext,
) -> ServerSentEvent:
    """The event stream of ``instance`` (already checked visible to the requester)."""
    return ServerSentEvent(
        instance_changes(engine, instance, heartbeat, hold),
        retry_duration=RETRY_MILLISECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
