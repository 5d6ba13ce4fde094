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
import threading
from pathlib import Path

from private_redis import RedisServer, free_port

HERE = Path(__file__).resolve().parent
TESTS = HERE.parent.parent
BIN = Path(sys.executable).parent
LOG_TAIL = 60
"""Lines of each worker's log printed at teardown (shown by pytest for a failed test)."""


class Workers:
    """Worker processes of one test (each in its own process group), killed at teardown."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def start(
        self, name: str, argv: list[str], *, supervised: bool = False, **env: str
    ) -> subprocess.Popen[bytes]:
        """Start worker ``name``; ``supervised`` starts it again whenever it exits, as systemd would.

        A supervisor is what production runs workers under. The Redis outage tests need one:
        Celery 5.7.0's worker can exit with "Unrecoverable error: AttributeError" while it tears
        down a connection Redis dropped (README, Running on Celery), and what those tests check
        is that the engine loses nothing, not that Celery's worker survives the outage.
        """
        process = self._spawn(name, argv, env)
        if supervised:
            threading.Thread(target=self._supervise, args=(name, argv, env), daemon=True).start()
        return process

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                argv,
                cwd=HERE,
                env={**self.env, "WF_OWNER": name, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        return process

    def _supervise(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """Wait for the worker to exit and start it again, until :meth:`stop_all` (a thread)."""
        while True:
            code = self.processes[name].wait()
            with self._lock:
                if self._stopping:
                    return
                with (self.log_dir / f"{name}.log").open("a") as log:
                    log.write(f"----- the supervisor starts {name} again (it exited with {code}) -----\n")
                self._spawn(name, argv, env)

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
        """Kill every worker, then print the tail of each log: pytest shows it when a test failed."""
        with self._lock:  # no supervisor starts a worker after this
            self._stopping = True
        for name, process in self.processes.items():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=60)
            print(f"----- worker {name} (exit code {process.returncode}), last lines of its log -----")
            print("\n".join(self.log(name).splitlines()[-LOG_TAIL:]))


__all__ = ("BIN", "HERE", "TESTS", "RedisServer", "Workers", "free_port")
