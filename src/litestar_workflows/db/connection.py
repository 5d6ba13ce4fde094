"""The store's own database engines: set up as the store needs them, never the application's.

The store needs settings of its own on every connection (on SQLite: a busy timeout, WAL, full
sync, ``BEGIN IMMEDIATE`` for writers; with relaxed commits, ``synchronous=NORMAL`` on SQLite and
``synchronous_commit = off`` on PostgreSQL). Applied to an engine the application passed in, they
would change how the application's own transactions behave, so the store never touches such an
engine: it opens a second engine on the same database, connecting exactly as the application's
does (same URL, same connect arguments, same ``do_connect`` hooks), and keeps its settings there.
The one exception is an in-memory SQLite database, which lives inside the application's only
connection: the store then leases that connection (:mod:`litestar_workflows.db.shared_memory`).

Engines of the same database are shared by every store of the process: frameworks build a
workflow engine per request from a request-scoped session, and that must not open a connection
pool per request. The commit durability (``synchronous_commit``) is part of what is shared: stores
of one database that differ in it get one engine per setting, each setting its own connections.
A shared engine is disposed of when the last store using it closes, or at process exit.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import weakref
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import StaticPool

from litestar_workflows.db.shared_memory import can_share, shared_memory_engine

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.interfaces import ExceptionContext
    from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection, PoolResetState

__all__ = (
    "WRITE_OPTION",
    "check_synchronous_commit",
    "configure_engine",
    "configure_sync_engine",
    "create_store_engine",
    "database_state",
    "dispose_store_engine",
    "enable_sqlite_foreign_keys",
    "is_store_engine",
    "release_store_engine",
    "shared_store_engine",
    "synchronous_commit_of",
)

logger = logging.getLogger("litestar_workflows.store")

WRITE_OPTION = "workflows_write"
"""Execution option that marks a SQLite transaction as a writer (``BEGIN IMMEDIATE``)."""

_CONFIGURED = "_workflows_configured"
_HOLDER = "_workflows_memory_holder"
"""The engine holding the in-memory database of a store engine made from an in-memory URL."""
_SYNCHRONOUS = "_workflows_synchronous_commit"
"""How a store engine commits: ``True`` (waits for the disk), ``False`` (relaxed), ``None`` (in memory)."""
_STATE = "_workflows_database_state"
_SQLITE_READONLY = 8
"""SQLite's primary result code for "attempt to write a readonly database" (and its variants)."""


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _json_loads(value: Any) -> Any:
    """``orjson.loads``, passing through a number SQLite already decoded.

    SQLite gives a ``JSON`` column NUMERIC affinity: the text ``1`` of a step that returned ``1``
    comes back as an integer. SQLAlchemy's SQLite JSON type passes numbers through when the
    deserializer raises ``TypeError`` (as ``json.loads`` does), but ``orjson`` raises a
    ``ValueError`` subclass instead, which failed every read of such an instance.
    """
    if isinstance(value, int | float):
        return value
    return orjson.loads(value)


def check_synchronous_commit(value: object) -> None:
    """Refuse a ``synchronous_commit`` that is not a bool (``"off"`` or ``0`` would read as a choice).

    Raises:
        TypeError: ``value`` is not ``True`` or ``False``.
    """
    if not isinstance(value, bool):
        msg = f"synchronous_commit must be True or False, not {value!r}"
        raise TypeError(msg)


def create_store_engine(url: str, *, synchronous_commit: bool = True, **kwargs: Any) -> AsyncEngine:
    """An async engine set up as the store needs it (SQLite: busy timeout, WAL, FULL sync, FKs).

    An in-memory SQLite URL gives a database of the store's own, held in one connection that
    every connection of the returned engine leases in turn (:mod:`.shared_memory`): the store's
    concurrent transactions could not share that connection otherwise. It lives until
    :func:`dispose_store_engine`.

    Args:
        url: The database URL.
        synchronous_commit: ``True`` (the default): a commit returns once the database has it on
            disk. ``False``: relaxed commits (SQLite ``synchronous=NORMAL``, PostgreSQL
            ``synchronous_commit = off``), see :class:`~litestar_workflows.db.SQLAlchemyStore`.
            Nothing changes for an in-memory database.
        **kwargs: Passed to ``create_async_engine``.

    Raises:
        TypeError: ``synchronous_commit`` is not a bool.
    """
    check_synchronous_commit(synchronous_commit)
    kwargs.setdefault("json_serializer", _json_dumps)
    kwargs.setdefault("json_deserializer", _json_loads)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not _is_file_database(parsed.database, parsed.query):
        return _own_memory_engine(url, **kwargs)
    own_reset = parsed.get_backend_name() == "sqlite" and "pool_reset_on_return" not in kwargs
    if own_reset:
        kwargs["pool_reset_on_return"] = None  # done by _reset_unless_ended instead
    db_engine = create_async_engine(url, **kwargs)
    if own_reset:
        event.listen(db_engine.sync_engine, "reset", _reset_unless_ended)
    configure_engine(db_engine, synchronous_commit=synchronous_commit)
    return db_engine


