"""The demo as a real server: ``python -m litestar_workflows.demo`` on a free port, driven over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

STARTUP_SECONDS = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[httpx.Client]:
    """The demo server on a SQLite file in ``tmp_path``; always terminated at teardown."""
    port = free_port()
    env = {
        **os.environ,
        "WORKFLOWS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}",
        "WORKFLOWS_DEMO_REMINDER_SECONDS": "0",
    }
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "litestar_workflows.demo", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            wait_until_ready(client, process, tmp_path / "server.log")
            yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        log.close()


def wait_until_ready(client: httpx.Client, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll the health endpoint until it answers (bounded); fail with the server's log otherwise."""
    deadline = time.monotonic() + STARTUP_SECONDS
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


def as_(user: str) -> dict[str, str]:
    return {"X-User": user}


def test_a_large_expense_through_manager_and_finance(server: httpx.Client) -> None:
    assert "expense_approval" in {d["name"] for d in server.get("/workflows/definitions").json()}
    assert "maria" in server.get("/").json()["users"]
    assert server.get("/schema/openapi.json").status_code == 200

    started = server.post(
        "/workflows/instances",
        json={"definition_name": "expense_approval", "input_data": {"amount": 2500, "category": "travel"}},
        headers=as_("erik"),
    )
    assert started.status_code == 201, started.text
    instance_id = started.json()["id"]
    assert settled(server, instance_id)["current_step"] == "manager_approval"

    [task] = server.get("/workflows/tasks", params={"as": "maria"}).json()  # the query-string login
    assert (
        task["title"] == "Approve expense claim: 2,500.00 for travel by erik"
    )  # the inbox tells claims apart
    assert server.get("/workflows/tasks", headers=as_("fiona")).json() == []
    refused = server.post(
        f"/workflows/tasks/{task['id']}/complete",
        json={"output_data": {"approved": True}},
        headers=as_("erik"),
    )
    assert refused.status_code == 403
    approved = server.post(
        f"/workflows/tasks/{task['id']}/complete",
        json={"output_data": {"approved": True}, "comment": "fine"},
        headers=as_("maria"),
    )
    assert approved.status_code == 200, approved.text
    assert settled(server, instance_id)["current_step"] == "finance_approval"

    [finance] = server.get("/workflows/tasks", headers=as_("fiona")).json()  # via the finance group
    signed = server.post(
        f"/workflows/tasks/{finance['id']}/complete",
        json={"output_data": {"approved": True}},
        headers=as_("fiona"),
    )
    assert signed.status_code == 200, signed.text

    done = settled(server, instance_id, until="completed")
    assert done["data"]["decision"] == "approved"
    assert done["data"]["employee_notified"] == "expense of 2500 approved"
    assert done["data"]["receipt_reminder_sent"] is True  # the timer fired, durably
    graph = server.get(f"/workflows/instances/{instance_id}/graph").json()
    assert graph["states"]["close"] == "completed"
    assert graph["states"]["receipt_reminder"] == "completed"


def settled(server: httpx.Client, instance_id: str, until: str | None = None) -> Any:
    """The instance once it settles (or reaches ``until``), by the API's long poll."""
    params: dict[str, Any] = {"wait": 20} if until is None else {"wait": 20, "until": until}
    body = server.get(f"/workflows/instances/{instance_id}", params=params, timeout=30).json()
    assert until is None or body["status"] == until, body
    return body
