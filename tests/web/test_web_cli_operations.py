"""The CLI's operations beyond start/complete/cancel/retry, and its database safety.

Pause, resume, claim, reassign and webhook delivery; instance filters; ``migrate current``,
``history`` and ``downgrade`` -- on a SQLite file and on a private PostgreSQL schema, each command
a new process's worth of work (its own event loop, connections opened and released); and a
command run where the database file is not, which must refuse to create an empty one.
"""

from __future__ import annotations

import json
import logging
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.cli._utils import LitestarEnv
from litestar.cli.main import litestar_group
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from litestar_workflows import (
    AssigneeAuthorizer,
    BaseHumanStep,
    BaseMachineStep,
    CreatorOrAdminAuthorizer,
    Edge,
    WebhookStep,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
)
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.migrate import head_revision, revision_history
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from conftest import ScratchDatabase

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


def groups_of(user: str | None) -> tuple[str, ...]:
    return GROUPS.get(user or "", ())


def parcel_app(url: str) -> Litestar:
    config = WorkflowPluginConfig(
        database_url=url,
        auto_register_workflows=[parcel],
        engine_options={"authorizer": AssigneeAuthorizer(groups_of=groups_of), "lease_seconds": 0.0},
        instance_authorizer=CreatorOrAdminAuthorizer(["admins"], groups_of=groups_of),
    )
    return Litestar(plugins=[WorkflowPlugin(config)])


def schema_app(database: ScratchDatabase) -> Callable[[], Litestar]:
    """Apps on a PostgreSQL schema, reached through the one SQLAlchemy engine the apps share.

    A URL cannot name a schema, so an app that keeps its tables in one hands the plugin an engine
    on its own SQLAlchemy engine (whose connections set the search path) and asks it to migrate.
    The apps share that engine as apps built from one URL share the store's engine of that URL.
    """
    app_db = create_async_engine(database.url, poolclass=NullPool, **database.engine_options)

    def build() -> Litestar:
        engine = PersistentExecutionEngine(
            WorkflowRegistry(),
            session_factory=async_sessionmaker(app_db),
            authorizer=AssigneeAuthorizer(groups_of=groups_of),
            instance_authorizer=CreatorOrAdminAuthorizer(["admins"], groups_of=groups_of),
            lease_seconds=0.0,
        )
        config = WorkflowPluginConfig(engine=engine, auto_register_workflows=[parcel], auto_migrate=True)
        return Litestar(plugins=[WorkflowPlugin(config)])

    return build


def invoker(database: str | ScratchDatabase, cwd: Path) -> Callable[..., Result]:
    """Run one CLI command on a new app each time, as a separate process would (``database``: its URL)."""
    runner = CliRunner()
    build = partial(parcel_app, database if isinstance(database, str) else database.url)
    if not isinstance(database, str) and database.schema is not None:
        build = schema_app(database)

    def invoke(*args: str, code: int = 0) -> Result:
        env = LitestarEnv(app_path="tests:parcel_app", app=build(), cwd=cwd)
        result = runner.invoke(litestar_group, ["workflows", *args], obj=env)
        assert result.exit_code == code, (args, result.stdout, result.stderr, result.exception)
        return result

    return invoke


@pytest.fixture
def cli(scratch_database: ScratchDatabase, tmp_path: Path) -> Callable[..., Result]:
    """The CLI on a migrated database of the test's own: a SQLite file, then a PostgreSQL schema."""
    invoke = invoker(scratch_database, tmp_path)
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


def test_commands_run_one_after_another_in_one_process(cli: Callable[..., Result]) -> None:
    # Each command runs in an event loop of its own. ``list`` and ``show`` never touch the database,
    # so their apps never stop their engines and keep a share of the process's database engine:
    # a PostgreSQL connection pooled by one command must not be handed to the next one's loop.
    instance_id = as_json(cli("start", "parcel", "--user", "erik", "--json"))["id"]
    assert [d["name"] for d in as_json(cli("list", "--json"))] == ["parcel"]
    assert as_json(cli("show", "parcel", "--json"))["definition"]["name"] == "parcel"
    assert as_json(cli("instance", instance_id, "--json"))["status"] == "waiting"
    assert as_json(cli("pause", instance_id, "--user", "erik", "--json"))["status"] == "paused"
    assert cli("migrate", "current").stdout.strip() == f"{head_revision()} (head: up to date)"
    assert as_json(cli("instances", "--status", "paused", "--json"))["total"] == 1


class Records(logging.Handler):
    """Keeps the records of one logger (each app the CLI builds configures the root logger anew)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def warnings_logged() -> Iterator[list[logging.LogRecord]]:
    handler = Records()
    logger = logging.getLogger("litestar_workflows")
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


def test_migrate_current_history_and_downgrade(
    cli: Callable[..., Result], warnings_logged: list[logging.LogRecord]
) -> None:
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
    # The commands ran no workflow, so nothing tried to release leases in the tables just dropped.
    assert [r.getMessage() for r in warnings_logged] == []
    assert "no workflows schema yet" in cli("migrate", "current").stdout
    assert "nope" in error_of(cli("migrate", "downgrade", "nope", "--yes", code=1))
    assert cli("migrate").stdout.strip() == f"installed the workflows schema (revision {head})"
    assert "up to date" in cli("migrate", "current").stdout
    cli("migrate", "downgrade", first, "--yes")
    assert cli("migrate").stdout.strip() == f"upgraded the workflows database from revision {first} to {head}"
    assert cli("migrate").stdout.strip() == f"the workflows database is up to date (revision {head})"


def test_commands_that_only_read_never_migrate(cli: Callable[..., Result]) -> None:
    """``instances``, ``instance`` and ``tasks`` leave an older schema as it is and say what to run.

    Other servers may still run the older release against that database: a listing must not
    change its schema. A command that acts (``start``) migrates as the plugin is configured to.
    """
    head, first = head_revision(), revision_history()[-1][0]
    instance_id = as_json(cli("start", "parcel", "--data", '{"weight": 1}', "--user", "erik", "--json"))["id"]
    cli("migrate", "downgrade", first, "--yes")
    # A query the older tables cannot answer names the upgrade; one they can answer is answered.
    assert "litestar workflows migrate" in error_of(cli("instances", code=1))
    assert f"{first} (head is {head})" in cli("migrate", "current").stdout
    assert as_json(cli("tasks", "--json"))["total"] == 0
    assert f"{first} (head is {head})" in cli("migrate", "current").stdout
    assert "litestar workflows migrate" in error_of(cli("instance", instance_id, code=1))
    assert f"{first} (head is {head})" in cli("migrate", "current").stdout
    cli("start", "parcel", "--data", '{"weight": 2}', "--user", "erik")
    assert cli("migrate", "current").stdout.strip() == f"{head} (head: up to date)"
    assert as_json(cli("instances", "--json"))["total"] == 2


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

    # Back in the project, the same URL is the project's file again: not a connection pooled by
    # an engine made for the same text elsewhere (the refused commands built their apps there).
    monkeypatch.chdir(project)
    started = invoker(relative, project)("start", "parcel", "--data", '{"weight": 1}', "--json")
    listed = as_json(invoker(relative, project)("instances", "--json"))
    assert [item["id"] for item in listed["items"]] == [as_json(started)["id"]]
    assert not (elsewhere / "workflows.db").exists()
