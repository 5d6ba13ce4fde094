"""``litestar workflows ...``: run and inspect workflows from the command line.

The commands use the engine of the app's :class:`~litestar_workflows.web.plugin.WorkflowPlugin`,
opened (and migrated, when the plugin is configured to, for every command but those that only read:
``instances``, ``instance`` and ``tasks``) for each command and stopped after it,
so they see exactly what the web app sees; ``worker`` also runs its background work (recovery,
due timers) until interrupted. A command lets the instance it touched run on for ``--wait``
seconds; whatever still runs when it exits is taken over by the server or a worker once its lease
expires. Output is a table by default, JSON with ``--json``: the REST API's objects (an instance
for the commands that act on one, a task for ``claim`` and ``reassign``), with ``instances`` and
``tasks`` printing ``{"items": [...], "total", "limit", "offset"}`` (the API answers the array
alone, with the total in ``X-Total-Count``) and ``show`` printing ``{"definition": ..., "mermaid": ...}``.
Errors print one line on stderr and exit with status 1 (2 for bad input).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

import rich_click as click
from click.exceptions import Exit
from litestar.cli._utils import LitestarGroup

from litestar_workflows.core.errors import ContextSerializationError, WorkflowsError, WorkflowValidationError
from litestar_workflows.core.types import HumanTaskStatus, WorkflowStatus
from litestar_workflows.runtime.jsondata import check_user_id
from litestar_workflows.store.base import InstanceQuery, TaskQuery
from litestar_workflows.web import cli_output as out
from litestar_workflows.web.engine import database_of, settled, start_key, start_or_get
from litestar_workflows.web.plugin import WorkflowPlugin
from litestar_workflows.web.presenters import (
    CORRELATION_KEY,
    definition_detail,
    definition_summary,
    instance_detail,
    instance_graph,
    instance_summary,
    task_out,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator
    from datetime import datetime
    from uuid import UUID

    from litestar import Litestar
    from sqlalchemy.ext.asyncio import AsyncEngine

    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.store.base import Page
    from litestar_workflows.web.engine import WorkflowEngine

__all__ = ("workflows_group",)

T = TypeVar("T")

EXIT_ERROR = 1
"""The operation failed (not found, not allowed, wrong state, database down...)."""
EXIT_USAGE = 2
"""The command line was wrong (as Click itself uses it), or the data it gave fails validation."""

BAD_INPUT: Final = (WorkflowValidationError,)
"""Errors that mean the caller's data is wrong, not the state: exit :data:`EXIT_USAGE`.

Input data failing a workflow's ``input_schema``, form data failing a task's form, a webhook
payload failing its schema (``TaskValidationError``) and data that is not JSON
(``ContextSerializationError``) are all ``WorkflowValidationError``s: the API answers them 422,
and running the command again unchanged can never succeed. Unknown names and ids (404),
refusals (403) and the wrong state (409: finished, not waiting, not pending any more) exit 1, as
over REST they are not 4xx-for-the-data: they depend on what the database holds and who acts.
"""


def _json_option(prints: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--json``, its help saying what the command prints instead of a table."""
    return click.option("--json", "as_json", is_flag=True, help=f"Print JSON instead of a table: {prints}.")


_JSON = _json_option("the instance, as the REST API's GET /instances/{id} answers it")
_JSON_TASK = _json_option("the task, as the REST API's GET /tasks/{id} answers it")
_JSON_DEFINITIONS = _json_option("the workflows, as the REST API's GET /definitions answers them")
_JSON_PAGE = _json_option(
    '{"items": [...], "total", "limit", "offset"}, the items being the REST API\'s objects '
    "(the API answers the array alone, with the total in X-Total-Count)"
)
_JSON_SHOW = _json_option(
    '{"definition": ..., "mermaid": ...}, the REST API\'s definition and its Mermaid source'
)
_WAIT = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds to let the instance run until it settles (finished or waiting for input); 0: don't.",
)


_ACTING_USER = click.option(
    "--user",
    default=None,
    help="Act as this user, who must be allowed to (the instance's creator or an administrator); "
    "without it the command acts as the operator, unchecked.",
)
_ACTING_GROUPS = click.option(
    "--group",
    "groups",
    multiple=True,
    help="A group the --user acts with, e.g. an administrators' group (repeatable).",
)


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    raise Exit(code)


