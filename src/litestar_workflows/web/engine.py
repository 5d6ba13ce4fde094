"""The engine the plugin serves: what the web layer needs of it, how it is built and run.

The REST API and the CLI work with any engine of the shared interface (local, persistent,
distributed); :class:`WorkflowEngine` lists exactly the methods they call, so a custom engine
knows what to implement. :class:`EngineRunner` owns the engine's lifecycle for the app's
lifespan, a worker and each CLI command: migrate when configured, ``start()``, then ``stop()``.
"""

from __future__ import annotations

import hashlib
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.protocols import ExecutionEngine

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection

    from sqlalchemy.ext.asyncio import AsyncEngine

    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.core.types import WorkflowStatus
    from litestar_workflows.engine.registry import WorkflowRegistry

__all__ = (
    "EngineRunner",
    "WorkflowEngine",
    "build_engine",
    "database_of",
    "settled",
    "start_key",
    "start_or_get",
)


WorkflowEngine = ExecutionEngine
"""The engine interface the REST API and the CLI use: the one every engine shares."""


async def settled(
    engine: WorkflowEngine,
    instance: WorkflowInstanceData,
    wait: float,
    until: Collection[WorkflowStatus] | None = None,
) -> WorkflowInstanceData:
    """The instance once it reaches ``until`` (default: finished or waiting for input).

    Or as it is after ``wait`` seconds: a wait that ends without news still answers.
    """
    if wait <= 0 or instance.is_finished:
        return instance
    with suppress(TimeoutError):
        if until:
            await engine.wait(instance.id, until=frozenset(until), timeout=wait)
        else:
            await engine.wait(instance.id, timeout=wait)
    return await engine.get_instance(instance.id)


_MAX_KEY = 255
"""The longest start key the engines take (``start_workflow(key=)``)."""


def start_key(correlation_id: str, tenant_id: str | None) -> str:
    """The engine's start key for a request's ``correlation_id``, private to the request's tenant.

    Keys are unique per workflow across the whole engine; two tenants using the same
    ``correlation_id`` must neither collide nor be answered each other's instance. The tenant's
    length comes first, so no pair of tenant and id can spell another pair's key. A key that
    would pass the engine's limit (a long tenant and a long id, each within its own limit) is
    the SHA-256 of that text instead, marked by a leading ``#`` that no spelled-out key has.
    """
    if tenant_id is None:
        return correlation_id
    key = f"{len(tenant_id)}:{tenant_id}:{correlation_id}"
    return key if len(key) <= _MAX_KEY else "#" + hashlib.sha256(key.encode()).hexdigest()


async def start_or_get(
    engine: WorkflowEngine, workflow_name: str, data: dict[str, Any], *, key: str, **options: Any
) -> tuple[WorkflowInstanceData, bool]:
    """Start with ``key`` unless the workflow has an instance with it: ``(instance, created)``.

    Raises:
        NotImplementedError: The engine cannot start with a key (it has no ``start_or_get``).
    """
    starter = getattr(engine, "start_or_get", None)
    if starter is None:
        raise NotImplementedError(
            f"{type(engine).__name__} has no start_or_get(): it cannot start with a correlation_id"
        )
    result: tuple[WorkflowInstanceData, bool] = await starter(workflow_name, data, key=key, **options)
    return result


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
    async def session(self, *, read_only: bool = False) -> AsyncIterator[WorkflowEngine]:
        """Use the engine for one short job (a CLI command) without its background work.

        Recovery is left out on purpose: a short-lived process would claim other processes' due
        work and abandon it when it exits, delaying that work until its lease expires. Whatever
        the job starts itself still runs while the block lasts.

        ``read_only``: the job only reads, so the schema is not migrated even with
        ``auto_migrate``. Listing instances must not change the schema of a database that other
        servers still run older code against; on an older schema the store's error names the
        upgrade to run.
        """
        try:
            if self.auto_migrate and not read_only:
                await self.migrate()
            yield self.engine
        finally:
            await self.stop()
