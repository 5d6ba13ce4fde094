"""The store on an application's in-memory SQLite database: its only connection, shared safely.

``create_async_engine("sqlite+aiosqlite:///:memory:")`` keeps one connection (a ``StaticPool``)
and the database lives inside it: no second connection can open it, so the store must use the
application's. Sharing it naively loses work both ways. The pool rolls a connection back when it
is returned, so a store *read* would roll back what the application's session wrote and has not
committed yet; and the application's session rolls back when it closes, which, arriving between
two statements of a store transaction, would undo half of it (the definition row an instance row
refers to, say: the next insert then fails its foreign key).

So every connection of the store *leases* the worker thread of the application's aiosqlite
connection: one job on that thread runs the store's statements one after another until the store
returns the connection, and the application's statements wait behind it in aiosqlite's queue.
Nothing of the application runs in the middle of a store transaction. The store's transactions
never wait for the application's, so an application that awaits the store while its own
transaction is open (``session.flush()``, then ``start_workflow``) cannot deadlock.

Transactions of the store on that connection:

- With no transaction open on the connection, the store's work runs in a transaction of its own.
- Inside a transaction of the application it runs in a ``SAVEPOINT``. Rolling back (a version
  conflict, a failed statement) undoes only the store's statements. A store transaction that
  only read leaves the application's transaction as it was.
- A store transaction that wrote must be durable before the engine goes on, so its commit
  commits the connection's transaction: what the application wrote on it and had not committed
  is committed with it (SQLite has one transaction per connection; keeping it apart would mean
  waiting for the application, which may be waiting for us). Nothing is lost or rolled back; a
  later ``session.rollback()`` undoes only what the application wrote after that commit.

Use a database file, or PostgreSQL, where the application's transactions must stay its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import weakref
from functools import partial
from queue import SimpleQueue
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy.pool import NullPool, StaticPool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ("can_share", "memory_database_closed", "shared_memory_engine")

_SAVEPOINT: Final = "litestar_workflows_store"
_SOURCE: Final = "_workflows_shared_source"
"""Attribute of a lease engine's sync engine: the engine whose connection it leases."""
_RELEASE: Final = None
"""Sent on a lease's command queue when the store returns its connection."""

if TYPE_CHECKING:
    _Command = tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]] | None


def can_share(source: AsyncEngine) -> bool:
    """Whether ``source`` keeps its SQLite database in one connection the store can lease."""
    return source.dialect.driver == "aiosqlite" and isinstance(source.sync_engine.pool, StaticPool)


def shared_memory_engine(source: AsyncEngine, *, owned: bool = False, **kwargs: Any) -> AsyncEngine:
    """An engine whose every connection is a lease on the only connection of ``source``.

    Its pool opens a lease per checkout and closing it ends the lease; nothing it does closes
    or reconfigures the application's connection (pragmas, isolation level, listeners).

    Args:
        source: The engine holding the database in its one connection.
        owned: ``source`` is the store's own (an in-memory URL given to the store): its connection
            is opened by the first lease, instead of being required open.
        **kwargs: Passed to ``create_async_engine``.
    """
    from sqlalchemy.ext.asyncio import create_async_engine

    first = asyncio.Lock()

    async def lease() -> _Lease:
        if owned and "connection" not in source.sync_engine.pool.__dict__:
            async with first:  # one connection, or two databases
                if "connection" not in source.sync_engine.pool.__dict__:
                    async with source.connect() as conn:  # the database begins with its connection
                        await conn.exec_driver_sql("SELECT 1")
        return _Lease(source)

    url = source.sync_engine.url.render_as_string(hide_password=False)
    db_engine = create_async_engine(url, async_creator=lease, poolclass=NullPool, **kwargs)
    setattr(db_engine.sync_engine, _SOURCE, source)
    return db_engine


def memory_database_closed(db_engine: AsyncEngine) -> bool:
    """Whether ``db_engine`` leases an in-memory database whose connection is closed for good."""
    source: AsyncEngine | None = getattr(db_engine.sync_engine, _SOURCE, None)
    if source is None or "connection" not in source.sync_engine.pool.__dict__:
        return source is not None  # never connected, or disposed of (a new pool, no connection)
    try:
        _driver_connection(source)
    except sqlite3.OperationalError:
        return True
    return False


