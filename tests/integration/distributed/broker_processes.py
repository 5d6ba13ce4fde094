"""Real processes for the distributed tests: a private Redis and worker processes.

``RedisServer`` (from ``tests/private_redis.py``, re-exported here) is a ``redis-server`` on a free
port without persistence (so that a restart is empty, as the issue's outage is), in a process group
of its own; ``Workers`` starts worker processes with the backends' own CLIs, each in its own process
group, and kills them all. Free of pytest, so that the benchmark can use them too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

from private_redis import RedisServer, free_port

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent.parent
BIN = Path(sys.executable).parent


class Workers:
    """Worker processes of one test (each in its own process group), killed at teardown."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, argv: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        process = subprocess.Popen(
            argv,
            cwd=HERE,
            env={**self.env, "WF_OWNER": name, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process

    def saq(self, name: str, **env: str) -> subprocess.Popen[bytes]:
        return self.start(name, [str(BIN / "saq"), "saq_worker.settings"], **env)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=60)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)


__all__ = ("BIN", "HERE", "TESTS", "RedisServer", "Workers", "free_port")