def _plugin(app: Litestar) -> WorkflowPlugin:
    try:
        return app.plugins.get(WorkflowPlugin)
    except KeyError:
        _fail("the app has no WorkflowPlugin; add WorkflowPlugin(...) to its plugins")


def missing_sqlite_file(engine: object) -> Path | None:
    """The SQLite file the engine would use when it does not exist yet (else ``None``).

    Opening it would create an empty database: a command run from the wrong directory (with a
    relative path in the URL) would then show nothing, or start work nobody else sees.
    """
    db_engine = database_of(engine)
    if db_engine is None or db_engine.url.get_backend_name() != "sqlite":
        return None
    database = db_engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None  # in memory, or a URI filename whose mode says what to do
    path = Path(database).resolve()
    return None if path.exists() else path


def _require_database(plugin: WorkflowPlugin) -> None:
    missing = missing_sqlite_file(plugin.engine)
    if missing is not None:
        _fail(
            f"the workflows database {missing} does not exist (the app's database URL, resolved from "
            f"{Path.cwd()}); run the command where the database is, or create it with "
            "'litestar workflows migrate'"
        )


def _in_own_loop(plugin: WorkflowPlugin, main: Callable[[], Awaitable[T]]) -> T:
    """Run ``main`` in a new event loop and close the database connections it pooled before the loop ends.

    A PostgreSQL (asyncpg) connection works only on the loop that opened it, and the store's
    database engine is shared by every store of the process: when another app's store still holds
    a share (one whose command never ran the engine, or failed before it did), that engine is not
    disposed when this command's engine stops. A program or test that runs several commands in
    one process would then hand the next command's loop a connection of a loop that is gone.
    aiosqlite connections run on threads of their own and serve any loop, so SQLite keeps its pool.
    """

    async def run_and_close() -> T:
        try:
            return await main()
        finally:
            db_engine = database_of(plugin.engine)
            if db_engine is not None and db_engine.dialect.name != "sqlite":
                await db_engine.dispose()

    return asyncio.run(run_and_close())


def _run(
    app: Litestar,
    work: Callable[[WorkflowEngine], Awaitable[T]],
    *,
    background: bool = False,
    read_only: bool = False,
) -> T:
    """Run ``work`` with the plugin's engine, turning workflow errors into one line and an exit code.

    The engine is opened for the command (migrated first when the plugin is configured to, unless
    the command is ``read_only``) and stopped after it; only with ``background`` (the worker) does
    it also recover due work. A SQLite database file that does not exist is refused rather than
    created empty.
    """
    plugin = _plugin(app)
    _require_database(plugin)

    async def main() -> T:
        with _quiet_migrations():
            scope = plugin.runner.running() if background else plugin.runner.session(read_only=read_only)
            async with scope as engine:
                return await work(engine)

    try:
        return _in_own_loop(plugin, main)
    except WorkflowsError as error:
        _fail(error.detail, EXIT_USAGE if isinstance(error, BAD_INPUT) else EXIT_ERROR)


def _print_page(
    app: Litestar,
    find: Callable[[WorkflowEngine], Awaitable[Page[Any]]],
    present: Callable[[Any], Any],
    table: Callable[[list[Any], int, int], None],
    as_json: bool,
) -> None:
    """Print one page of a query: ``{"items", "total", "limit", "offset"}`` as JSON, or a table."""

    async def work(engine: WorkflowEngine) -> tuple[list[Any], Page[Any]]:
        page = await find(engine)
        return [present(item) for item in page.items], page

    items, page = _run(app, work, read_only=True)
    if as_json:
        out.print_json({"items": items, "total": page.total, "limit": page.limit, "offset": page.offset})
    else:
        table(items, page.total, page.offset)


@contextlib.contextmanager
def _quiet_migrations() -> Iterator[None]:
    """Keep Alembic's progress lines out of every command's output (``migrate`` still shows them)."""
    alembic_logger = logging.getLogger("alembic")
    level = alembic_logger.level
    alembic_logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_logger.setLevel(level)


