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
from contextlib import suppress
from typing import TYPE_CHECKING, Final

from litestar.response import ServerSentEvent, ServerSentEventMessage

from litestar_workflows.core.types import WorkflowStatus

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.web.engine import WorkflowEngine

__all__ = ("HEARTBEAT_SECONDS", "instance_events")

HEARTBEAT_SECONDS: Final = 15.0
"""Longest the stream stays silent; also how soon a change within one status is noticed at worst."""
RETRY_MILLISECONDS: Final = 3000
"""How long a browser waits before reconnecting a dropped stream."""


def _message(instance: WorkflowInstanceData) -> ServerSentEventMessage:
    data = json.dumps({"status": str(instance.status), "version": instance.version})
    return ServerSentEventMessage(data=data, event="update", id=str(instance.version))


async def _changes(
    engine: WorkflowEngine, instance: WorkflowInstanceData, heartbeat: float
) -> AsyncIterator[ServerSentEventMessage]:
    # A memory engine hands out its live object, which changes under us: compare copied values.
    seen = (instance.status, instance.version)
    yield _message(instance)
    while not instance.is_finished:
        others = frozenset(WorkflowStatus) - {seen[0]}
        with suppress(TimeoutError):
            await engine.wait(instance.id, until=others, timeout=heartbeat)
        instance = await engine.get_instance(instance.id)
        if (instance.status, instance.version) != seen:
            seen = (instance.status, instance.version)
            yield _message(instance)
        else:
            yield ServerSentEventMessage(comment="still there")
    yield ServerSentEventMessage(event="finished", data=str(instance.status))


def instance_events(
    engine: WorkflowEngine, instance: WorkflowInstanceData, *, heartbeat: float = HEARTBEAT_SECONDS
) -> ServerSentEvent:
    """The event stream of ``instance`` (already checked visible to the requester)."""
    return ServerSentEvent(
        _changes(engine, instance, heartbeat),
        retry_duration=RETRY_MILLISECONDS,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
