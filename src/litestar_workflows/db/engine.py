"""``PersistentExecutionEngine``: the local driver on the SQLAlchemy store, recovery included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar_workflows.db.store import SQLAlchemyStore, store_from
from litestar_workflows.engine.local import LocalExecutionEngine

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from litestar_workflows.core.events import EventBus
    from litestar_workflows.engine.registry import WorkflowRegistry


class PersistentExecutionEngine(LocalExecutionEngine):
    """Runs workflows in this process with every transition committed to the database first.

    State survives restarts: ``start()`` (or ``async with engine``) checks the schema, then claims
    and continues the work of processes that stopped or died (expired leases) and timers that
    came due. Several engines may share one database; each step execution is run by one of them
    at a time and its completion is committed exactly once.

    Args:
        registry: Where workflows are looked up.
        session: An ``AsyncSession``; only its engine's database is used: the store connects to
            it as that engine does, through an engine of its own (shared by every workflow
            engine built for it, so building one per request is cheap), and leaves the
            application's engine unchanged.
        session_factory: An ``async_sessionmaker`` (its bound engine's database, likewise).
        event_bus: Receives events of every transition.
        url: A database URL, instead of a session (e.g. ``sqlite+aiosqlite:///workflows.db``).
        **options: Passed to :class:`LocalExecutionEngine` (``authorizer``, ``clock``,
            ``poll_interval``...) and, for ``owner`` and ``lease_seconds``, to the store.

    Examples:
        >>> engine = PersistentExecutionEngine(registry, url="sqlite+aiosqlite:///wf.db")  # doctest: +SKIP
        >>> async with engine:  # doctest: +SKIP
        ...     instance = await engine.start_workflow("expense", {"amount": 120})
    """

    def __init__(
        self,
        registry: WorkflowRegistry,
        session: AsyncSession | None = None,
        *,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
        event_bus: EventBus | None = None,
        url: str | None = None,
        **options: Any,
    ) -> None:
        store_options: dict[str, Any] = {
            k: options.pop(k) for k in ("owner", "lease_seconds") if k in options
        }
        if "clock" in options:
            store_options["clock"] = options["clock"]
        given = [x for x in (session, session_factory, url) if x is not None]
        if len(given) != 1:
            raise TypeError("PersistentExecutionEngine needs exactly one of session, session_factory or url")
        if url is not None:
            store = SQLAlchemyStore.from_url(url, **store_options)
        else:
            store = store_from(given[0], **store_options)
        super().__init__(registry, store, event_bus, **options)
        self.sql_store = store

    async def stop(self) -> None:
        """Stop background work and release the database connections the engine opened."""
        await super().stop()
        await self.sql_store.close()


__all__ = ("PersistentExecutionEngine",)