def _data(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        _fail(f"--data is not valid JSON: {error}", EXIT_USAGE)
    if not isinstance(value, dict):
        _fail("--data must be a JSON object, e.g. '{\"amount\": 250}'", EXIT_USAGE)
    return value


_MAX_CORRELATION_ID: Final = 255
"""The longest ``--correlation-id``: the REST API's limit of ``correlation_id``."""


def _check_user(user: str | None) -> None:
    """Refuse a --user nobody could sign in as (blank, spaces around it, an invisible character)."""
    if user is not None and not user.strip():
        _fail("--user must name a user", EXIT_USAGE)
    try:
        check_user_id(user, "--user")
    except ContextSerializationError as error:
        _fail(error.detail, EXIT_USAGE)


def _check_acting(user: str | None, groups: tuple[str, ...]) -> None:
    _check_user(user)
    if groups and user is None:
        _fail("--group needs --user: groups say what the acting user may do", EXIT_USAGE)


def _show_instance(instance: WorkflowInstanceData, as_json: bool) -> None:
    body = instance_detail(instance)
    if as_json:
        out.print_json(body)
    else:
        out.print_instance(body)


@click.group(cls=LitestarGroup, name="workflows")
def workflows_group() -> None:
    """Run and inspect the workflows of the app's WorkflowPlugin."""


@click.command(name="list")
@click.option("--all-versions", is_flag=True, help="List every registered version, not only the newest.")
@_JSON_DEFINITIONS
def list_command(app: Litestar, all_versions: bool, as_json: bool) -> None:
    """List the registered workflows."""
    registry = _plugin(app).registry
    bodies = [
        definition_summary(d, registry.get_versions(d.name))
        for d in registry.list_definitions(active_only=not all_versions)
    ]
    if as_json:
        out.print_json(bodies)
    else:
        out.print_definitions(bodies)


@click.command(name="show")
@click.argument("name")
@click.option("--version", "version", default=None, help="A registered version (default: the newest).")
@_JSON_SHOW
def show_command(app: Litestar, name: str, version: str | None, as_json: bool) -> None:
    """Show a workflow's steps, edges and Mermaid diagram."""
    registry = _plugin(app).registry
    try:
        definition = registry.get_definition(name, version)
    except WorkflowsError as error:
        _fail(error.detail)
    body = definition_detail(definition, registry.get_versions(name))
    if as_json:
        out.print_json({"definition": body, "mermaid": definition.to_mermaid()})
    else:
        out.print_definition(body, definition.to_mermaid())


@click.command(name="start")
@click.argument("name")
@click.option("--data", "raw_data", default=None, help="Input data as a JSON object.")
@click.option("--version", "version", default=None, help="A registered version (default: the newest).")
@click.option("--user", default=None, help="Record this user as the creator.")
@click.option("--tenant", default=None, help="Start the instance for this tenant.")
@click.option(
    "--correlation-id",
    default=None,
    help="An id of yours (kept in the metadata) that makes the start idempotent: a second start with "
    "it shows the instance the first one started.",
)
@_WAIT
@_JSON
def start_command(
    *,
    app: Litestar,
    name: str,
    raw_data: str | None,
    version: str | None,
    user: str | None,
    tenant: str | None,
    correlation_id: str | None,
    wait: float,
    as_json: bool,
) -> None:
    """Start an instance of workflow NAME and show where it stands."""
    _check_user(user)
    if correlation_id is not None and not 1 <= len(correlation_id) <= _MAX_CORRELATION_ID:
        _fail(f"--correlation-id must be 1 to {_MAX_CORRELATION_ID} characters, as over REST", EXIT_USAGE)
    data = _data(raw_data)
    metadata = {CORRELATION_KEY: correlation_id} if correlation_id is not None else None

    async def work(engine: WorkflowEngine) -> WorkflowInstanceData:
        options: dict[str, Any] = {
            "version": version,
            "tenant_id": tenant,
            "created_by": user,
            "metadata": metadata,
        }
        if correlation_id is None:
            instance = await engine.start_workflow(name, data, **options)
        else:  # as over REST: one instance per workflow, correlation id and tenant
            instance, created = await start_or_get(
                engine, name, data, key=start_key(correlation_id, tenant), **options
            )
            if not created:
                click.echo(f"already started with correlation id {correlation_id!r}: {instance.id}", err=True)
        return await settled(engine, instance, wait)

    _show_instance(_run(app, work), as_json)


@click.command(name="instances")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice([s.value for s in WorkflowStatus]),
    help="Only this status (repeatable).",
)
@click.option("--workflow", default=None, help="Only instances of this workflow.")
@click.option("--version", "workflow_version", default=None, help="Only instances of this workflow version.")
@click.option("--created-by", default=None, help="Only instances started by this user.")
@click.option("--step", default=None, help="Only instances at this step (running, waiting or failed there).")
@click.option("--tenant", default=None, help="Only instances of this tenant.")
@click.option("--started-after", type=click.DateTime(), default=None, help="Started at or after (UTC).")
@click.option("--started-before", type=click.DateTime(), default=None, help="Started before (UTC).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@_JSON_PAGE
def instances_command(
    *,
    app: Litestar,
    statuses: tuple[str, ...],
    workflow: str | None,
    workflow_version: str | None,
    created_by: str | None,
    step: str | None,
    tenant: str | None,
    started_after: datetime | None,
    started_before: datetime | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List workflow instances, newest first."""
    query = InstanceQuery(
        status=[WorkflowStatus(s) for s in statuses] or None,
        workflow_name=workflow,
        workflow_version=workflow_version,
        created_by=created_by,
        current_step=step,
        tenant_id=tenant,
        started_after=None if started_after is None else started_after.replace(tzinfo=UTC),
        started_before=None if started_before is None else started_before.replace(tzinfo=UTC),
        limit=limit,
        offset=offset,
    )

    _print_page(
        app, lambda engine: engine.find_instances(query), instance_summary, out.print_instances, as_json
    )


@click.command(name="instance")
@click.argument("instance_id", type=click.UUID)
@click.option("--graph", is_flag=True, help="Also print the Mermaid diagram with the instance's progress.")
@_JSON
def instance_command(app: Litestar, instance_id: UUID, graph: bool, as_json: bool) -> None:
    """Show an instance: status, data and step history."""
    registry = _plugin(app).registry

    async def work(engine: WorkflowEngine) -> WorkflowInstanceData:
        return await engine.get_instance(instance_id)

    instance = _run(app, work, read_only=True)
    _show_instance(instance, as_json)
    if graph:
        try:
            definition = registry.get_definition(instance.workflow_name, instance.workflow_version)
        except WorkflowsError as error:
            _fail(error.detail)
        out.print_raw(instance_graph(definition, instance).mermaid)


@click.command(name="tasks")
@click.option("--assignee", default=None, help="Only tasks assigned to this user.")
@click.option("--group", default=None, help="Only tasks open to this group.")
@click.option(
    "--status",
    type=click.Choice([*(s.value for s in HumanTaskStatus), "all"]),
    default=HumanTaskStatus.PENDING.value,
    show_default=True,
)
@click.option("--instance", "instance_id", type=click.UUID, default=None, help="Only tasks of this instance.")
@click.option("--workflow", default=None, help="Only tasks of this workflow.")
@click.option("--tenant", default=None, help="Only tasks of this tenant.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0, show_default=True)
@_JSON_PAGE
def tasks_command(
    *,
    app: Litestar,
    assignee: str | None,
    group: str | None,
    status: str,
    instance_id: UUID | None,
    workflow: str | None,
    tenant: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List human tasks (pending ones unless --status says otherwise), oldest first."""
    query = TaskQuery(
        status=None if status == "all" else HumanTaskStatus(status),
        assignee_id=assignee,
        assignee_group=group,
        instance_id=instance_id,
        workflow_name=workflow,
        tenant_id=tenant,
        limit=limit,
        offset=offset,
    )

    _print_page(app, lambda engine: engine.find_tasks(query), task_out, out.print_tasks, as_json)


@click.command(name="complete")
@click.argument("task_id", type=click.UUID)
@click.option("--data", "raw_data", default=None, help="The task's form data as a JSON object.")
@click.option("--user", required=True, help="Complete the task as this user (who must be allowed to).")
@_WAIT
@_JSON
def complete_command(
    *, app: Litestar, task_id: UUID, raw_data: str | None, user: str, wait: float, as_json: bool
) -> None:
    """Complete human task TASK_ID and show where its instance went."""
    _check_user(user)
    data = _data(raw_data)

    async def work(engine: WorkflowEngine) -> WorkflowInstanceData:
        instance = await engine.complete_task(task_id, user, data)
        return await settled(engine, instance, wait)

    _show_instance(_run(app, work), as_json)


@click.command(name="cancel")
@click.argument("instance_id", type=click.UUID)
@click.option("--reason", default="", help="Why; kept with the instance's events.")
@_ACTING_USER
@_ACTING_GROUPS
@_JSON
def cancel_command(
    *,
    app: Litestar,
    instance_id: UUID,
    reason: str,
    user: str | None,
    groups: tuple[str, ...],
    as_json: bool,
) -> None:
    """Cancel an unfinished instance."""
    _check_acting(user, groups)

    async def work(engine: WorkflowEngine) -> WorkflowInstanceData:
        return await engine.cancel_workflow(instance_id, reason, user_id=user, groups=groups)

    _show_instance(_run(app, work), as_json)


@click.command(name="retry")
@click.argument("instance_id", type=click.UUID)
@click.option("--from-step", default=None, help="Restart from this step instead of the failed one.")
@_ACTING_USER
@_ACTING_GROUPS
@_WAIT
@_JSON
def retry_command(
    *,
    app: Litestar,
    instance_id: UUID,
    from_step: str | None,
    user: str | None,
    groups: tuple[str, ...],
    wait: float,
    as_json: bool,
) -> None:
    """Run a failed instance again from its failed step (or --from-step)."""
    _check_acting(user, groups)

    async def work(engine: WorkflowEngine) -> WorkflowInstanceData:
        instance = await engine.retry(instance_id, from_step, user_id=user, groups=groups)
        return await settled(engine, instance, wait)

    _show_instance(_run(app, work), as_json)


def _instance_action(
    app: Litestar,
    user: str | None,
    groups: tuple[str, ...],
    as_json: bool,
    act: Callable[[WorkflowEngine], Awaitable[WorkflowInstanceData]],
) -> None:
    _check_acting(user, groups)
    _show_instance(_run(app, act), as_json)


@click.command(name="pause")
@click.argument("instance_id", type=click.UUID)
@_ACTING_USER
@_ACTING_GROUPS
@_JSON
def pause_command(
    *, app: Litestar, instance_id: UUID, user: str | None, groups: tuple[str, ...], as_json: bool
) -> None:
    """Pause an instance: running steps finish, nothing new starts until resumed."""
    _instance_action(
        app,
        user,
        groups,
        as_json,
        lambda engine: engine.pause_workflow(instance_id, user_id=user, groups=groups),
    )


@click.command(name="resume")
@click.argument("instance_id", type=click.UUID)
@_ACTING_USER
@_ACTING_GROUPS
@_WAIT
@_JSON
def resume_command(
    *, app: Litestar, instance_id: UUID, user: str | None, groups: tuple[str, ...], wait: float, as_json: bool
) -> None:
    """Resume a paused instance where it stopped."""

    async def work(engine: WorkflowEngine) -> WorkflowInstanceData:
        instance = await engine.resume_workflow(instance_id, user_id=user, groups=groups)
        return await settled(engine, instance, wait)

    _instance_action(app, user, groups, as_json, work)


def _show_task(task: HumanTask, as_json: bool) -> None:
    body = task_out(task)
    if as_json:
        out.print_json(body)
    else:
        out.print_tasks([body], 1, 0)


@click.command(name="claim")
@click.argument("task_id", type=click.UUID)
@click.option(
    "--user", required=True, help="Claim the task for this user (who must be allowed to work on it)."
)
@_JSON_TASK
def claim_command(*, app: Litestar, task_id: UUID, user: str, as_json: bool) -> None:
    """Take an unassigned group task for --user."""
    _check_acting(user, ())

    async def work(engine: WorkflowEngine) -> HumanTask:
        return await engine.claim_task(task_id, user)

    _show_task(_run(app, work), as_json)


@click.command(name="reassign")
@click.argument("task_id", type=click.UUID)
@click.argument("new_assignee")
@click.option("--reason", default=None, help="Why; kept with the task's events.")
@click.option(
    "--user",
    default=None,
    help="Act as this user, who must be allowed to; without it the command acts as the operator, unchecked.",
)
@_JSON_TASK
def reassign_command(
    *, app: Litestar, task_id: UUID, new_assignee: str, reason: str | None, user: str | None, as_json: bool
) -> None:
    """Give pending task TASK_ID to NEW_ASSIGNEE."""
    _check_acting(user, ())
    if not new_assignee.strip():
        _fail("NEW_ASSIGNEE must name a user", EXIT_USAGE)

    async def work(engine: WorkflowEngine) -> HumanTask:
        return await engine.reassign_task(task_id, new_assignee, user_id=user, reason=reason)

    _show_task(_run(app, work), as_json)


@click.command(name="webhook")
@click.argument("instance_id", type=click.UUID)
@click.argument("step_name")
@click.option("--data", "raw_data", required=True, help="The payload, as JSON.")
@_WAIT
@_JSON
def webhook_command(
    *, app: Litestar, instance_id: UUID, step_name: str, raw_data: str, wait: float, as_json: bool
) -> None:
    """Deliver a payload to webhook step STEP_NAME, where the instance waits (as the operator, unsigned)."""
    try:
        payload = json.loads(raw_data)
    except json.JSONDecodeError as error:
        _fail(f"--data is not valid JSON: {error}", EXIT_USAGE)

    async def work(engine: WorkflowEngine) -> WorkflowInstanceData:
        instance = await engine.deliver_webhook(instance_id, step_name, payload)
        return await settled(engine, instance, wait)

    _show_instance(_run(app, work), as_json)


@click.group(name="migrate", cls=LitestarGroup, invoke_without_command=True)
def migrate_command(ctx: click.Context, app: Litestar) -> None:
    """Upgrade the workflows database schema to the latest version (or: current, history, downgrade)."""
    if ctx.invoked_subcommand is not None:
        return
    plugin = _plugin(app)
    runner = plugin.runner

    async def main() -> tuple[str | None, str | None] | None:
        from litestar_workflows.db.migrate import current_revision

        db_engine = database_of(runner.engine)
        try:
            if db_engine is None:
                return None
            try:
                before = await current_revision(db_engine)
            except WorkflowsError:
                before = None  # unreachable: the migration says so, naming the database
            await runner.migrate()
            return before, await current_revision(db_engine)
        finally:
            await runner.stop()  # releases the connections the migration opened

    try:
        revisions = _in_own_loop(plugin, main)
    except WorkflowsError as error:
        _fail(error.detail)
    if revisions is None:
        out.print_raw("nothing to migrate: the engine keeps its state in memory")
        return
    before, after = revisions
    if before == after:
        out.print_raw(f"the workflows database is up to date (revision {after})")
    elif before is None:
        out.print_raw(f"installed the workflows schema (revision {after})")
    else:
        out.print_raw(f"upgraded the workflows database from revision {before} to {after}")


async def _close_store(plugin: WorkflowPlugin) -> None:
    """Give back the store's database connections without stopping an engine that never ran.

    Stopping the engine would release its leases, in tables a downgrade may just have dropped
    (it logged a warning after every ``migrate downgrade base``); a migration command leases nothing.
    """
    close = getattr(getattr(plugin.engine, "store", None), "close", None)
    if close is None:
        await plugin.runner.stop()
        return
    await close()


def _migration_work(app: Litestar, work: Callable[[AsyncEngine], Awaitable[T]]) -> T | None:
    """Run ``work`` on the engine's database (``None``: the engine keeps its state in memory)."""
    plugin = _plugin(app)
    db_engine = database_of(plugin.engine)
    if db_engine is None:
        out.print_raw("nothing to migrate: the engine keeps its state in memory")
        return None
    _require_database(plugin)

    async def main() -> T:
        try:
            return await work(db_engine)
        finally:
            await _close_store(plugin)

    try:
        return _in_own_loop(plugin, main)
    except WorkflowsError as error:
        _fail(error.detail)


@click.command(name="current")
def migrate_current_command(app: Litestar) -> None:
    """Show the schema revision the database is at, and whether it is the newest."""
    from litestar_workflows.db.migrate import current_revision, head_revision

    revision = _migration_work(app, current_revision)
    if database_of(_plugin(app).engine) is None:
        return
    head = head_revision()
    if revision == head:
        out.print_raw(f"{revision} (head: up to date)")
    elif revision is None:
        out.print_raw(f"no workflows schema yet (head is {head}); run 'litestar workflows migrate'")
    else:
        out.print_raw(f"{revision} (head is {head}); run 'litestar workflows migrate' to upgrade")


@click.command(name="history")
def migrate_history_command(app: Litestar) -> None:
    """List the schema revisions, newest first, marking the head and the database's current one."""
    from litestar_workflows.db.migrate import current_revision, revision_history

    plugin = _plugin(app)
    current = None
    if database_of(plugin.engine) is not None and missing_sqlite_file(plugin.engine) is None:
        current = _migration_work(app, current_revision)
    for position, (revision, down, doc) in enumerate(revision_history()):
        marks = [m for m, on in (("head", position == 0), ("current", revision == current)) if on]
        label = f" ({', '.join(marks)})" if marks else ""
        out.print_raw(f"{down or '<base>'} -> {revision}{label}: {doc}")


@click.command(name="downgrade")
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Go ahead: a downgrade drops tables or columns and their data.")
def migrate_downgrade_command(app: Litestar, revision: str, yes: bool) -> None:
    """Migrate the schema down to REVISION ('base' removes every workflows table and its data)."""
    from litestar_workflows.db.migrate import current_revision, downgrade_database_async

    if not yes:
        _fail(
            f"downgrading to {revision!r} drops tables or columns and their data; add --yes to go ahead",
            EXIT_USAGE,
        )

    async def work(db_engine: AsyncEngine) -> str | None:
        with _quiet_migrations():
            await downgrade_database_async(db_engine, revision)
        return await current_revision(db_engine)

    if database_of(_plugin(app).engine) is None:
        out.print_raw("nothing to migrate: the engine keeps its state in memory")
        return
    now = _migration_work(app, work)
    out.print_raw(f"the workflows database is now at {now or '<base> (no workflows tables)'}")


@click.command(name="worker")
def worker_command(app: Litestar) -> None:
    """Run the engine without the web server (recovery, due timers) until interrupted.

    A distributed engine (SAQ) runs its broker's worker here instead: steps, sweep and timers.
    """
    run_worker = getattr(_plugin(app).engine, "run_worker", None)
    if run_worker is not None:
        _require_database(_plugin(app))
        out.print_raw("workflow worker running; Ctrl+C (or SIGTERM) stops it")
        try:
            asyncio.run(run_worker())
        except WorkflowsError as error:
            _fail(error.detail)
        out.print_raw("workflow worker stopped")
        return
    if database_of(_plugin(app).engine) is None:
        _fail(
            "the engine keeps its state in memory, so a separate worker has nothing to run; set database_url"
        )

    async def work(engine: WorkflowEngine) -> None:
        out.print_raw("workflow worker running; Ctrl+C (or SIGTERM) stops it")
        await _until_signalled()
        out.print_raw("workflow worker stopped")

    _run(app, work, background=True)


async def _until_signalled() -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread
            continue
        installed.append(sig)
    try:
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


for _command in (
    list_command,
    show_command,
    start_command,
    instances_command,
    instance_command,
    tasks_command,
    complete_command,
    claim_command,
    reassign_command,
    cancel_command,
    retry_command,
    pause_command,
    resume_command,
    webhook_command,
    migrate_command,
    worker_command,
):
    workflows_group.add_command(_command)
for _command in (migrate_current_command, migrate_history_command, migrate_downgrade_command):
    migrate_command.add_command(_command)
