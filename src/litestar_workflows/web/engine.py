"""The engine the plugin serves: what the web layer needs of it, how it is built and run.

The REST API and the CLI work with any engine of the shared interface (local, persistent,
distributed); :class:`WorkflowEngine` lists exactly the methods they call, so a custom engine
knows what to implement. :class:`EngineRunner` owns the engine's lifecycle for the app's
lifespan, a worker and each CLI command: migrate when configured, ``start()``, then ``stop()``.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection
    from uuid import UUID

    from sqlalchemy.ext.asyncio import AsyncEngine

    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.core.types import WorkflowStatus
    from litestar_workflows.engine.registry import WorkflowRegistry
    from litestar_workflows.store.base import InstanceQuery, Page, TaskQuery

__all__ = ("EngineRunner", "WorkflowEngine", "build_engine", "database_of")


@runtime_checkable
class WorkflowEngine(Protocol):
    """The engine methods the REST API and the CLI use (``LocalExecutionEngine`` has them all)."""

    registry: WorkflowRegistry

    async def start(self) -> None:
        """Start background work (recovery, timers, lease renewal)."""

    async def stop(self) -> None:
        """Stop background work; durable engines resume it on the next start."""

    async def start_workflow(
        self,
        workflow: Any,
        initial_data: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        tenant_id: str | None = None,
        created_by: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WorkflowInstanceData:
        """Start an instance; execution continues in the background."""

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """The instance with its step history."""

    async def wait(
        self,
        instance_id: UUID,
        *,
        until: WorkflowStatus | Collection[WorkflowStatus] = ...,
        timeout: float | None = None,  # noqa: ASYNC109 - mirrors the engine's documented API
    ) -> WorkflowInstanceData:
        """Wait until the instance settles (finished or waiting for input)."""

    async def find_instances(self, query: InstanceQuery) -> Page[WorkflowInstanceData]:
        """A page of instances matching ``query``."""

    async def cancel_workflow(self, instance_id: UUID, reason: str = "") -> WorkflowInstanceData:
        """Cancel an unfinished instance."""

    async def retry(self, instance_id: UUID, from_step: str | None = None) -> WorkflowInstanceData:
        """Restart a failed instance."""

    async def get_task(self, task_id: UUID) -> HumanTask:
        """The human task with this id."""

    async def find_tasks(self, query: TaskQuery) -> Page[HumanTask]:
        """A page of tasks matching ``query``."""

    async def get_pending_tasks(
        self, user_id: str | None = None, groups: Collection[str] = (), tenant_id: str | None = None
    ) -> list[HumanTask]:
        """Pending tasks of a user and their groups."""

    async def complete_task(
        self, task_id: UUID, user_id: str, data: dict[str, Any] | None = None
    ) -> WorkflowInstanceData:
        """Complete a human task as ``user_id`` with ``data``."""

    async def reassign_task(
        self,
        task_id: UUID,
        new_assignee: str | None,
        *,
        user_id: str | None = None,
        reason: str | None = None,
    ) -> HumanTask:
        """Give a pending task to another user."""


def build_engine(
    registry: WorkflowRegistry, database_url: str | None, options: dict[str, Any]
) -> WorkflowEngine:
    """The engine for a database URL: persistent on that database, or in memory for ``None``.

    Raises:
        ImportError: A URL was given but the ``db`` extra is not installed (the message says so).
    """
    if database_url is None:
        from litestar_workflows.engine.local import LocalExecutionEngine

        return LocalExecutionEngine(registry, **options)
    try:
        from litestar_workflows.db.engine import PersistentExecutionEngine
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        msg = (
            f"a database URL needs the 'db' extra: pip install 'litestar-workflows[db]' ({error}); "
            "or pass database_url=None for an in-memory engine"
        )
        raise ImportError(msg) from error
    return PersistentExecutionEngine(registry, url=database_url, **options)


def database_of(engine: object) -> AsyncEngine | None:
    """The SQLAlchemy engine behind a workflow engine's store, or ``None`` for non-SQL stores."""
    store = getattr(engine, "store", None)
    db_engine = getattr(store, "db_engine", None)
    if db_engine is None:
        return None
    from sqlalchemy.ext.asyncio import AsyncEngine

    return db_engine if isinstance(db_engine, AsyncEngine) else None


class EngineRunner:
    """Starts and stops one engine, migrating its database first when asked to.

    Args:
        engine: The engine to run.
        auto_migrate: Upgrade the engine's database schema before each start.
    """

    def __init__(self, engine: WorkflowEngine, *, auto_migrate: bool) -> None:
        self.engine = engine
        self.auto_migrate = auto_migrate

    async def migrate(self) -> bool:
        """Upgrade the engine's database to the latest schema.

        Returns:
            ``False`` when the engine has no SQL database (nothing to migrate).

        Raises:
            StoreError: The database is unreachable or a migration failed.
        """
        db_engine = database_of(self.engine)
        if db_engine is None:
            return False
        from litestar_workflows.db.migrate import upgrade_database_async

        await upgrade_database_async(db_engine)
        return True

    async def start(self) -> None:
        """Migrate (when configured), then start the engine's background work and recovery."""
        if self.auto_migrate:
            await self.migrate()
        await self.engine.start()

    async def stop(self) -> None:
        """Stop the engine's background work; durable engines release their connections."""
        await self.engine.stop()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[WorkflowEngine]:
        """Run the engine with its background work for the block (the app's lifespan, a worker)."""
        await self.start()
        try:
            yield self.engine
        finally:
            await self.stop()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[WorkflowEngine]:
        """Use the engine for one short job (a CLI command) without its background work.

        Recovery is left out on purpose: a short-lived process would claim other processes' due
        work and abandon it when it exits, delaying that work until its lease expires. Whatever
        the job starts itself still runs while the block lasts.
        """
        try:
            if self.auto_migrate:
                await self.migrate()
            yield self.engine
        finally:
            await self.stop()