_ENDED = "litestar_workflows.transaction_ended"


def mark_transaction_ended(raw_connection: PoolProxiedConnection) -> None:
    """Note that a job on ``raw_connection``'s driver thread ended its own transaction.

    For the jobs of :mod:`.sqlite_batch` and :mod:`.direct_reads`: each ends with ``COMMIT`` or
    ``ROLLBACK`` on that thread, so the pool need not roll back when the connection comes back
    (a rollback costs one more round trip to the driver's thread, as long as a short read takes).
    """
    raw_connection.info[_ENDED] = True


def _reset_unless_ended(
    dbapi_connection: Any, connection_record: ConnectionPoolEntry, reset_state: PoolResetState
) -> None:
    """The pool's rollback on return (``reset_on_return="rollback"``), but for connections a job ended.

    A SQLite store engine is made with ``pool_reset_on_return=None`` and this listener: every
    connection coming back is rolled back as before, except one whose last use was a job that
    ended its transaction itself (:func:`mark_transaction_ended`) or whose SQLAlchemy
    transaction was rolled back already.
    """
    ended = connection_record.info.pop(_ENDED, False)
    if ended or reset_state.transaction_was_reset or reset_state.terminate_only:
        return
    if reset_state.asyncio_safe:  # else (garbage collected) the pool discards the connection anyway
        dbapi_connection.rollback()


def _own_memory_engine(url: str, **kwargs: Any) -> AsyncEngine:
    serializers = {k: kwargs.pop(k) for k in ("json_serializer", "json_deserializer")}
    holder = create_async_engine(url, poolclass=StaticPool, **kwargs)
    enable_sqlite_foreign_keys(holder)
    if not can_share(holder):
        raise ValueError(f"an in-memory SQLite database needs the aiosqlite driver, not {url!r}")
    db_engine = shared_memory_engine(holder, owned=True, **serializers)
    setattr(db_engine.sync_engine, _CONFIGURED, True)
    setattr(db_engine.sync_engine, _SYNCHRONOUS, None)  # nothing of it reaches a disk
    setattr(db_engine.sync_engine, _HOLDER, holder)
    return db_engine


async def dispose_store_engine(db_engine: AsyncEngine) -> None:
    """Dispose of a store engine, and of the database it holds in memory, if any."""
    await db_engine.dispose()
    holder: AsyncEngine | None = getattr(db_engine.sync_engine, _HOLDER, None)
    if holder is not None:
        await holder.dispose()


def is_store_engine(db_engine: AsyncEngine) -> bool:
    """Whether ``db_engine`` was set up by :func:`configure_engine` (so the store may use it as is)."""
    return bool(getattr(db_engine.sync_engine, _CONFIGURED, False))


def synchronous_commit_of(db_engine: AsyncEngine) -> bool | None:
    """How a store engine commits (see :func:`create_store_engine`); ``None``: in memory, either will do."""
    value: bool | None = getattr(db_engine.sync_engine, _SYNCHRONOUS, True)
    return value


def database_state(db_engine: AsyncEngine) -> dict[str, Any]:
    """A dict for what the stores of this process keep per database (their commit listeners).

    Shared by the store engines of one database whatever their ``synchronous_commit``: a store
    committing relaxed and one committing in full still hear of each other's commits.
    """
    shared = _by_engine.get(id(db_engine))
    if shared is not None and shared.engine is db_engine:
        return shared.state
    sync_engine = db_engine.sync_engine
    state: dict[str, Any] | None = getattr(sync_engine, _STATE, None)
    if state is None:
        state = {}
        setattr(sync_engine, _STATE, state)
    return state


