"""The CLI's operations beyond start/complete/cancel/retry, and its database safety, on a SQLite file.

Pause, resume, claim, reassign and webhook delivery; instance filters; ``migrate current``,
``history`` and ``downgrade``; and a command run where the database file is not, which must
refuse to create an empty one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.cli._utils import LitestarEnv
from litestar.cli.main import litestar_group

from litestar_workflows import (
    AssigneeAuthorizer,
    BaseHumanStep,
    BaseMachineStep,
    CreatorOrAdminAuthorizer,
    Edge,
    WebhookStep,
    WorkflowContext,
    WorkflowDefinition,
)
from litestar_workflows.db.migrate import head_revision, revision_history
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

GROUPS = {"wally": ("warehouse",), "wendy": ("warehouse",), "ada": ("admins",)}


class Pack(BaseHumanStep):
    name = "pack"
    title = "Pack the parcel"
    assignee_group = "warehouse"
    form_schema = {"type": "object", "properties": {"weight": {"type": "number"}}, "required": ["weight"]}


class Ship(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> None:
        context.set("shipped", context.get("payment", {}).get("ref"))


parcel = WorkflowDefinition(
    name="parcel",
    version="1.0.0",
    description="Waits for the payment callback, then for someone in the warehouse to pack it",
    steps={"paid": WebhookStep("paid", callback_key="payment"), "pack": Pack(), "ship": Ship("ship")},
    edges=[Edge("paid", "pack"), Edge("pack", "ship")],
    initial_step="paid",
)


def parcel_app(url: str) -> Litestar:
    config = WorkflowPluginConfig(
        database_url=url,
        auto_register_workflows=[parcel],
        engine_options={
            "authorizer": AssigneeAuthorizer(groups_of=lambda user: GROUPS.get(user, ())),
            "lease_seconds": 0.0,
        },
        instance_authorizer=CreatorOrAdminAuthorizer(["admins"], groups_of=lambda user: GROUPS.get(user, ())),
    )
    return Litestar(plugins=[WorkflowPlugin(config)])


def invoker(url: str, cwd: Path) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str, code: int = 0) -> Result:
        env = LitestarEnv(app_path="tests:parcel_app", app=parcel_app(url), cwd=cwd)
        result = runner.invoke(litestar_group, ["workflows", *args], obj=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        return result

    return invoke


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., Result]:
    invoke = invoker(f"sqlite+aiosqlite:///{tmp_path / 'parcels.db'}", tmp_path)
    invoke("migrate")
    return invoke


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def error_of(result: Result) -> str:
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("Error: ")
    return line


def test_a_parcel_through_pause_resume_webhook_claim_and_reassign(cli: Callable[..., Result]) -> None:
    started = as_json(cli("start", "parcel", "--user", "erik", "--json"))
    instance_id = started["id"]
    assert (started["status"], started["current_step"]) == ("waiting", "paid")

    assert "may not pause" in error_of(cli("pause", instance_id, "--user", "wally", code=1))
    assert as_json(cli("pause", instance_id, "--user", "erik", "--json"))["status"] == "paused"
    paused = as_json(
        cli("instances", "--status", "paused", "--workflow", "parcel", "--version", "1.0.0", "--json")
    )
    assert [i["id"] for i in paused["items"]] == [instance_id]
    assert as_json(cli("instances", "--version", "9.9.9", "--json"))["total"] == 0
    assert error_of(cli("webhook", instance_id, "paid", "--data", '{"ref": "p-1"}', code=1))
    assert as_json(cli("instance", instance_id, "--json"))["status"] == "paused"
    assert (
        as_json(cli("resume", instance_id, "--user", "ada", "--group", "admins", "--json"))["status"]
        == "waiting"
    )
    assert error_of(cli("resume", instance_id, code=1))  # not paused any more

    assert "not valid JSON" in error_of(cli("webhook", instance_id, "paid", "--data", "{", code=2))
    assert "no webhook step" in error_of(cli("webhook", instance_id, "pack", "--data", "{}", code=1))
    delivered = as_json(cli("webhook", instance_id, "paid", "--data", '{"ref": "p-1"}', "--json"))
    assert (delivered["status"], delivered["current_step"]) == ("waiting", "pack")
    assert delivered["data"]["payment"] == {"ref": "p-1"}
    assert [i["id"] for i in as_json(cli("instances", "--step", "pack", "--json"))["items"]] == [instance_id]
    assert as_json(cli("instances", "--step", "paid", "--json"))["total"] == 0

    [task] = as_json(cli("tasks", "--group", "warehouse", "--json"))["items"]
    assert task["assignee_id"] is None
    assert error_of(cli("claim", task["id"], "--user", "erik", code=1))
    claimed = as_json(cli("claim", task["id"], "--user", "wally", "--json"))
    assert claimed["assignee_id"] == "wally"
    assert "wally" in cli("claim", task["id"], "--user", "wally").stdout  # a table naming the holder
    assert "already assigned" in error_of(cli("claim", task["id"], "--user", "wendy", code=1))
    moved = as_json(cli("reassign", task["id"], "wendy", "--user", "wally", "--reason", "lunch", "--json"))
    assert moved["assignee_id"] == "wendy"
    assert "may not" in error_of(
        cli("complete", task["id"], "--user", "wally", "--data", '{"weight": 2}', code=1)
    )
    done = as_json(cli("complete", task["id"], "--user", "wendy", "--data", '{"weight": 2}', "--json"))
    assert (done["status"], done["data"]["shipped"]) == ("completed", "p-1")


def test_migrate_current_history_and_downgrade(cli: Callable[..., Result]) -> None:
    head = head_revision()
    assert cli("migrate", "current").stdout.strip() == f"{head} (head: up to date)"
    history = cli("migrate", "history").stdout.strip().splitlines()
    assert len(history) == len(revision_history()) >= 2
    assert history[0].startswith(f"{revision_history()[0][1]} -> {head} (head, current): ")
    assert history[-1].startswith("<base> -> ")

    assert "--yes" in error_of(cli("migrate", "downgrade", "base", code=2))
    assert cli("migrate", "current").stdout.strip().startswith(head)  # nothing was dropped
    first = revision_history()[-1][0]
    assert (
        cli("migrate", "downgrade", first, "--yes").stdout.strip()
        == f"the workflows database is now at {first}"
    )
    assert f"{first} (head is {head})" in cli("migrate", "current").stdout
    assert "no workflows tables" in cli("migrate", "downgrade", "base", "--yes").stdout
    assert "no workflows schema yet" in cli("migrate", "current").stdout
    assert "nope" in error_of(cli("migrate", "downgrade", "nope", "--yes", code=1))
    cli("migrate")
    assert "up to date" in cli("migrate", "current").stdout


def test_a_command_from_the_wrong_directory_does_not_create_an_empty_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    relative = "sqlite+aiosqlite:///workflows.db"  # resolved from where the command runs
    monkeypatch.chdir(project)
    invoker(relative, project)("migrate")
    assert (project / "workflows.db").exists()

    monkeypatch.chdir(elsewhere)
    wrong = invoker(relative, elsewhere)
    for command in (("instances",), ("tasks",), ("start", "parcel"), ("worker",), ("migrate", "current")):
        line = error_of(wrong(*command, code=1))
        assert f"the workflows database {elsewhere / 'workflows.db'} does not exist" in line, line
    assert not (elsewhere / "workflows.db").exists()
    # Listing the history needs no database; it only leaves out which revision is current.
    assert "(current)" not in wrong("migrate", "history").stdout
    assert not (elsewhere / "workflows.db").exists()

    monkeypatch.chdir(project)
    assert invoker(relative, project)("instances", "--json").exit_code == 0
