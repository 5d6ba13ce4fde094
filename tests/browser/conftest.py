"""Real-browser fixtures: Debian's Chromium driven by Playwright against the demo served by uvicorn.

* ``browser``: headless Chromium from ``/usr/bin/chromium`` (``WORKFLOWS_CHROMIUM`` overrides it;
  Playwright's own browser download is not used). Missing Chromium or Playwright skips the tests
  with the reason, unless ``WORKFLOWS_REQUIRE_SERVICES=1`` (CI), where it fails them.
* ``demo``: ``python -m litestar_workflows.demo`` on a free port and a new SQLite file, stopped
  after the test. The receipt reminder is set to 0 s, so an approved claim finishes at once.
* ``demo.as_user(name)``: a new browser context (its own cookies) signed in with ``?as=name``;
  every request any of the test's pages makes is recorded, and ``demo.outside()`` lists those
  that went anywhere but the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from browser_kit import CHROMIUM, STARTUP_SECONDS, Demo, free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("WORKFLOWS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (WORKFLOWS_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium for the module's tests (each test opens contexts of its own)."""
    if not Path(CHROMIUM).exists():
        _skip_or_fail(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail("playwright is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def demo(browser: Browser, tmp_path: Path) -> Iterator[Demo]:
    """The demo on a free port and a new SQLite file; every request checked to stay on the server."""
    port = free_port()
    env = {
        **os.environ,
        "WORKFLOWS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "WORKFLOWS_DEMO_REMINDER_SECONDS": "0",
    }
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "litestar_workflows.demo", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        running = Demo(f"http://127.0.0.1:{port}", browser)
        try:
            _wait_until_ready(running, process, log_path)
            yield running
            assert running.outside() == [], "the browser asked for something outside the server"
        finally:
            for context in running.contexts:
                context.close()
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_until_ready(demo: Demo, process: subprocess.Popen[Any], log: Path) -> None:
    """Poll the health endpoint until it answers (bounded); fail with the server's log otherwise."""
    deadline = time.monotonic() + STARTUP_SECONDS
    with demo.api() as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"the demo server exited with {process.returncode}:\n{log.read_text()}")
            try:
                if client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)  # polling a port for readiness, not synchronising with the app
    pytest.fail(f"the demo server did not answer within {STARTUP_SECONDS}s:\n{log.read_text()}")
