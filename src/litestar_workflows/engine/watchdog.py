"""Warn when something blocks the event loop: a step calling ``time.sleep``, synchronous I/O, heavy CPU.

Steps run on the engine's event loop. One that blocks it stalls every instance, timer and request
of the process, and no timeout can cut it (a timeout is a cancellation, delivered only when the
step awaits). That is a bug of the step; this module makes it visible while it happens.

How, at no cost per step: a callback on the loop bumps a counter a few times per threshold, and a
daemon thread checks that the counter moves. When it stops moving for longer than the threshold,
the thread looks at the loop thread's current stack and logs a warning naming the step that runs
there (its name, instance and execution) and the line it is stuck at. One watchdog serves every
engine on the same loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import CodeType, FrameType

logger = logging.getLogger("litestar_workflows.engine")

_BEATS_PER_THRESHOLD = 4
_watchdogs: dict[asyncio.AbstractEventLoop, LoopWatchdog] = {}


def watch_loop(threshold: float) -> LoopWatchdog:
    """The running loop's watchdog (started on first use); hand it back with :meth:`LoopWatchdog.release`."""
    loop = asyncio.get_running_loop()
    watchdog = _watchdogs.get(loop)
    if watchdog is None or watchdog.stopped:
        watchdog = _watchdogs[loop] = LoopWatchdog(loop, threshold)
    watchdog.holders += 1
    watchdog.threshold = min(watchdog.threshold, threshold)
    return watchdog


class LoopWatchdog:
    """Logs a warning when ``loop`` runs one callback for longer than ``threshold`` seconds."""

    def __init__(self, loop: asyncio.AbstractEventLoop, threshold: float) -> None:
        self.loop = loop
        self.threshold = threshold
        self.holders = 0
        self.stopped = False
        self.beats = 0
        self._loop_thread = threading.get_ident()
        self._stop = threading.Event()
        self._handle: asyncio.TimerHandle | None = None
        self._beat()
        self._thread = threading.Thread(target=self._watch, name="litestar-workflows-watchdog", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """One engine fewer uses the watchdog; the last one stops it."""
        self.holders -= 1
        if self.holders > 0:
            return
        self.stopped = True
        self._stop.set()
        if self._handle is not None:
            self._handle.cancel()
        if _watchdogs.get(self.loop) is self:
            del _watchdogs[self.loop]

    def _beat(self) -> None:
        self.beats += 1
        if not self.stopped:
            self._handle = self.loop.call_later(self.threshold / _BEATS_PER_THRESHOLD, self._beat)

    def _watch(self) -> None:
        seen, since, warned = self.beats, time.monotonic(), False
        while not self._stop.wait(self.threshold / _BEATS_PER_THRESHOLD):
            now = time.monotonic()
            if self.loop.is_closed():  # closed without its engines stopped: nothing left to watch
                self.stopped = True
                _watchdogs.pop(self.loop, None)
                return
            if self.beats != seen or not self.loop.is_running():
                if warned:
                    logger.warning("the event loop runs again after %.2f s", now - since)
                seen, since, warned = self.beats, now, False
            elif not warned and now - since > self.threshold:
                warned = True
                logger.warning(
                    "the event loop has been blocked for %.2f s (more than %.2f s) by %s; every workflow "
                    "and request of this process waits. Steps must not block: await, or run blocking "
                    "work with asyncio.to_thread()",
                    now - since,
                    self.threshold,
                    self._culprit(),
                )

    def _culprit(self) -> str:
        """The step running on the loop thread now, and where it is stuck."""
        frame = sys._current_frames().get(self._loop_thread)
        if frame is None:
            return "unknown code"
        step = _step_frame(frame)
        if step is None:
            return f"code outside workflow steps (at {_where(frame)})"
        where = ", called from ".join(_where(f) for f in _frames_between(frame, step))
        run: Any = step.f_locals.get("run")
        instance: Any = step.f_locals.get("instance")
        return (
            f"step {getattr(run, 'step_name', '?')!r} of instance {getattr(instance, 'id', '?')} "
            f"(execution {getattr(run, 'id', '?')}, at {where})"
        )


def _where(frame: FrameType) -> str:
    return f"{frame.f_code.co_name} ({frame.f_code.co_filename}:{frame.f_lineno})"


def _frames_between(innermost: FrameType, runner: FrameType, most: int = 4) -> list[FrameType]:
    """The calls from the step down to where the loop thread is now, innermost first.

    At most ``most`` of them: the innermost, and the outermost below the runner (the step's own code).
    """
    frames: list[FrameType] = []
    frame: FrameType | None = innermost
    while frame is not None and frame is not runner:
        frames.append(frame)
        frame = frame.f_back
    return frames[:1] + frames[1:][-(most - 1) :] if len(frames) > most else frames


def _step_frame(frame: FrameType | None) -> FrameType | None:
    """The innermost frame of the step runner on the stack, whose locals say which step runs."""
    code = _runner_code()
    while frame is not None:
        if frame.f_code is code:
            return frame
        frame = frame.f_back
    return None


def _runner_code() -> CodeType:
    from litestar_workflows.runtime.runner import StepRunner

    return StepRunner.run.__code__


__all__ = ("LoopWatchdog", "watch_loop")