def _driver_connection(source: AsyncEngine) -> Any:
    """The application's aiosqlite connection, without checking it out of its pool.

    A checkout would be returned with a rollback of whatever the application has not committed.
    """
    pool = source.sync_engine.pool
    record = pool.__dict__.get("connection")  # StaticPool's one record, once it has connected
    driver = None if record is None or record.dbapi_connection is None else record.driver_connection
    if driver is None or not driver._running or driver._connection is None:
        raise sqlite3.OperationalError(
            f"the in-memory SQLite database of {source.sync_engine.url!r} is not open: its engine was "
            "disposed of, or has not connected yet (create the tables through it first)"
        )
    return driver


class _Transaction:
    """The store's transaction on the shared connection; its methods run on aiosqlite's thread."""

    __slots__ = ("changes", "open", "savepoint")

    def __init__(self) -> None:
        self.open = False  # a transaction (or savepoint) of the store is open
        self.savepoint = False  # ... and it is a savepoint inside the application's transaction
        self.changes = 0  # the connection's total_changes when it opened

    def begin(self, db: sqlite3.Connection) -> None:
        """Open the store's transaction before its first statement (a savepoint in the app's)."""
        if self.open:
            return
        self.savepoint = db.in_transaction
        db.execute(f"SAVEPOINT {_SAVEPOINT}" if self.savepoint else "BEGIN")
        self.changes = db.total_changes
        self.open = True

    def end(self, db: sqlite3.Connection, *, commit: bool) -> None:
        """Commit or roll back the store's part; a commit that wrote ends the connection's transaction."""
        if not self.open:
            return
        self.open = False
        if not self.savepoint:
            if commit:
                db.commit()
            else:
                db.rollback()
            return
        if not commit:
            db.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
        db.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        if commit and db.total_changes != self.changes:
            db.commit()  # what the store wrote must be durable: the connection's transaction ends


class _Lease:
    """What SQLAlchemy's aiosqlite dialect takes for an aiosqlite connection: the app's, leased.

    The lease starts with the first command and ends when SQLAlchemy closes (or terminates) the
    connection, or when the lease is garbage-collected unclosed. Commands run on aiosqlite's
    thread, as aiosqlite's own do.
    """

    def __init__(self, source: AsyncEngine) -> None:
        self._source = source
        self._commands: SimpleQueue[_Command] | None = None
        self._transaction = _Transaction()
        self._connection = True  # SQLAlchemy's adapter commits and rolls back only while truthy

    # ------------------------------------------------------------------ the lease

    def _start(self) -> SimpleQueue[_Command]:
        """Queue the lease's job on aiosqlite's thread (called from the event loop)."""
        driver = _driver_connection(self._source)
        commands: SimpleQueue[_Command] = SimpleQueue()
        # The job references the queue and the transaction, not the lease: a lease nobody closed
        # is still collected, and its finalizer ends the job.
        job = partial(_hold, driver, commands, self._transaction)
        # The queue of aiosqlite's worker thread, fed as aiosqlite's own methods feed it
        # (SQLAlchemy's adapter does so too, to set the isolation level). aiosqlite from 0.22
        # (the one with ``stop``) takes a job without a future: then nothing is sent back to an
        # event loop that may be closed by the time the lease ends; older ones need one.
        done: asyncio.Future[None] | None = None
        if not hasattr(type(driver), "stop"):
            done = asyncio.get_running_loop().create_future()
            done.add_done_callback(_consume)
        driver._tx.put_nowait((done, job))
        weakref.finalize(self, commands.put, _RELEASE)
        self._commands = commands
        return commands

    def _release(self) -> None:
        commands, self._commands = self._commands, None
        if commands is not None:
            commands.put(_RELEASE)

    async def _run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        commands = self._commands or self._start()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        commands.put((fn, future))
        return await future

    # ------------------------------------------------------------------ aiosqlite's connection API

    def cursor(self) -> _Cursor:
        return _Cursor(self, self._transaction)

    async def commit(self) -> None:
        if self._commands is not None:
            await self._run(partial(self._transaction.end, commit=True))

    async def rollback(self) -> None:
        if self._commands is not None:
            await self._run(partial(self._transaction.end, commit=False))

    async def close(self) -> None:
        """End the lease (a transaction left open is rolled back); the connection stays the app's."""
        self._release()

    def stop(self) -> None:
        """Terminate: end the lease at once."""
        self._release()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        """Nothing to do: the application's SQLAlchemy dialect registered its functions on connect.

        (SQLite refuses to register one while a statement of the application is unfinished.)
        """

    @property
    def isolation_level(self) -> str | None:
        level: str | None = _driver_connection(self._source).isolation_level
        return level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        raise NotImplementedError(
            "the workflows store does not change the isolation level of an application's in-memory "
            "SQLite connection"
        )


