"""``litestar workflows ...`` driven through Litestar's CLI group with Click's runner, on a SQLite file.

The worker's signal handling runs as a real ``litestar`` process on the demo app.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.cli._utils import LitestarEnv
from litestar.cli.main import litestar_group
from web_helpers import in_thread

from litestar_workflows import AssigneeAuthorizer, CreatorOrAdminAuthorizer, WorkflowRegistry, WorkflowStatus
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.demo.app import create_app
from litestar_workflows.demo.auth import ADMIN_GROUP, groups_of
from litestar_workflows.demo.workflows import DEMO_WORKFLOWS
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

if TYPE_CHECKING:
    from pathlib import Path


def cli_app(url: str) -> Litestar:
    """A small app with the demo's workflows on ``url``.

    Every command gets a fresh app, as every real command is a new process. Leases expire at
    once, so that work a command left unfinished is claimable by the next ``worker`` run.
    """
    config = WorkflowPluginConfig(
        database_url=url,
        auto_register_workflows=DEMO_WORKFLOWS,
        engine_options={"authorizer": AssigneeAuthorizer(groups_of=groups_of), "lease_seconds": 0.0},
        instance_authorizer=CreatorOrAdminAuthorizer([ADMIN_GROUP], groups_of=groups_of),
    )
    return Litestar(plugins=[WorkflowPlugin(config)])


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    runner = CliRunner()
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    def invoke(*args: str, code: int = 0) -> Result:
        env = LitestarEnv(app_path="tests:cli_app", app=cli_app(url), cwd=tmp_path)
        result = runner.invoke(litestar_group, ["workflows", *args], obj=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        return result

    invoke("migrate")  # commands other than migrate refuse to create the database file
    return invoke


def error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_list_and_show(cli: Any) -> None:
    table = cli("list").stdout
    for name in ("expense_approval", "leave_request", "document_review"):
        assert name in table
    assert [d["name"] for d in as_json(cli("list", "--json", "--all-versions"))] == [
        "document_review",
        "expense_approval",
        "leave_request",
    ]
    shown = cli("show", "expense_approval").stdout
    assert "finance_approval" in shown
    assert "context.get('approved') and context.get('amount') > 1000" in shown
    assert "graph TD" in shown
    body = as_json(cli("show", "leave_request", "--json"))
    assert body["definition"]["initial_step"] == "request_leave"
    assert body["mermaid"].startswith("graph TD")
    assert "not registered" in error_line(cli("show", "nope", code=1))


def test_an_approval_from_start_to_finish(cli: Any) -> None:
    started = as_json(
        cli("start", "expense_approval", "--data", '{"amount": 2500}', "--user", "erik", "--json")
    )
    instance_id = started["id"]
    assert (started["status"], started["current_step"], started["created_by"]) == (
        "waiting",
        "manager_approval",
        "erik",
    )

    tasks = as_json(cli("tasks", "--assignee", "maria", "--json"))
    [task] = tasks["items"]
    assert (task["step_name"], task["instance_id"]) == ("manager_approval", instance_id)
    table = cli("tasks").stdout
    assert task["id"] in table
    assert "1-1 of 1" in table

    assert "may not complete" in error_line(cli("complete", task["id"], "--user", "fiona", code=1))
    assert "spaces around it" in error_line(cli("complete", task["id"], "--user", " maria ", code=2))
    invalid = error_line(
        cli("complete", task["id"], "--user", "maria", "--data", '{"approved": "x"}', code=2)
    )
    assert "approved" in invalid
    assert "not valid JSON" in error_line(
        cli("complete", task["id"], "--user", "maria", "--data", "{", code=2)
    )
    assert "JSON object" in error_line(
        cli("complete", task["id"], "--user", "maria", "--data", "[1]", code=2)
    )

    after = as_json(cli("complete", task["id"], "--user", "maria", "--data", '{"approved": true}', "--json"))
    assert after["current_step"] == "finance_approval"
    [finance] = as_json(cli("tasks", "--group", "finance", "--json"))["items"]
    done = as_json(
        cli(
            "complete",
            finance["id"],
            "--user",
            "fiona",
            "--data",
            '{"approved": true}',
            "--json",
            "--wait",
            "10",
        )
    )
    assert done["data"]["decision"] == "approved"

    completed = as_json(cli("tasks", "--status", "completed", "--json"))
    assert completed["total"] == 2
    assert as_json(cli("tasks", "--status", "all", "--instance", instance_id, "--json"))["total"] == 2

    listed = as_json(cli("instances", "--workflow", "expense_approval", "--created-by", "erik", "--json"))
    assert [i["id"] for i in listed["items"]] == [instance_id]
    assert cli("instances", "--status", "failed", "--json").stdout.count('"id"') == 0
    shown = cli("instance", instance_id, "--graph").stdout
    assert "Step history" in shown
    assert "finance_approval" in shown
    assert "wf_completed" in shown


def test_data_failing_validation_is_bad_input_and_changes_nothing(cli: Any) -> None:
    # Exit 2, like unparsable --data: the data is wrong, whatever the database holds.
    negative = error_line(cli("start", "expense_approval", "--data", '{"amount": -1}', code=2))
    assert "amount: -1 is less than or equal to the minimum of 0" in negative
    assert "amount" in error_line(cli("start", "expense_approval", "--data", '{"amount": "lots"}', code=2))
    not_json = error_line(cli("start", "expense_approval", "--data", '{"amount": 1, "x": "\\ud800"}', code=2))
    assert "'x'" in not_json  # ContextSerializationError: a lone surrogate cannot be stored
    assert as_json(cli("instances", "--json"))["total"] == 0

    started = as_json(
        cli("start", "expense_approval", "--data", '{"amount": 50}', "--user", "erik", "--json")
    )
    [task] = as_json(cli("tasks", "--assignee", "maria", "--json"))["items"]
    form = error_line(cli("complete", task["id"], "--user", "maria", "--data", '{"approved": "yes"}', code=2))
    assert "approved: 'yes' is not of type 'boolean'" in form
    assert as_json(cli("instance", started["id"], "--json"))["current_step"] == "manager_approval"
    # Not found, not allowed and the wrong state stay 1: they depend on the database and the user.
    assert "not registered" in error_line(cli("start", "nope", code=1))
    assert "may not complete" in error_line(cli("complete", task["id"], "--user", "erik", code=1))


def test_cancel_and_retry(cli: Any) -> None:
    instance_id = as_json(cli("start", "leave_request", "--data", '{"days": 3}', "--json"))["id"]
    canceled = as_json(cli("cancel", instance_id, "--reason", "plans changed", "--json"))
    assert canceled["status"] == "canceled"
    assert "already" in error_line(cli("cancel", instance_id, code=1))
    assert error_line(cli("retry", instance_id, code=1))

    failing = as_json(cli("start", "leave_request", "--data", '{"days": -1}', "--json"))
    assert failing["status"] == "failed"
    assert "positive number" in failing["error"]
    retried = as_json(cli("retry", failing["id"], "--from-step", "request_leave", "--json"))
    assert retried["status"] == "failed"  # same data, same failure: retry keeps the context as it was

    assert "not found" in error_line(cli("instance", "00000000-0000-0000-0000-000000000000", code=1))
    assert cli("instance", "not-a-uuid", code=2).exit_code == 2


def test_cancel_and_retry_as_a_user(cli: Any) -> None:
    leave = ("start", "leave_request", "--data", '{"days": 3}', "--user", "erik", "--json")
    instance_id = as_json(cli(*leave))["id"]
    assert "'maria' may not cancel" in error_line(cli("cancel", instance_id, "--user", "maria", code=1))
    assert "--group needs --user" in error_line(cli("cancel", instance_id, "--group", ADMIN_GROUP, code=2))
    assert "must name a user" in error_line(cli("cancel", instance_id, "--user", " ", code=2))
    assert "spaces around it" in error_line(cli("cancel", instance_id, "--user", " maria ", code=2))
    for long_or_empty in ("", "x" * 256):
        refused = cli("start", "leave_request", "--correlation-id", long_or_empty, "--tenant", "acme", code=2)
        assert "--correlation-id must be 1 to 255" in error_line(refused)
    for creator in ("", " erik ", "er\u200bik"):  # nobody could sign in as these
        assert "--user" in error_line(
            cli("start", "leave_request", "--data", "{}", "--user", creator, code=2)
        )
    assert as_json(cli("instance", instance_id, "--json"))["status"] == "waiting"
    as_admin = ("--user", "fiona", "--group", ADMIN_GROUP)  # groups given on the command line count
    assert as_json(cli("cancel", instance_id, *as_admin, "--json"))["status"] == "canceled"

    other = as_json(cli(*leave))["id"]
    assert as_json(cli("cancel", other, "--user", "ada", "--json"))["status"] == "canceled"  # an admin

    failing = as_json(cli("start", "leave_request", "--data", '{"days": -1}', "--user", "erik", "--json"))
    assert "'maria' may not retry" in error_line(cli("retry", failing["id"], "--user", "maria", code=1))
    retried = as_json(cli("retry", failing["id"], "--user", "erik", "--json"))
    assert retried["status"] == "failed"  # retried (same data, same failure)
    assert len([run for run in retried["step_history"] if run["step_name"] == "request_leave"]) == 2


def test_migrate(cli: Any) -> None:
    assert "up to date" in cli("migrate").stdout
    assert "up to date" in cli("migrate").stdout  # idempotent


def test_errors_without_a_plugin_or_with_a_memory_engine(tmp_path: Path) -> None:
    runner = CliRunner()
    bare = LitestarEnv(app_path="x:app", app=Litestar(), cwd=tmp_path)
    result = runner.invoke(litestar_group, ["workflows", "list"], obj=bare)
    assert result.exit_code == 1
    assert "no WorkflowPlugin" in error_line(result)

    memory = LitestarEnv(app_path="x:app", app=create_app(in_memory=True), cwd=tmp_path)
    result = runner.invoke(litestar_group, ["workflows", "worker"], obj=memory)
    assert result.exit_code == 1
    assert "in memory" in error_line(result)
    result = runner.invoke(litestar_group, ["workflows", "migrate"], obj=memory)
    assert (result.exit_code, result.stdout.strip()) == (
        0,
        "nothing to migrate: the engine keeps its state in memory",
    )


def test_a_worker_takes_over_what_commands_leave(cli: Any, tmp_path: Path) -> None:
    started = as_json(
        cli("start", "expense_approval", "--data", '{"amount": 10, "reminder_seconds": 0}', "--json")
    )
    [task] = as_json(cli("tasks", "--json"))["items"]
    # The command ends (and stops its engine) before the instance is done; a worker finishes it.
    cli("complete", task["id"], "--user", "maria", "--data", '{"approved": true}', "--wait", "0")

    env = {
        **os.environ,
        "LITESTAR_APP": "litestar_workflows.demo.app:app",
        "WORKFLOWS_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
    }
    command = [sys.executable, "-m", "litestar", "workflows", "worker"]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert "worker running" in process.stdout.readline()
        finished = in_thread(lambda: asyncio.run(wait_until_completed(tmp_path / "cli.db", started["id"])))
        assert finished.data["receipt_reminder_sent"] is True
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert "worker stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


async def wait_until_completed(path: Path, instance_id: str) -> Any:
    """Watch the database (as another process would) until the worker has completed the instance."""
    engine = PersistentExecutionEngine(
        WorkflowRegistry(), url=f"sqlite+aiosqlite:///{path}", poll_interval=0.1
    )
    try:
        for definition in DEMO_WORKFLOWS:
            engine.registry.register_definition(definition)
        return await engine.wait(uuid.UUID(instance_id), until=WorkflowStatus.COMPLETED, timeout=30)
    finally:
        await engine.stop()


def test_start_with_a_correlation_id_is_idempotent(cli: Any) -> None:
    args = ("start", "expense_approval", "--data", '{"amount": 40}', "--user", "erik", "--json")
    first = cli(*args, "--correlation-id", "claim-7")
    assert "already started" not in first.stderr
    again = cli(*args, "--correlation-id", "claim-7")
    assert as_json(again)["id"] == as_json(first)["id"]
    assert "already started with correlation id 'claim-7'" in again.stderr
    other = cli(*args, "--correlation-id", "claim-8")
    assert as_json(other)["id"] != as_json(first)["id"]
    listed = as_json(cli("instances", "--workflow", "expense_approval", "--json"))
    assert listed["total"] == 2
