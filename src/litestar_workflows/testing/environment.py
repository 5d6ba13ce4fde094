"""An engine on a :class:`ManualClock`, with the few verbs a workflow test needs.

A test starts an instance, lets it run until nothing more happens without a person or the
passage of time (:meth:`WorkflowTestEnvironment.run_until_settled`), completes a task, skips
three days (:meth:`WorkflowTestEnvironment.advance`) and looks at the result: no sleeping and no
polling, on the memory store, a temporary SQLite database or a throwaway PostgreSQL schema.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar_workflows.core.errors import TaskNotFoundError
from litestar_workflows.core.types import HumanTaskStatus, WorkflowStatus
from litestar_workflows.engine.local import LocalExecutionEngine
from litestar_workflows.engine.registry import WorkflowRegistry
from litestar_workflows.testing.clock import ManualClock

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncEngine

    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData

_FINISHED = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED})
_SKIP_LIMIT = timedelta(days=3660)
"""How far ``run_until_settled(skip_time=True)`` jumps ahead before it calls a workflow endless."""
_QUIET_POLL = 3600.0
"""The persistent engine's sweep interval in a test: the test moves time, the sweep stays out."""


class WorkflowTestEnvironment:
    """A workflow engine whose time a test controls, and helpers to drive instances through it.

    Build one with :meth:`start` (memory store), ``start(sqlite=True)`` (a migrated SQLite
    database in a temporary directory, removed by :meth:`stop`) or ``start(database_url=...)``
    (on PostgreSQL: a migrated schema of its own, dropped by :meth:`stop`), or wrap an engine built
    on a :class:`ManualClock` yourself. Use it as an async context manager or call :meth:`stop`.

    Examples:
        >>> async with await WorkflowTestEnvironment.start(definition) as env:  # doctest: +SKIP
        ...     instance = await env.start_workflow("request", {"title": "laptop"})
        ...     await env.advance(timedelta(days=3))
    """

    def __init__(
        self, engine: LocalExecutionEngine, clock: ManualClock, *, directory: Path | None = None
    ) -> None:
        if engine.clock is not clock:
            raise ValueError("the engine must read its time from the environment's clock (clock=...)")
        self.engine = engine
        self.clock = clock
        self.registry = engine.registry
        self._directory = directory
        self._engine_options: dict[str, Any] = {}
        self._database: _Database | None = None

    # ------------------------------------------------------------------ lifecycle

    @classmethod
    async def start(
        cls,
        *workflows: Any,
        sqlite: bool | str | Path = False,
        database_url: str | None = None,
        registry: WorkflowRegistry | None = None,
        start_time: datetime | None = None,
        **engine_options: Any,
    ) -> WorkflowTestEnvironment:
        """Build and start an engine on a new :class:`ManualClock`, with ``workflows`` registered.

        Args:
            *workflows: Workflow classes or definitions to register.
            sqlite: ``True``: a new SQLite database in a temporary directory (needs the ``db``
                extra), migrated to the latest schema; a path: that database file (migrated).
                ``False`` (default): the memory store.
            database_url: Run on this database instead (needs the ``db`` extra). A PostgreSQL
                URL (e.g. ``postgresql+asyncpg://...``) gets a schema of the environment's own,
                with a random name, migrated, and dropped with everything in it by :meth:`stop`:
                tests share one server without seeing each other's rows. Any other URL (a SQLite
                file) is used as it is, migrated.
            registry: The registry to use (default: a new one).
            start_time: What the clock shows first (default: the real time now).
            **engine_options: More keyword arguments for the engine (``authorizer``...).

        Returns:
            The started environment.

        Raises:
            ValueError: Both ``sqlite`` and ``database_url`` were given.
        """
        if sqlite is not False and database_url is not None:
            raise ValueError("give sqlite=... or database_url=..., not both")
        registry = registry or WorkflowRegistry()
        for workflow in workflows:
            registry.register(workflow)
        clock = ManualClock(start_time)
        if sqlite is False and database_url is None:
            engine = LocalExecutionEngine(registry, clock=clock, **engine_options)
            env = cls(engine, clock)
        else:
            directory = None
            if sqlite is True:
                directory = Path(tempfile.mkdtemp(prefix="workflows-test-"))
                sqlite = directory / "workflows.sqlite3"
            if database_url is None:
                database_url = f"sqlite+aiosqlite:///{sqlite}"
            database = await _Database.open(database_url)
            try:
                engine = await _persistent_engine(registry, clock, database, engine_options)
            except BaseException:
                await database.close()
                if directory is not None:
                    shutil.rmtree(directory, ignore_errors=True)
                raise
            env = cls(engine, clock, directory=directory)
            env._engine_options = engine_options
            env._database = database
        try:
            await env.engine.start()
        except BaseException:
            await env.stop()
            raise
        return env

    @property
    def database_url(self) -> str | None:
        """The database URL of a persistent environment (``None`` on the memory store)."""
        if self._database is not None:
            return self._database.url
        store = getattr(self.engine, "sql_store", None)
        return None if store is None else str(store.db_engine.url)

    @property
    def schema(self) -> str | None:
        """The PostgreSQL schema the environment made for itself (``None`` elsewhere)."""
        return None if self._database is None else self._database.schema

    async def restart(self) -> None:
        """Stop the engine and start a new one on the same database and clock (a process restart).

        What the old engine held only in memory is gone; the new one recovers from the database.

        Raises:
            RuntimeError: The environment runs on the memory store, which a restart would empty.
        """
        url = self.database_url
        if url is None:
            raise RuntimeError("restart() needs a persistent environment: start(sqlite=True) or database_url")
        await self.engine.stop()
        if self._database is None:  # an engine the test built and wrapped: a new one on its URL
            from litestar_workflows.db.engine import PersistentExecutionEngine

            options = {"poll_interval": _QUIET_POLL, **self._engine_options}
            self.engine = PersistentExecutionEngine(
                self.registry, url=url, clock=self.clock, background=False, **options
            )
        else:
            self.engine = await _persistent_engine(
                self.registry, self.clock, self._database, self._engine_options, migrate=False
            )
        await self.engine.start()

    async def stop(self) -> None:
        """Stop the engine and remove the temporary database or schema, if this environment made one."""
        try:
            await self.engine.stop()
        finally:
            try:
                if self._database is not None:
                    await self._database.close()
            finally:
                if self._directory is not None:
                    shutil.rmtree(self._directory, ignore_errors=True)
                    self._directory = None

    async def __aenter__(self) -> WorkflowTestEnvironment:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ driving

    def register(self, workflow: Any) -> Any:
        """Register a workflow class or definition; returns it (usable as a class decorator)."""
        return self.registry.register(workflow)

    async def start_workflow(
        self, workflow: Any, data: dict[str, Any] | None = None, **options: Any
    ) -> WorkflowInstanceData:
        """Start an instance and run it until it settles (see :meth:`run_until_settled`).

        ``options`` go to the engine's ``start_workflow`` (``version``, ``created_by``, ``key``...).
        """
        instance = await self.engine.start_workflow(workflow, data, **options)
        return await self.run_until_settled(instance)

    async def run_until_settled(
        self, instance: WorkflowInstanceData | UUID, *, skip_time: bool = False
    ) -> WorkflowInstanceData:
        """Run until nothing more happens without a person acting or time passing; return the instance.

        Args:
            instance: The instance (or its id).
            skip_time: Also jump the clock to each timer the engine has armed (timer steps,
                retry back-offs, task due dates) until the instance finishes or only people can
                move it on -- a three-day wait takes no time at all.

        Raises:
            RuntimeError: With ``skip_time``, timers kept firing for ten years of clock time.
        """
        instance_id = _id_of(instance)
        await self.settle()
        if skip_time:
            limit = self.clock() + _SKIP_LIMIT
            while (current := await self.engine.get_instance(instance_id)).status not in _FINISHED:
                due = self.clock.next_due
                if due is None:
                    return current
                if due > limit:
                    raise RuntimeError(f"instance {instance_id} still runs after ten years of timers")
                await self.clock.advance_to(due, settle=self._settle_and_recover)
        return await self.engine.get_instance(instance_id)

    async def advance(self, delta: timedelta | float) -> datetime:
        """Let ``delta`` (a ``timedelta`` or seconds) pass: due timers fire in order, at once.

        Everything a timer starts runs before the clock moves on. With a database, work whose
        time came that only the database knows of (armed by an engine before a :meth:`restart`)
        is claimed too. Returns the clock's new time.
        """
        return await self.clock.advance(delta, settle=self._settle_and_recover)

    async def settle(self) -> None:
        """Wait until the engine runs nothing: every started step, timer and commit is done.

        A step that never returns keeps this waiting (the test's timeout names it).
        """
        current = asyncio.current_task()
        while True:
            await asyncio.sleep(0)  # let ready callbacks run: eager starts, timers due now
            if self.clock.busy:
                continue
            running = [
                task
                for live in list(self.engine._live.values())
                for task in list(live.running.values())
                if asyncio.isfuture(task) and not task.done() and task is not current
            ]
            if not running:
                return
            await asyncio.wait(running)

    async def _settle_and_recover(self) -> None:
        await self.settle()
        if getattr(self.engine, "sql_store", None) is not None and await self.engine.recover():
            await self.settle()

    # ------------------------------------------------------------------ people

    async def pending_tasks(self, instance: WorkflowInstanceData | UUID | None = None) -> list[HumanTask]:
        """Pending human tasks, oldest first: of ``instance``, or all of them."""
        if instance is None:
            return await self.engine.get_pending_tasks()
        page = await self.engine.find_tasks(
            status=HumanTaskStatus.PENDING, instance_id=_id_of(instance), limit=1000
        )
        return list(page.items)

    async def complete_task(
        self,
        instance: WorkflowInstanceData | UUID,
        step: str,
        *,
        user: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> WorkflowInstanceData:
        """Complete the pending task of ``step`` and run the instance until it settles again.

        Args:
            instance: The instance (or its id).
            step: The human step whose task to complete.
            user: Who completes it; default: the task's assignee (a task offered to a group
                needs a user named here).
            data: The form data (validated against the task's form, as in production).

        Returns:
            The instance once it settled.

        Raises:
            TaskNotFoundError: The instance has no pending task at ``step``.
            ValueError: No ``user`` given and the task has no assignee.
        """
        instance_id = _id_of(instance)
        if user is None:
            user = _assignee(await self.pending_tasks(instance_id), step, instance_id)
        await self.engine.complete_human_task(instance_id, step, user, data)
        return await self.run_until_settled(instance_id)


def _id_of(instance: WorkflowInstanceData | UUID) -> UUID:
    return instance if isinstance(instance, UUID) else instance.id


def _assignee(tasks: Iterable[HumanTask], step: str, instance_id: UUID) -> str:
    for task in tasks:
        if task.step_name == step:
            if task.assignee_id is None:
                raise ValueError(
                    f"the task of step {step!r} is offered to group {task.assignee_group!r}, "
                    "not to one user: say who completes it (user=...)"
                )
            return task.assignee_id
    raise TaskNotFoundError(f"instance {instance_id} has no pending task at step {step!r}")


class _Database:
    """The database of a persistent environment: its store engine, and the schema made for it.

    The environment owns the store engine (so a :meth:`WorkflowTestEnvironment.restart` keeps the
    database and only replaces the workflow engine) and disposes of it, then drops its schema.
    """

    def __init__(self, url: str, db_engine: AsyncEngine, schema: str | None) -> None:
        self.url = url
        self.db_engine = db_engine
        self.schema = schema
        self._closed = False

    @classmethod
    async def open(cls, url: str) -> _Database:
        try:
            from sqlalchemy import make_url

            from litestar_workflows.db.connection import create_store_engine
        except ImportError as error:  # pragma: no cover - depends on the installed extras
            msg = "a persistent test environment needs the db extra: pip install 'litestar-workflows[db]'"
            raise ImportError(msg) from error
        if make_url(url).get_backend_name() != "postgresql":
            return cls(url, create_store_engine(url), None)
        schema = f"workflows_test_{uuid.uuid4().hex[:16]}"
        await _execute(url, f'CREATE SCHEMA "{schema}"')
        return cls(url, create_store_engine(url, connect_args=_search_path(url, schema)), schema)

    async def close(self) -> None:
        """Dispose of the store engine and drop the schema this environment made (once)."""
        if self._closed:
            return
        self._closed = True
        from litestar_workflows.db.connection import dispose_store_engine

        try:
            await dispose_store_engine(self.db_engine)
        finally:
            if self.schema is not None:
                await _execute(self.url, f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


def _search_path(url: str, schema: str) -> dict[str, Any]:
    """Connect arguments that put each connection's ``search_path`` on ``schema`` (asyncpg or psycopg).

    Raises:
        ValueError: A PostgreSQL driver this kit does not know how to confine to a schema.
    """
    from sqlalchemy import make_url

    driver = make_url(url).get_driver_name()
    if driver == "asyncpg":
        return {"server_settings": {"search_path": schema}}
    if driver.startswith("psycopg"):
        return {"options": f"-csearch_path={schema}"}
    msg = f"a PostgreSQL test environment needs the asyncpg or psycopg driver, not {driver!r}"
    raise ValueError(msg)


async def _execute(url: str, statement: str) -> None:
    """Run one statement on a connection of its own (creating or dropping the environment's schema)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    admin = create_async_engine(url, poolclass=NullPool)
    try:
        async with admin.begin() as connection:
            await connection.execute(text(statement))
    finally:
        await admin.dispose()


async def _persistent_engine(
    registry: WorkflowRegistry,
    clock: ManualClock,
    database: _Database,
    options: dict[str, Any],
    *,
    migrate: bool = True,
) -> LocalExecutionEngine:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from litestar_workflows.db.engine import PersistentExecutionEngine
    from litestar_workflows.db.migrate import upgrade_database_async

    if migrate:
        await upgrade_database_async(database.db_engine)
    options = {"poll_interval": _QUIET_POLL, **options}
    return PersistentExecutionEngine(
        registry,
        session_factory=async_sessionmaker(database.db_engine),
        clock=clock,
        background=False,
        **options,
    )


__all__ = ("WorkflowTestEnvironment",)