def _hold(driver: Any, commands: SimpleQueue[_Command], transaction: _Transaction) -> None:
    """The lease's job on aiosqlite's thread: run its commands until it is released.

    Nothing else runs on the connection meanwhile: aiosqlite runs its queue one job at a time.
    """
    try:
        db: sqlite3.Connection | None = driver._conn
        closed: BaseException | None = None
    except ValueError as error:  # closed after the lease was queued
        db, closed = None, sqlite3.OperationalError(str(error))
    while (command := commands.get()) is not _RELEASE:
        fn, future = command
        try:
            if db is None:
                raise closed  # type: ignore[misc]
            result, failure = fn(db), None
        except BaseException as error:  # handed to the awaiting coroutine
            result, failure = None, error
        _settle(future, result, failure)
    if db is not None and transaction.open:  # returned mid-transaction: undo the store's part
        try:
            transaction.end(db, commit=False)
        except sqlite3.Error:  # the connection is gone; so is the transaction
            transaction.open = False


class _Cursor:
    """An aiosqlite-like cursor whose statements run inside the lease's transaction."""

    def __init__(self, lease: _Lease, transaction: _Transaction) -> None:
        self._lease = lease
        self._transaction = transaction
        self._raw: sqlite3.Cursor | None = None
        self.arraysize = 1

    async def __aenter__(self) -> _Cursor:
        self._raw = await self._lease._run(lambda db: db.cursor())
        return self

    def _cursor(self) -> sqlite3.Cursor:
        assert self._raw is not None, "cursor used before it was opened"
        return self._raw

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        raw, transaction = self._cursor(), self._transaction

        def run(db: sqlite3.Connection) -> None:
            transaction.begin(db)
            raw.execute(sql, parameters)

        await self._lease._run(run)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _Cursor:
        raw, transaction = self._cursor(), self._transaction
        rows = list(parameters)

        def run(db: sqlite3.Connection) -> None:
            transaction.begin(db)
            raw.executemany(sql, rows)

        await self._lease._run(run)
        return self

    async def fetchall(self) -> list[Any]:
        raw = self._cursor()
        return await self._lease._run(lambda _db: raw.fetchall())  # type: ignore[no-any-return]

    async def fetchone(self) -> Any:
        raw = self._cursor()
        return await self._lease._run(lambda _db: raw.fetchone())

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        raw, count = self._cursor(), self.arraysize if size is None else size
        return await self._lease._run(lambda _db: raw.fetchmany(count))  # type: ignore[no-any-return]

    async def close(self) -> None:
        if self._raw is not None and self._lease._commands is not None:
            raw = self._raw
            await self._lease._run(lambda _db: raw.close())

    # Plain attributes of the sqlite3 cursor, read as aiosqlite reads them (from the loop thread).
    @property
    def description(self) -> Any:
        return self._cursor().description

    @property
    def rowcount(self) -> int:
        return self._cursor().rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor().lastrowid


def _consume(future: asyncio.Future[None]) -> None:
    """Retrieve a finished lease job's outcome (its failures were handed to its commands)."""
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[Any], result: Any, failure: BaseException | None) -> None:
    """Hand a command's outcome to its coroutine, on the loop that waits for it."""

    def settle() -> None:
        if future.done():  # the awaiting coroutine was cancelled
            return
        if failure is None:
            future.set_result(result)
        else:
            future.set_exception(failure)

    with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
        future.get_loop().call_soon_threadsafe(settle)