def configure_engine(db_engine: AsyncEngine, *, synchronous_commit: bool = True) -> None:
    """Set up an engine the store owns: on SQLite WAL, ``BEGIN IMMEDIATE``, busy timeout first.

    A deferred SQLite transaction that reads and then writes can fail with "database is locked"
    when another writer got there first, whatever the busy timeout; taking the write lock at
    ``BEGIN`` makes writers queue instead. The busy timeout is set before anything else, since
    switching to WAL waits for other connections' locks. A connection that SQLite opened while
    the file was read-only stays read-only for good: the error invalidates the pool, so that
    connections are opened again once the file is writable. Call it only on engines the store
    owns: it changes how every transaction of the engine begins.

    With ``synchronous_commit=False`` every connection commits relaxed: SQLite syncs its WAL at
    checkpoints instead of at each commit (``synchronous=NORMAL``), PostgreSQL returns before the
    commit record is flushed (``synchronous_commit = off`` for the connection's session). The
    setting is per connection, so it needs an engine of its own: a shared engine serves stores of
    one setting only (:func:`shared_store_engine`).
    """
    configure_sync_engine(db_engine.sync_engine, synchronous_commit=synchronous_commit)


def configure_sync_engine(sync_engine: Engine, *, synchronous_commit: bool = True) -> None:
    """:func:`configure_engine` for a synchronous engine (a migration run from a sync URL)."""
    check_synchronous_commit(synchronous_commit)
    if getattr(sync_engine, _CONFIGURED, False):
        return
    setattr(sync_engine, _CONFIGURED, True)
    setattr(sync_engine, _SYNCHRONOUS, synchronous_commit)
    if sync_engine.dialect.name == "postgresql":
        if not synchronous_commit:
            event.listen(sync_engine, "connect", _postgres_relaxed)
        return
    if sync_engine.dialect.name != "sqlite":
        return
    sync = "synchronous=FULL" if synchronous_commit else "synchronous=NORMAL"

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        for pragma in ("busy_timeout=30000", "journal_mode=WAL", sync, "foreign_keys=ON"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front; readers stay deferred and, in WAL mode, never wait.
        writes = connection.get_execution_options().get(WRITE_OPTION)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    @event.listens_for(sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        if _opened_read_only(context.original_exception):
            context.is_disconnect = True  # drop this pool's connections: they may all be read-only


def _postgres_relaxed(dbapi_connection: Any, _record: Any) -> None:
    """Make a new PostgreSQL connection's commits return before their WAL record is flushed.

    Set for the session and committed at once: the driver adapters run a statement inside a
    transaction, and a ``SET`` rolled back with it (as the pool's first reset would) is undone.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET synchronous_commit TO off")
    finally:
        cursor.close()
    dbapi_connection.commit()


def _opened_read_only(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == _SQLITE_READONLY
    return "readonly database" in str(error)


# ---------------------------------------------------------------------------- shared engines


class _Shared:
    """A store engine and the stores that use it (held weakly: a store nobody closes may vanish)."""

    __slots__ = ("engine", "key", "source", "state", "users")

    def __init__(
        self, key: tuple[Any, ...], engine: AsyncEngine, source: object, state: dict[str, Any]
    ) -> None:
        self.key = key
        self.engine = engine
        self.source = source  # keeps what the key names alive, so its id is never reused
        self.state = state  # database_state(): one dict for the engines of both settings
        self.users: weakref.WeakSet[object] = weakref.WeakSet()


_shared: dict[tuple[Any, ...], _Shared] = {}
_by_engine: dict[int, _Shared] = {}


def shared_store_engine(
    source: AsyncEngine | str, user: object, *, synchronous_commit: bool = True
) -> AsyncEngine:
    """The store engine of ``source``'s database, shared by every store of this process.

    Args:
        source: A database URL, or the application's engine: the store engine then connects
            through that engine's connection factory (same URL, connect arguments and
            ``do_connect`` hooks) without changing the application's engine.
        user: The store taking a share; give it back with :func:`release_store_engine`.
        synchronous_commit: How the engine's connections commit (:func:`create_store_engine`).
            Stores of one database that differ in it get an engine each (it is part of the
            key), except on an in-memory database, where it changes nothing.

    An in-memory SQLite database (which no second engine can open) is used through the
    application's own connection: see :mod:`litestar_workflows.db.shared_memory`.

    Raises:
        ValueError: ``source`` is an in-memory SQLite database the store cannot share (not on
            aiosqlite's single pooled connection).
    """
    check_synchronous_commit(synchronous_commit)
    if isinstance(source, str):
        url = make_url(source)
        # A relative SQLite path names a file by the working directory at the time the engine
        # is made: a process that changes directory gets the file of the new one, not a pooled
        # connection to the old one.
        database = url.database
        where = (
            os.path.abspath(database)
            if database and url.get_backend_name() == "sqlite" and _is_file_database(database, url.query)
            else None
        )
        base: tuple[Any, ...] = ("url", source, where)
    else:
        base = ("engine", id(source.sync_engine))
        url = source.sync_engine.url
    durable = url.get_backend_name() != "sqlite" or _is_file_database(url.database, url.query)
    setting = synchronous_commit if durable else None
    key = (*base, setting)
    shared = _shared.get(key)
    if shared is None:
        if isinstance(source, str):
            engine = create_store_engine(source, synchronous_commit=synchronous_commit)
        else:
            engine = _engine_beside(source, synchronous_commit)
        other = _shared.get((*base, not setting)) if durable else None
        state: dict[str, Any] = other.state if other is not None else {}
        shared = _shared[key] = _Shared(key, engine, source, state)
        _by_engine[id(engine)] = shared
    shared.users.add(user)
    return shared.engine


def _engine_beside(source: AsyncEngine, synchronous_commit: bool) -> AsyncEngine:
    """A store engine on the database of ``source`` that connects exactly as ``source`` does."""
    sync_engine: Engine = source.sync_engine
    url = sync_engine.url
    if sync_engine.dialect.name == "sqlite" and not _is_file_database(url.database, url.query):
        # No second connection can open it: the store leases the application's one connection.
        if not can_share(source):
            raise ValueError(
                f"the workflows store cannot share the in-memory SQLite database of {url!r}: it "
                "shares only an aiosqlite engine's single connection (the StaticPool SQLAlchemy gives "
                "in-memory databases); give it a database file (url=...)"
            )
        shared = shared_memory_engine(source, json_serializer=_json_dumps, json_deserializer=_json_loads)
        setattr(shared.sync_engine, _CONFIGURED, True)  # its transactions are the lease's own
        setattr(shared.sync_engine, _SYNCHRONOUS, None)
        return shared
    # The pool's connection factory carries the application's URL and connect arguments (a
    # PostgreSQL search_path, say); a new engine on the bare URL would lose them.
    creator = sync_engine.pool._creator  # no public accessor; the same attribute since SQLAlchemy 1.x
    return create_store_engine(
        url.render_as_string(hide_password=False), creator=creator, synchronous_commit=synchronous_commit
    )


def is_file_database(db_engine: AsyncEngine) -> bool:
    """Whether ``db_engine`` is on a SQLite database file (not in memory)."""
    url = db_engine.url
    return url.get_backend_name() == "sqlite" and _is_file_database(url.database, url.query)


def _is_file_database(database: str | None, query: Any) -> bool:
    if not database or database == ":memory:":
        return False
    return "memory" not in str(query.get("mode", ""))


async def release_store_engine(db_engine: AsyncEngine, user: object) -> None:
    """Give back ``user``'s share of a store engine; the last one disposes of it.

    An engine that is not shared (one a store was given to own) is disposed of at once.
    """
    shared = _by_engine.get(id(db_engine))
    if shared is None or shared.engine is not db_engine:
        await dispose_store_engine(db_engine)
        return
    shared.users.discard(user)
    if shared.users:
        return
    _forget(shared)
    await dispose_store_engine(db_engine)


def _forget(shared: _Shared) -> None:
    if _shared.get(shared.key) is shared:
        del _shared[shared.key]
    _by_engine.pop(id(shared.engine), None)


@atexit.register
def _dispose_at_exit() -> None:
    """Close what stores that were never closed left open (their event loop is gone by now)."""
    for shared in list(_shared.values()):
        _forget(shared)
        engine = shared.engine
        if engine.dialect.name == "sqlite":  # aiosqlite closes from any loop: checkpoint the WAL
            try:
                asyncio.run(dispose_store_engine(engine))
                continue
            except Exception:
                logger.debug("closing %s at exit failed", engine.url, exc_info=True)
        # Network connections belong to the loop that opened them, gone by now: the OS closes them.
        engine.sync_engine.dispose(close=False)


# ---------------------------------------------------------------------------- application engines


def _foreign_keys_on(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def enable_sqlite_foreign_keys(db_engine: AsyncEngine | Engine) -> None:
    """Make SQLite enforce foreign keys (and so ``ON DELETE CASCADE``) on every connection of an engine.

    SQLite ships with enforcement off, per connection; without this, deleting an instance leaves its
    step executions and human tasks behind. Call it once, right after creating the engine, before the
    first connection is made. Does nothing for other databases, which always enforce foreign keys.
    The migration functions suspend enforcement while they run, as batch migrations require.

    Args:
        db_engine: A sync or async engine.
    """
    sync_engine = db_engine.sync_engine if isinstance(db_engine, AsyncEngine) else db_engine
    if sync_engine.dialect.name != "sqlite":
        return
    if not event.contains(sync_engine, "connect", _foreign_keys_on):
        event.listen(sync_engine, "connect", _foreign_keys_on)
