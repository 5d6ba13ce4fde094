"""``PersistentExecutionEngine``: the local driver on the SQLAlchemy store, recovery included.

The documented Litestar setup builds an engine per request from the request's session and never
starts it. Work those engines begin runs on in this process after the request ends, but due timers
and the work of processes that died need an engine that sweeps. So the first engine built for a
database on an event loop where no engine of that database was started starts a *background
runner*: one started ``PersistentExecutionEngine`` per database and event loop, with the registry
of the engine that caused it, which sweeps (fires timers, recovers expired leases) until
:func:`stop_background_runners` (the plugin calls it at shutdown) or ``stop()`` of any engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import TYPE_CHECKING, Any, Final

from advanced_alchemy.exceptions import NotFoundError

from litestar_workflows.core.errors import WorkflowInstanceNotFoundError
from litestar_workflows.db.shared_memory import memory_database_closed
from litestar_workflows.db.store import SQLAlchemyStore, store_from
from litestar_workflows.engine.local import LocalExecutionEngine

if TYPE_CHECKING:
    from collections.abc import Iterator
    from uuid import UUID

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from litestar_workflows.core.events import EventBus
    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.engine.registry import WorkflowRegistry


logger = logging.getLogger("litestar_workflows.db")

_Key = int  # id() of the store's database engine, which is shared per database in a process
_STARTED: Final[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, set[_Key]]] = weakref.WeakKeyDictionary()
"""Databases (per event loop) with a started engine, whose sweep serves every engine built for them."""
_RUNNERS: Final[
    weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[_Key, PersistentExecutionEngine]]
] = weakref.WeakKeyDictionary()
"""Background runners (per event loop), by database."""
_STARTING: Final[set[asyncio.Task[None]]] = set()
"""Runner start-ups in flight (the loop keeps only weak references to tasks)."""


class StoredInstanceNotFoundError(WorkflowInstanceNotFoundError, NotFoundError):
    """No workflow instance has that id in the database.

    Also advanced-alchemy's ``NotFoundError``: the reference package's persistent engine read
    instances through a repository and let its ``NotFoundError`` through, and code written for it
    catches that. Still a :class:`WorkflowInstanceNotFoundError` (and a ``KeyError``).
    """


@contextlib.contextmanager
def _stored_not_found() -> Iterator[None]:
    try:
        yield
    except StoredInstanceNotFoundError:
        raise
    except WorkflowInstanceNotFoundError as error:
        raise StoredInstanceNotFoundError(error.instance_id).with_traceback(error.__traceback__) from None


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
            application's engine unchanged. An in-memory SQLite database lives in that engine's
            only connection, which the store then shares (:mod:`.shared_memory` says how: its
            commits also commit what the session wrote there and had not committed).
        session_factory: An ``async_sessionmaker`` (its bound engine's database, likewise).
        event_bus: Receives events of every transition.
        url: A database URL, instead of a session (e.g. ``sqlite+aiosqlite:///workflows.db``).
        background: Built from a session or session factory inside a running event loop (the
            per-request pattern), start this database's background runner unless an engine of
            it runs already (default ``True``; see the module documentation).
        synchronous_commit: What a call that returned (``start_workflow``,
            ``complete_human_task``...) has made durable. ``True`` (the default): its commit is
            on disk, and survives a crash of the process, of the operating system or of the
            machine. ``False`` (relaxed commits, opt-in): the commit is in the database (in its
            log, or the operating system's cache) and every other connection sees it at once;
            it survives a crash of the process, but a power loss or an operating system crash
            may lose the last commits (SQLite: those since the write-ahead log was last synced;
            PostgreSQL: up to three times ``wal_writer_delay``, 600 ms by default). The database
            stays consistent and a lost commit is lost whole: an instance is never half-written.
            Commits then wait for no fsync, which makes them much cheaper. See
            :class:`~litestar_workflows.db.SQLAlchemyStore`.
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
        background: bool = True,
        synchronous_commit: bool = True,
        **options: Any,
    ) -> None:
        store_options: dict[str, Any] = {
            k: options.pop(k) for k in ("owner", "lease_seconds") if k in options
        }
        store_options["synchronous_commit"] = synchronous_commit
        if "clock" in options:
            store_options["clock"] = options["clock"]
        sibling: SQLAlchemyStore | None = options.pop("_store", None)
        given = [x for x in (session, session_factory, url, sibling) if x is not None]
        if len(given) != 1:
            raise TypeError("PersistentExecutionEngine needs exactly one of session, session_factory or url")
        if url is not None:
            store = SQLAlchemyStore.from_url(url, **store_options)
        elif sibling is not None:  # a background runner: on its engine's database engine, as it is
            store_options["synchronous_commit"] = sibling.synchronous_commit
            store = SQLAlchemyStore(sibling.db_engine, **store_options)
        else:
            store = store_from(given[0], **store_options)
        super().__init__(registry, store, event_bus, **options)
        self.sql_store = store
        if background and url is None:
            _ensure_runner(self)

    # An unknown instance id raises StoredInstanceNotFoundError from every method taking one.

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """The instance (see :class:`LocalExecutionEngine`); unknown: :class:`StoredInstanceNotFoundError`."""
        with _stored_not_found():
            return await super().get_instance(instance_id)

    async def complete_human_task(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Complete a pending task (see :class:`LocalExecutionEngine`)."""
        with _stored_not_found():
            return await super().complete_human_task(*args, **kwargs)

    async def cancel_workflow(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Cancel an instance (see :class:`LocalExecutionEngine`)."""
        with _stored_not_found():
            return await super().cancel_workflow(*args, **kwargs)

    async def retry(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Restart a failed instance (see :class:`LocalExecutionEngine`)."""
        with _stored_not_found():
            return await super().retry(*args, **kwargs)

    async def pause_workflow(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Hold an instance (see :class:`LocalExecutionEngine`)."""
        with _stored_not_found():
            return await super().pause_workflow(*args, **kwargs)

    async def resume_workflow(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Continue a paused instance (see :class:`LocalExecutionEngine`)."""
        with _stored_not_found():
            return await super().resume_workflow(*args, **kwargs)

    async def deliver_webhook(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Hand a payload to a webhook step (see :class:`LocalExecutionEngine`)."""
        with _stored_not_found():
            return await super().deliver_webhook(*args, **kwargs)

    async def wait(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Wait for an instance's status (see :class:`LocalExecutionEngine`)."""
        with _stored_not_found():
            return await super().wait(*args, **kwargs)

    @property
    def _database_key(self) -> _Key:
        return id(self.sql_store.db_engine)

    async def start(self) -> None:
        """Start background work (see :class:`LocalExecutionEngine`); this engine then sweeps its database.

        The database is marked as swept before the start awaits anything: a background runner
        that building this engine (or another) scheduled then sees it and does not start beside it.
        """
        started: set[_Key] | None = None
        with contextlib.suppress(RuntimeError):  # no running loop: nothing to record
            started = _STARTED.setdefault(asyncio.get_running_loop(), set())
            started.add(self._database_key)
        try:
            await super().start()
        except BaseException:
            if started is not None:
                started.discard(self._database_key)
            raise

    async def stop(self) -> None:
        """Stop background work and release the database connections the engine opened."""
        with contextlib.suppress(RuntimeError):
            _STARTED.get(asyncio.get_running_loop(), set()).discard(self._database_key)
        await super().stop()
        await self.sql_store.close()


def _ensure_runner(engine: PersistentExecutionEngine) -> None:
    """Start the background runner of ``engine``'s database on this loop, unless one is running."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # built outside a loop: started by its owner, or by a later engine
        return
    key = engine._database_key
    runners = _RUNNERS.setdefault(loop, {})
    if key in runners or key in _STARTED.get(loop, set()):
        return
    # The runner's store shares the database engine of ``engine``'s store (one per database).
    runner = PersistentExecutionEngine(engine.registry, url=None, background=False, _store=engine.sql_store)
    runners[key] = runner

    async def run() -> None:
        if key in _STARTED.get(loop, set()):  # an engine of this database started meanwhile: it sweeps
            runners.pop(key, None)
            return
        try:
            await runner.start()
        except Exception:
            runners.pop(key, None)
            if memory_database_closed(runner.sql_store.db_engine):  # e.g. a test's fixture ended first
                logger.debug("an in-memory workflows database closed before its background runner started")
                return
            logger.exception(
                "the background runner of a workflows database failed to start; the next engine retries"
            )

    task = loop.create_task(run(), name="litestar-workflows background runner")
    _STARTING.add(task)
    task.add_done_callback(_STARTING.discard)


async def stop_background_runners() -> None:
    """Stop this event loop's background runners (the plugin calls this when the app shuts down)."""
    runners = _RUNNERS.pop(asyncio.get_running_loop(), {})
    for runner in runners.values():
        await LocalExecutionEngine.stop(runner)  # the store engine is shared: leave it open


__all__ = ("PersistentExecutionEngine", "StoredInstanceNotFoundError", "stop_background_runners")
