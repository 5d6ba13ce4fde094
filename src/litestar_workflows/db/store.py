"""The SQLAlchemy store: instance state in SQLite or PostgreSQL, written by group commit.

Every transition's rows (the instance with its context and version, the step executions it
finished or scheduled, the tasks it created or changed) are written in one transaction. Many
transitions submitted while the previous commit was in flight are written together, so one
commit (and one fsync) serves hundreds of transitions; the transitions are only reported
committed once that transaction has committed.

Concurrency between processes is optimistic: each instance row carries a version that every
transition increments, and a transition is written only if the row still has the version it
was computed from. A conflict marks the in-memory instance stale; the engine reloads it and
applies its event again. Executions carry leases so that a process that dies leaves work that
any other engine reclaims when the lease expires.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import re
import socket
import weakref
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from litestar_workflows.core.context import utcnow
from litestar_workflows.core.definition import routing_difference
from litestar_workflows.core.errors import (
    ConcurrencyError,
    InstanceKeyTakenError,
    LeaseLostError,
    StoreError,
    WorkflowValidationError,
)
from litestar_workflows.core.types import StepStatus, StepType, WorkflowStatus
from litestar_workflows.db.connection import (
    WRITE_OPTION,
    check_synchronous_commit,
    configure_engine,
    create_store_engine,
    database_state,
    is_file_database,
    is_store_engine,
    release_store_engine,
    shared_store_engine,
    synchronous_commit_of,
)
from litestar_workflows.db.direct_reads import ReadFellThrough, reader_for
from litestar_workflows.db.held_connection import HeldConnection
from litestar_workflows.db.migrate import check_schema_current
from litestar_workflows.db.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)
from litestar_workflows.db.postgres_batch import (
    MAX_PARAMETERS,
    write_creations,
    write_in_one_statement,
    write_in_one_transaction,
)
from litestar_workflows.db.queries import instances_page, task_conditions, tasks_from_rows, tasks_page
from litestar_workflows.db.rows import instance_from_rows
from litestar_workflows.db.sqlite_batch import Rows, one_call_supported, write_in_one_call
from litestar_workflows.db.writer import INSTANCE_COLUMNS, RUN_COLUMNS, TASK_COLUMNS, row_writer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Sequence
    from contextlib import AbstractAsyncContextManager
    from uuid import UUID

    from sqlalchemy import ColumnElement, Table
    from sqlalchemy.ext.asyncio import AsyncConnection
    from sqlalchemy.pool import PoolProxiedConnection

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.runtime.transition import Transition
    from litestar_workflows.store.base import InstanceQuery, TaskQuery

logger = logging.getLogger("litestar_workflows.store")

instances: Table = WorkflowInstanceModel.__table__  # type: ignore[assignment]
executions: Table = StepExecutionModel.__table__  # type: ignore[assignment]
tasks: Table = HumanTaskModel.__table__  # type: ignore[assignment]
definitions: Table = WorkflowDefinitionModel.__table__  # type: ignore[assignment]

_ACTIVE_INSTANCE = (WorkflowStatus.RUNNING.value, WorkflowStatus.WAITING.value)
_BATCH_ATTEMPTS = 3
"""How often a batch is written before its failure is reported (see ``_transient``)."""
_RETRYABLE_SQLSTATES = {"40P01": "lost a deadlock", "40001": "lost a serialization conflict"}


_LISTENERS = "_workflows_commit_listeners"
"""Key in the database's state (``database_state``): the :class:`CommitListener` objects of its stores."""


class CommitListener(Protocol):
    """Told of the batches the stores of this process commit to one database."""

    def committed(self, store: SQLAlchemyStore, instance_keys: set[int]) -> None:
        """``store`` committed transitions of these instances (``instance_id.int``)."""


def _asks_for_nul(query: InstanceQuery | TaskQuery) -> bool:
    """Whether a text filter holds a NUL character, which nothing stored has (the engine refuses it).

    PostgreSQL refuses such a query outright, which would answer "database unavailable".
    """
    for field in dataclasses.fields(query):
        value = getattr(query, field.name)
        texts = value if isinstance(value, list | tuple) else (value,)
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            return True
    return False


def _refuse_other_routing(
    stored: Any, definition: WorkflowDefinition, refusals: dict[tuple[str, str], str]
) -> None:
    """Raise (and remember) when the stored description of the name and version routes otherwise."""
    difference = routing_difference(stored, definition) if isinstance(stored, dict) else None
    if difference is not None:
        refusal = refusals[definition.name, definition.version] = (
            f"workflow {definition.name!r} version {definition.version!r} is stored with other steps or "
            f"edges ({difference}): instances started from the stored one would run differently here; "
            "give the changed definition a new version"
        )
        raise WorkflowValidationError(refusal)


class _Pending:
    """One submitted transition, already turned into driver parameters (values as at submission).

    Rows are keyed by id so that a batch writes each row once, with its latest values.
    """

    __slots__ = ("created", "expected", "future", "instance", "instance_row", "leased", "runs", "tasks")

    def __init__(self, store: SQLAlchemyStore, tr: Transition, now: datetime, expiry: datetime) -> None:
        instance = tr.instance
        writer = store.row_writer
        self.instance = instance
        self.created = tr.created
        self.leased = tr.leased
        self.expected = instance.version - 1
        if tr.created:
            definition_id = store.definition_ids.get((instance.workflow_name, instance.workflow_version))
            self.instance_row = writer.instance_insert(instance, now, definition_id)
        else:
            self.instance_row = writer.instance_update(instance, now)
        # Executions this process starts are leased to it: until the lease runs out nobody else
        # takes them. A timer is leased only until it is due, so that if this process is gone by
        # then any engine fires it on time (firing twice is harmless: one commit wins).
        leases: dict[int, tuple[str, datetime]] = {}
        owner = store.owner
        if store.lease_started:
            for run in tr.start:
                due = run.scheduled_for
                leases[id(run)] = (owner, expiry if due is None or due <= now else due + store.lease)
        elif store.lease_continued and (follow := continued_run(tr)) is not None:
            leases[id(follow)] = (owner, expiry)  # the step's worker runs it next, with no message
        for run in tr.timers:
            leases[id(run)] = (owner, run.scheduled_for or now)
        if leases:
            store.leases_taken = True
        row = writer.run
        instance_id = instance.id
        # Keyed by the ids' integers: UUID.__hash__ is Python code, int's is not.
        self.runs: dict[int, tuple[Any, ...]] = {
            run.id.int: row(run, instance_id, now, leases.get(id(run)))  # type: ignore[union-attr]
            for run in tr.writes
        }
        self.tasks: dict[int, tuple[Any, ...]] = {task.id.int: writer.task(task, now) for task in tr.tasks}
        self.future: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class _Lane:
    """Transitions waiting to be written, and the task writing them one batch at a time.

    Everything submitted while a batch is being written goes into the next one: the group
    commit. ``write`` settles the futures of a batch's transitions.

    While batches keep coming, the lane keeps one connection checked out for them
    (:meth:`connection`). Callers woken by a batch usually submit their next transitions at once
    (a driver's next step, the next awaited start), so after each batch the lane lets them have
    their turn before it looks for more; it hands the connection back only when a turn passes
    with nothing submitted. Checking a connection out of SQLAlchemy's pool and back in costs more
    Python than writing a small batch, and on PostgreSQL the check-in costs a round trip too.
    """

    __slots__ = ("_connect", "_held", "_queue", "_task", "_write")

    def __init__(
        self,
        write: Callable[[list[_Pending], _Lane], Awaitable[None]],
        connect: Callable[[], AsyncConnection],
    ) -> None:
        self._write = write
        self._connect = connect
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None
        self._held: tuple[AsyncConnection, PoolProxiedConnection] | None = None

    def submit(self, items: list[_Pending]) -> None:
        self._queue.extend(items)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())

    async def _drain(self) -> None:
        # Submissions made while the connection is being handed back are written by this
        # task too: it is not done until the queue is empty with nothing held.
        while self._queue:
            try:
                while self._queue:
                    batch, self._queue = self._queue, []
                    await self._write(batch, self)
                    if not self._queue:
                        await asyncio.sleep(0)  # the callers this batch woke go first
            finally:
                await self.release()

    async def connection(self) -> tuple[AsyncConnection, PoolProxiedConnection]:
        """The lane's connection and its pooled DBAPI connection, kept until the lane is idle.

        It has no transaction open between batches: whoever uses it ends what it begins.
        """
        held = self._held
        if held is None:
            conn = await self._connect().start()
            try:
                raw = await conn.get_raw_connection()
            except BaseException:
                await conn.close()
                raise
            held = self._held = (conn, raw)
        return held

    async def release(self, *, invalidate: bool = False) -> None:
        """Hand the connection back to the pool (``invalidate``: discard it, it may be broken)."""
        held, self._held = self._held, None
        if held is None:
            return
        conn = held[0]
        try:
            if invalidate:
                await conn.invalidate()
        finally:
            await conn.close()

    async def settled(self) -> None:
        """Until the batches submitted so far are written (their failures go to their futures)."""
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def continued_run(tr: Transition) -> StepExecution | None:
    """The execution that continues a chain where the step whose outcome ``tr`` records ran.

    The first execution ``tr`` starts that is not scheduled for later, when ``tr`` records a
    step outcome (``tr.leased``). A distributed worker runs it itself, inline, as the local
    driver does; the store leases it to that worker in the same commit
    (``SQLAlchemyStore.lease_continued``), so that no other worker can claim it.
    """
    if tr.leased is None:
        return None
    for run in tr.start:
        if run.scheduled_for is None:
            return run
    return None


def _expected_versions(batch: list[_Pending]) -> dict[UUID, int]:
    """The version each instance the batch updates must still have in the database (new ones aside).

    An instance's first transition in the batch says it; the later ones continue from it.
    """
    created = {item.instance.id for item in batch if item.created}
    expected: dict[UUID, int] = {}
    for item in batch:
        if item.instance.id not in created:
            expected.setdefault(item.instance.id, item.expected)
    return expected


def _one_statement_fits(batch: list[_Pending], rows: Rows) -> bool:
    """Whether :func:`write_in_one_statement` can write the batch.

    Not when it both creates and updates an instance (a clause cannot see a row that another
    clause of the statement inserts), nor with more parameters than one statement should carry.
    """
    created = {item.instance.id.int for item in batch if item.created}
    if created and any(not item.created and item.instance.id.int in created for item in batch):
        return False
    return sum(len(part) * len(part[0]) for part in rows if part) <= MAX_PARAMETERS


def _leased(batch: list[_Pending]) -> list[UUID]:
    """The executions whose outcome the batch records: committed only while this process leases them."""
    return [item.leased for item in batch if item.leased is not None]


def _keyed(batch: list[_Pending]) -> list[_Pending]:
    """The new instances of the batch that have a start key (written apart: ``_insert_keyed``)."""
    return [item for item in batch if item.created and item.instance.key is not None]


def _only_new_unkeyed(batch: list[_Pending]) -> bool:
    """Whether the batch only creates instances, none of them with a start key (and is not empty)."""
    return bool(batch) and all(item.created and item.instance.key is None for item in batch)


async def _all_of(futures: list[asyncio.Future[None]]) -> None:
    """Wait for every future in turn; the first failure is raised (all are settled by one batch)."""
    for future in futures:
        await future


class SQLAlchemyStore:
    """Durable store on SQLAlchemy (async): SQLite via aiosqlite, PostgreSQL via asyncpg.

    Args:
        db_engine: A database URL, or an async engine. One made by :func:`create_store_engine`
            is used as it is; any other (the application's) is left unchanged: the store
            connects to its database through an engine of its own, shared with the other stores
            of the process.
        owner: Name of this process in leases (default: host and pid).
        lease_seconds: How long a claimed execution stays ours without renewal.
        clock: Time source.
        dispose: Dispose ``db_engine`` on :meth:`close` (set when the store created it).
        lease_started: Lease the executions a transition starts to this process (it runs them).
            Distributed engines turn it off: their executions wait unleased until a worker
            that received the message claims one.
        lease_continued: With ``lease_started`` off, still lease to this process the execution
            that continues a step's chain (:func:`continued_run`): the distributed worker that
            ran the step runs it next, without a message.
        synchronous_commit: What a commit the store reports has survived. ``True`` (the default):
            the database has it on disk, so it survives a crash of this process, of the
            operating system or of the machine (power loss). ``False`` (relaxed commits, opt-in):
            the database has it, but may not have flushed it to disk yet; it survives a crash of
            this process and every other connection sees it at once, but a power loss or an
            operating system crash may lose the commits of the last moments: on SQLite those
            since the write-ahead log was last synced (``PRAGMA synchronous=NORMAL``, WAL kept),
            on PostgreSQL up to three times ``wal_writer_delay`` (600 ms by default;
            ``synchronous_commit = off`` on the store's connections). The database stays
            consistent either way, and a lost commit is lost whole: no instance is ever left
            half-written. Commits cost much less, since none waits for an fsync. On an
            in-memory SQLite database it changes nothing. Stores of one database that differ in
            this setting each get an engine of their own; an engine made by
            :func:`create_store_engine` with the other setting is left unchanged (the store
            connects beside it).

    Raises:
        TypeError: ``synchronous_commit`` is not a bool.
    """

    def __init__(
        self,
        db_engine: AsyncEngine | str,
        *,
        owner: str | None = None,
        lease_seconds: float = 30.0,
        clock: Callable[[], datetime] = utcnow,
        dispose: bool = False,
        lease_started: bool = True,
        lease_continued: bool = False,
        synchronous_commit: bool = True,
    ) -> None:
        check_synchronous_commit(synchronous_commit)
        if (
            isinstance(db_engine, str)
            or not is_store_engine(db_engine)
            or synchronous_commit_of(db_engine) not in (None, synchronous_commit)
        ):
            shared = shared_store_engine(db_engine, self, synchronous_commit=synchronous_commit)
            db_engine, dispose = shared, True
        self.synchronous_commit = synchronous_commit
        """Whether a commit waits for the disk (see the class's ``synchronous_commit`` argument)."""
        self._state = database_state(db_engine)
        self.lease_started = lease_started
        self.lease_continued = lease_continued
        self.db_engine = db_engine
        self._writes = db_engine.execution_options(**{WRITE_OPTION: True})
        self._saving: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._refusals: dict[tuple[str, str], str] = {}
        """Definitions that route otherwise than the stored ones, with the refusal's text (asked once)."""
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.leases_taken = owner is not None
        """Whether rows may be leased to :attr:`owner`: set before any write that leases one.

        A named owner may hold leases of an earlier process of that name. An engine that only
        read (a CLI listing) then has nothing to give back when it stops, and writes nothing.
        """
        self.lease = timedelta(seconds=lease_seconds)
        self.clock = clock
        self.definition_ids: dict[tuple[str, str], UUID] = {}
        self._dispose = dispose
        self._now: tuple[datetime, datetime] | None = None
        dialect = db_engine.dialect.name
        self._lane = _Lane(self._write_batch, self._writes.connect)
        # PostgreSQL takes concurrent transactions: a new instance's rows (which no other
        # transition touches until they are committed) are written beside the group commit in
        # flight instead of after it, so a start awaited on its own costs its own small commit.
        # SQLite has one writer at a time: there a second lane would only wait for the lock.
        self._creations = (
            _Lane(self._write_batch, self._writes.connect) if dialect == "postgresql" else self._lane
        )
        # Executions leased here whose outcome failed to commit: nothing runs them any more, so
        # the next claim takes them back without waiting for the lease to run out.
        self._orphaned: set[UUID] = set()
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self._postgres = dialect == "postgresql"
        self._one_call = is_file_database(db_engine) and one_call_supported()
        """Write SQLite batches as one job on the driver's thread (:mod:`.sqlite_batch`)."""
        self._direct_writes = self._postgres and db_engine.dialect.driver == "asyncpg"
        """PostgreSQL batches go straight through asyncpg when nothing conflicts (:mod:`.postgres_batch`)."""
        self._reads = reader_for(db_engine, self._one_call)
        """Read instances in one call to the driver, SQLite or PostgreSQL (:mod:`.direct_reads`)."""
        self._held_reads = HeldConnection(db_engine.connect) if self._one_call else None
        """SQLite: the connection those reads share while they keep coming (:mod:`.held_connection`)."""
        self.row_writer = row_writer(dialect)

    @property
    def owner(self) -> str:
        """The name this store's leases carry: unique to the store unless one is given."""
        return self._owner

    @owner.setter
    def owner(self, name: str) -> None:
        # A name given later (a worker's) may hold leases of an earlier process of that name.
        self._owner = name
        self.leases_taken = True

    @classmethod
    def from_url(cls, url: str, *, synchronous_commit: bool = True, **kwargs: Any) -> SQLAlchemyStore:
        """A store on the store engine of ``url`` (shared in this process; released by :meth:`close`).

        ``synchronous_commit`` and the other keywords are the class's own (``False``: relaxed
        commits, see :class:`SQLAlchemyStore`).
        """
        return cls(url, synchronous_commit=synchronous_commit, **kwargs)

    async def check(self) -> None:
        """Fail with a message naming the fix unless the database is reachable and migrated."""
        await check_schema_current(self.db_engine)

    async def close(self) -> None:
        """Wait for pending commits, then release the engine if this store created it."""
        await asyncio.shield(self._settled())
        if self._held_reads is not None:
            await self._held_reads.close()
        if self._dispose:
            self._dispose = False  # stopping twice gives the share back once
            await release_store_engine(self.db_engine, self)

    # ------------------------------------------------------------------ writing

    def commit(self, transitions: Sequence[Transition]) -> Awaitable[None]:
        """Queue the transitions for the next group commit; awaiting the result waits for it.

        The rows are computed now, from the values as they are at this call. For the usual single
        transition the result is the commit's own future, not a coroutine: with thousands of
        transitions waiting for one batch, every object each of them holds is scanned by the
        garbage collector over and over.

        Raises:
            ConcurrencyError: Another process changed the instance first (reload and retry).
            StoreError: The database failed.
        """
        for tr in transitions:
            if tr.instance.runtime.stale:
                raise ConcurrencyError(f"instance {tr.instance.id} changed elsewhere; reload it")
        now, expiry = self._moment()
        items = [_Pending(self, tr, now, expiry) for tr in transitions]
        lane = self._creations if all(item.created for item in items) else self._lane
        lane.submit(items)
        if len(items) == 1:
            return items[0].future
        return _all_of([item.future for item in items])

    def _moment(self) -> tuple[datetime, datetime]:
        """The commit time, and the lease expiry from it, of what is submitted in this loop turn.

        Transitions submitted in one turn of the event loop go to the database together, so they
        share one clock reading: the rows then repeat the same moments, which the row writer
        renders once.
        """
        moment = self._now
        if moment is None:
            now = self.clock()
            moment = self._now = (now, now + self.lease)
            asyncio.get_running_loop().call_soon(self._next_turn)
        return moment

    def _next_turn(self) -> None:
        self._now = None

    async def _settled(self) -> None:
        """Until every transition submitted so far is written (or failed)."""
        await self._lane.settled()
        await self._creations.settled()

    async def _write_batch(self, batch: list[_Pending], lane: _Lane) -> None:
        """Write one batch of ``lane`` and settle each transition's future with the outcome."""
        try:
            await self._write_again_if_transient(batch, lane)
        except Exception as error:
            failure = error if isinstance(error, StoreError) else _store_error(error)
            for item in batch:
                item.instance.runtime.stale = True
                if not item.future.done():
                    item.future.set_exception(failure)
                    if item.leased is not None and not isinstance(failure, ConcurrencyError):
                        self._orphaned.add(item.leased)
        else:
            for item in batch:
                if not item.future.done():
                    item.future.set_result(None)
            self._announce(batch)

    def subscribe(self, listener: CommitListener) -> None:
        """Tell ``listener`` of every batch any store of this process commits to this database.

        Engines built per request each have a store of their own on one shared database engine:
        a waiter of one learns of another's commit at once instead of at its next poll. Held
        weakly; the listener is called on the committing store's event loop, with the ids
        (``id.int``) of the instances the batch wrote.
        """
        self._listeners(create=True).add(listener)

    def _listeners(self, *, create: bool = False) -> weakref.WeakSet[CommitListener]:
        """The commit listeners of this database in this process (kept in its ``database_state``)."""
        listeners: weakref.WeakSet[CommitListener] | None = self._state.get(_LISTENERS)
        if listeners is None:
            listeners = weakref.WeakSet()
            if create:
                self._state[_LISTENERS] = listeners
        return listeners

    def _announce(self, batch: list[_Pending]) -> None:
        listeners = self._listeners()
        if not listeners:
            return
        written = {item.instance.id.int for item in batch if not item.instance.runtime.stale}
        for listener in list(listeners):
            listener.committed(self, written)

    async def _write_again_if_transient(self, batch: list[_Pending], lane: _Lane) -> None:
        """Write a batch; one that lost a deadlock or a connection is written again at once.

        Such a failure says nothing about the batch: failing it would make its callers see an
        error and leave its instances waiting for their leases to run out.
        """
        for attempt in range(1, _BATCH_ATTEMPTS + 1):
            try:
                await self._write(batch, lane)
            except (SQLAlchemyError, OSError) as error:
                reason = _transient(error)
                if reason is None or attempt == _BATCH_ATTEMPTS:
                    raise
                logger.warning("a group commit %s; writing it again (attempt %d)", reason, attempt + 1)
                batch = [item for item in batch if not item.future.done()]  # failed before the error
            else:
                return

    async def _write(self, batch: list[_Pending], lane: _Lane) -> None:
        """Write a batch in one transaction, leaving out transitions that lost a race.

        On SQLite the version check rides on the UPDATE's row count and only a mismatch costs a
        second, careful attempt; on PostgreSQL (no row count from ``executemany``) the versions are
        read under ``FOR UPDATE`` first.
        """
        batch = self._drop_forks(batch)
        if not self._postgres:
            if self._one_call and not _keyed(batch):
                leased = _leased(batch)
                check = self.row_writer.sqlite_lease_check(self.owner, leased) if leased else None
                _, raw = await lane.connection()
                rows = self._rows(batch)
                try:
                    written = await write_in_one_call(raw, self.row_writer.statements, check, rows)
                except BaseException:
                    await lane.release(invalidate=True)
                    raise
                if written:
                    return
            async with self._writes.connect() as conn:
                transaction = await conn.begin()
                if not await self._leases_lost(conn, batch) and await self._write_rows(conn, batch):
                    await transaction.commit()
                    return
                await transaction.rollback()
        elif (_only_new_unkeyed(batch) and await self._created(batch, lane)) or (
            self._direct_writes and not _keyed(batch) and await self._written_directly(batch, lane)
        ):
            return
        async with self._writes.begin() as conn:
            batch = await self._drop_conflicts(conn, batch)
            if not await self._write_rows(conn, batch):
                raise ConcurrencyError("an instance changed while its row was locked")  # pragma: no cover

    async def _written_directly(self, batch: list[_Pending], lane: _Lane) -> bool:
        """PostgreSQL: write a batch without conflicts in one transaction straight through asyncpg.

        Returns ``False`` when the batch must go the careful way: an instance changed elsewhere,
        a lease was lost, or the driver raised (the careful way meets the error again, retries
        it if it is transient, and reports it otherwise).
        """
        conn, raw = await lane.connection()
        rows = self._rows(batch)
        try:
            if _one_statement_fits(batch, rows):
                return await write_in_one_statement(raw, self.owner, _leased(batch), rows)
            return await write_in_one_transaction(
                conn,
                raw,
                self.row_writer.statements,
                _expected_versions(batch),
                self.owner,
                _leased(batch),
                rows,
            )
        except Exception as error:
            logger.debug("writing a batch straight through asyncpg failed (%s); writing it again", error)
            await lane.release()  # invalidated already if it was left in a transaction
            return False

    async def _created(self, batch: list[_Pending], lane: _Lane) -> bool:
        """PostgreSQL: write a batch of new instances in one statement (:mod:`.postgres_batch`).

        Returns ``False`` when the batch must go the usual way: too large, or the statement failed
        (the usual way then reports the error, or writes what the failure left unwritten).
        """
        inserted, updated, runs, human = self._rows(batch)
        width = (
            len(inserted) * len(INSTANCE_COLUMNS)
            + len(runs) * len(RUN_COLUMNS)
            + len(human) * len(TASK_COLUMNS)
        )
        if updated or width > MAX_PARAMETERS:
            return False
        _, raw = await lane.connection()
        try:
            await write_creations(raw, inserted, runs, human)
        except Exception as error:
            logger.debug("writing new instances in one statement failed (%s); writing them again", error)
            await lane.release(invalidate=True)
            return False
        return True

    @staticmethod
    def _drop_forks(batch: list[_Pending]) -> list[_Pending]:
        """Fail transitions that do not continue the chain of their instance, or continue a failed one.

        Rows of one instance are collapsed to the newest, which is right only when they were
        computed one after another on the same copy. Two copies of one instance (two concurrent
        operations that each loaded it) fork the chain: the first wins, the other must reload.

        A copy goes stale when a transition of it fails (in an earlier batch, or in an earlier
        attempt of this one). A transition submitted on that copy before then was computed on top
        of the failed one, and the version check cannot tell: another process may have moved the
        stored row on by as many versions, to a different state with the very version this
        transition expects. Written, it would put the failed transition's changes in and wipe out
        the other process's (a branch lost, a join that never fires). It must reload instead.
        """
        chains: dict[int, tuple[WorkflowInstanceData, int]] = {}
        kept = []
        for item in batch:
            key = item.instance.id.int
            chain = chains.get(key)
            if item.instance.runtime.stale or (
                chain is not None and (chain[0] is not item.instance or chain[1] != item.expected)
            ):
                item.instance.runtime.stale = True
                item.future.set_exception(
                    ConcurrencyError(f"instance {item.instance.id} was changed concurrently; reload it")
                )
                continue
            chains[key] = (item.instance, item.expected + 1)
            kept.append(item)
        return kept

    async def _write_rows(self, conn: AsyncConnection, batch: list[_Pending]) -> bool:
        keyed = _keyed(batch)
        if keyed:
            batch = await self._insert_keyed(conn, batch, keyed)
        return await self.row_writer.write(conn, *self._rows(batch))

    def _rows(self, batch: list[_Pending]) -> Rows:
        """The batch's rows per statement, each row once with its latest values (keyed inserts aside)."""
        inserted: dict[int, tuple[Any, ...]] = {}
        updated: dict[int, tuple[Any, ...]] = {}
        expected: dict[int, int] = {}
        runs: dict[int, tuple[Any, ...]] = {}
        human: dict[int, tuple[Any, ...]] = {}
        for item in batch:  # later rows of the same object replace earlier ones
            key = item.instance.id.int
            if item.created:
                if item.instance.key is None:  # keyed rows are in already (_insert_keyed)
                    inserted[key] = item.instance_row
                expected[key] = item.expected + 1  # the version the inserted row carries
            else:  # an instance created in this batch is inserted first, then updated
                expected.setdefault(key, item.expected)
                updated[key] = (*item.instance_row, expected[key])
            runs.update(item.runs)
            human.update(item.tasks)
        postgres = self._postgres

        def listed(rows: dict[int, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            # On PostgreSQL every statement locks rows in id order: two never wait for each other.
            return [rows[k] for k in sorted(rows)] if postgres else list(rows.values())

        return listed(inserted), listed(updated), listed(runs), listed(human)

    async def _insert_keyed(
        self, conn: AsyncConnection, batch: list[_Pending], keyed: list[_Pending]
    ) -> list[_Pending]:
        """Insert the new instances that have a start key (``keyed``); drop those whose key is taken.

        In one statement (per 200), rows in (workflow, key) order so that two transactions
        never wait for each other's keys. A start that lost (its workflow has an instance with
        that key, committed or earlier in this batch) is told so with ``InstanceKeyTakenError``;
        the rest of the batch goes on. (A start whose caller stopped waiting, its future
        cancelled, is written all the same, like every other transition.)
        """
        # Stale: it lost in an earlier attempt at this batch, and was told so then.
        tried = sorted(
            (item for item in keyed if not item.instance.runtime.stale),
            key=lambda item: (item.instance.workflow_name, item.instance.key),
        )
        written = await self.row_writer.insert_keyed(conn, [item.instance_row for item in tried])
        lost: set[int] = set()
        for item in keyed:
            instance = item.instance
            if instance.runtime.stale or self.row_writer.bound_id(item.instance_row) not in written:
                lost.add(instance.id.int)
                instance.runtime.stale = True
                if not item.future.done():
                    taken = InstanceKeyTakenError(instance.workflow_name, instance.key or "")
                    item.future.set_exception(taken)
        if not lost:
            return batch
        return [item for item in batch if item.instance.id.int not in lost]

    async def instance_with_key(self, workflow_name: str, key: str) -> WorkflowInstanceData | None:
        """The instance of ``workflow_name`` started with ``key`` (with its history), or ``None``."""
        query = select(instances.c.id).where(
            instances.c.workflow_name == workflow_name, instances.c.key == key
        )
        try:
            async with self.db_engine.connect() as conn:
                found: UUID | None = (await conn.execute(query)).scalar()
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error
        return None if found is None else await self.load_instance(found)

    async def _leases_lost(self, conn: AsyncConnection, batch: list[_Pending]) -> set[UUID]:
        """The executions of the batch whose outcome this process may no longer commit.

        A step's outcome is committed only while this process holds the execution's lease: once
        another process took it over (the lease ran out here), the other's outcome counts. Read
        in the write transaction, under row locks on PostgreSQL (a claim skips locked rows).
        """
        leased = _leased(batch)
        if not leased:
            return set()
        return await self.row_writer.leased_elsewhere(conn, self.owner, leased)

    async def _drop_conflicts(self, conn: AsyncConnection, batch: list[_Pending]) -> list[_Pending]:
        """Fail the transitions whose instance row moved on without us, or whose lease is gone.

        A transition that failed takes the later ones of its instance in the batch with it (they
        continue from its state): those are told to reload and apply again.
        """
        expected = _expected_versions(batch)
        leased = _leased(batch)
        found: dict[UUID, int] = {}
        if expected and leased and self._postgres:  # both checks in one round trip
            found, lost = await self.row_writer.versions_and_leases(
                conn, sorted(expected), self.owner, leased
            )
        else:
            if expected:  # instance rows are locked before execution rows, as the writer does
                query = (
                    select(instances.c.id, instances.c.version)
                    .where(instances.c.id.in_(sorted(expected)))
                    .order_by(instances.c.id)
                )
                if self._postgres:
                    query = query.with_for_update()
                found = {row.id: row.version for row in await conn.execute(query)}
            lost = await self._leases_lost(conn, batch)
        conflicts = {iid for iid, version in expected.items() if found.get(iid) != version}
        if not conflicts and not lost:
            return batch
        kept = []
        for item in batch:
            iid = item.instance.id
            if item.leased is not None and item.leased in lost:
                error: ConcurrencyError = LeaseLostError(
                    f"execution {item.leased} of instance {iid} was taken over by another process"
                )
                conflicts.add(iid)
            elif iid in conflicts:
                error = ConcurrencyError(f"instance {iid} was changed by another process; reload it")
            else:
                kept.append(item)
                continue
            item.instance.runtime.stale = True
            item.future.set_exception(error)
        return kept

    def _upsert(self, table: Any, keep: Iterable[str]) -> Any:
        statement = self._insert(table)
        fixed = {"id", "sa_orm_sentinel", *keep}
        changes = {c.name: statement.excluded[c.name] for c in table.columns if c.name not in fixed}
        return statement.on_conflict_do_update(index_elements=[table.c.id], set_=changes)

    async def save_definition(self, definition: WorkflowDefinition) -> None:
        """Record a definition once; a concurrent insert of the same one by another process is fine.

        Concurrent first starts of one workflow in this process share a single save. A definition
        already stored under its name and version must route as this one does (see
        :func:`~litestar_workflows.core.definition.routing_difference`), once per process.

        Raises:
            WorkflowValidationError: The stored definition of that name and version has other
                steps or edges: this process would run its instances differently.
        """
        key = (definition.name, definition.version)
        if key in self.definition_ids:
            return
        refusal = self._refusals.get(key)
        if refusal is not None:
            raise WorkflowValidationError(refusal)
        saving = self._saving.get(key)
        if saving is None:
            saving = self._saving[key] = asyncio.ensure_future(self._save_definition(definition))
            saving.add_done_callback(lambda _: self._saving.pop(key, None))
        await asyncio.shield(saving)

    async def _save_definition(self, definition: WorkflowDefinition) -> None:
        key = (definition.name, definition.version)
        now = self.clock()
        query = select(definitions.c.id, definitions.c.definition_json).where(
            definitions.c.name == definition.name, definitions.c.version == definition.version
        )
        try:
            async with self._writes.begin() as conn:
                row = (await conn.execute(query)).first()
                existing = None if row is None else row.id
                if row is not None:
                    _refuse_other_routing(row.definition_json, definition, self._refusals)
                else:
                    new_id = _uuid()
                    await conn.execute(
                        definitions.insert(),
                        {
                            "id": new_id,
                            "name": definition.name,
                            "version": definition.version,
                            "description": definition.description,
                            "definition_json": definition.to_dict(),
                            "is_active": True,
                            "created_at": now,
                            "updated_at": now,
                        },
                    )
                    existing = new_id
        except IntegrityError:  # another process registered it between our select and insert
            async with self.db_engine.connect() as conn:
                row = (await conn.execute(query)).first()
            existing = None if row is None else row.id
            if row is not None:
                _refuse_other_routing(row.definition_json, definition, self._refusals)
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error
        if existing is not None:
            self.definition_ids[key] = existing

    # ------------------------------------------------------------------ leases and due work

    async def claim_due(
        self, limit: int = 100, workflows: Collection[tuple[str, str]] | None = None
    ) -> list[tuple[UUID, UUID]]:
        """Claim executions nobody holds that are due: scheduled work, timers whose time came.

        Returns (instance id, execution id) pairs now leased to this store's owner. Safe when
        several engines call it at once: each execution is claimed by one of them. ``workflows``
        (the (name, version) pairs the caller can run) leaves the others' work to processes that
        have their definitions, instead of taking it only to give it up again.
        """
        if workflows is not None and not workflows:
            return []
        now = self.clock()
        orphaned = list(self._orphaned)
        free = or_(executions.c.lease_expires_at.is_(None), executions.c.lease_expires_at < now)
        if orphaned:  # ours, but their outcome failed to commit: nothing here runs them any more
            free = or_(free, and_(executions.c.id.in_(orphaned), executions.c.lease_owner == self.owner))
        due = and_(
            instances.c.status.in_(_ACTIVE_INSTANCE),
            free,
            or_(
                and_(
                    executions.c.status.in_((StepStatus.SCHEDULED.value, StepStatus.RUNNING.value)),
                    or_(executions.c.scheduled_for.is_(None), executions.c.scheduled_for <= now),
                ),
                and_(  # timer steps, and human tasks' deadlines (runtime/deadlines.py)
                    executions.c.status == StepStatus.WAITING.value,
                    executions.c.step_type.in_((StepType.TIMER.value, StepType.HUMAN.value)),
                    executions.c.scheduled_for <= now,
                ),
            ),
        )
        if workflows is not None:
            due = and_(
                due,
                or_(
                    *(
                        and_(instances.c.workflow_name == name, instances.c.workflow_version == version)
                        for name, version in workflows
                    )
                ),
            )
        candidates = (
            select(executions.c.id)
            .join(instances, instances.c.id == executions.c.instance_id)
            .where(due)
            # Due first. Skipping locked rows, a claim never waits for a lock: no deadlock.
            .order_by(executions.c.scheduled_for)
            .limit(limit)
        )
        if self._postgres:
            candidates = candidates.with_for_update(of=executions, skip_locked=True)
        claim = (
            update(executions)
            .where(executions.c.id.in_(candidates.scalar_subquery()), free)
            .values(lease_owner=self.owner, lease_expires_at=now + self.lease, updated_at=now)
            .returning(executions.c.instance_id, executions.c.id)
        )
        self.leases_taken = True
        try:
            async with self._writes.begin() as conn:
                claimed = [(row.instance_id, row.id) for row in await conn.execute(claim)]
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error
        self._orphaned.difference_update(orphaned)  # claimed now, or finished or taken elsewhere
        return claimed

    async def renew_leases(self, execution_ids: Iterable[UUID]) -> None:
        """Extend our leases on executions still running here (long steps must not be reclaimed)."""
        ids = list(execution_ids)
        if not ids:
            return
        now = self.clock()
        statement = (
            update(executions)
            .where(self._locked_in_order(executions.c.id.in_(ids), executions.c.lease_owner == self.owner))
            .values(lease_expires_at=now + self.lease)
        )
        try:
            async with self._writes.begin() as conn:
                await conn.execute(statement)
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error

    async def release_executions(self, execution_ids: Iterable[UUID], *, publish_again: bool = False) -> None:
        """Give up this owner's leases on these executions (another process may take them at once).

        ``publish_again``: the message that brought them here is spent and nobody else has one,
        so they are marked as unclaimed since long ago, whatever lease the sweeping process
        uses: its next sweep publishes them again (they used to wait a whole lease first).
        """
        ids = list(execution_ids)
        if not ids:
            return
        touched = _UNCLAIMED_LONG_AGO if publish_again else self.clock()
        statement = (
            update(executions)
            .where(self._locked_in_order(executions.c.id.in_(ids), executions.c.lease_owner == self.owner))
            .values(lease_owner=None, lease_expires_at=None, updated_at=touched)
        )
        try:
            async with self._writes.begin() as conn:
                await conn.execute(statement)
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error

    async def release_leases(self) -> None:
        """Give up every lease this store's owner holds (on a clean stop), so others go on at once."""
        statement = (
            update(executions)
            .where(self._locked_in_order(executions.c.lease_owner == self.owner))
            .values(lease_owner=None, lease_expires_at=None, updated_at=self.clock())
        )
        await self._settled()  # pending commits first
        if not self.leases_taken:
            return
        try:
            async with self._writes.begin() as conn:
                await conn.execute(statement)
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error

    def _locked_in_order(self, *conditions: ColumnElement[bool]) -> ColumnElement[bool]:
        """The executions matching ``conditions``, for an UPDATE that locks them in id order.

        An UPDATE locks rows in whatever order its plan visits them; on PostgreSQL the rows are
        therefore locked first, in id order (the order the group-commit writer locks them in),
        so that it and the writer never each hold a row the other waits for.
        """
        if not self._postgres:  # SQLite: one writer at a time, no row locks
            return and_(*conditions)
        ordered = select(executions.c.id).where(*conditions).order_by(executions.c.id).with_for_update()
        return executions.c.id.in_(ordered.scalar_subquery())

    # ------------------------------------------------------------------ reading

    async def load_instance(self, instance_id: UUID) -> WorkflowInstanceData | None:
        """The instance with its whole history, active executions, pending tasks and join state.

        The three reads share one snapshot (REPEATABLE READ on PostgreSQL; SQLite transactions
        are serialized anyway), so a transition committed meanwhile is seen entirely or not at all.
        """
        if self._reads is not None:
            try:
                async with self._read_connection() as conn:
                    found = await self._reads.load(conn, instance_id)
            except ReadFellThrough:
                pass  # read again below, where an error that persists is reported as usual
            except (SQLAlchemyError, OSError) as error:
                raise _store_error(error) from error
            else:
                return None if found is None else instance_from_rows(*found)
        try:
            async with self._snapshot() as conn:
                row = (
                    (await conn.execute(select(instances).where(instances.c.id == instance_id)))
                    .mappings()
                    .first()
                )
                if row is None:
                    return None
                runs = (
                    (
                        await conn.execute(
                            select(executions)
                            .where(executions.c.instance_id == instance_id)
                            .order_by(executions.c.created_at, executions.c.id)
                        )
                    )
                    .mappings()
                    .all()
                )
                task_rows = (
                    (await conn.execute(select(tasks).where(tasks.c.instance_id == instance_id)))
                    .mappings()
                    .all()
                )
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error
        return instance_from_rows(row, runs, task_rows)

    def _read_connection(self) -> AbstractAsyncContextManager[AsyncConnection]:
        """A connection for a one-call read: the held one on SQLite, a pooled one on PostgreSQL.

        (asyncpg runs one statement at a time per connection, so there readers do not share.)
        """
        held = self._held_reads
        return self.db_engine.connect() if held is None else held

    @asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[AsyncConnection]:
        async with self.db_engine.connect() as conn:
            if self._postgres:
                await conn.execution_options(isolation_level="REPEATABLE READ")
            yield conn

    async def instance_version(self, instance_id: UUID) -> int | None:
        """The stored version of an instance (one small query), or ``None`` when it does not exist."""
        query = select(instances.c.version).where(instances.c.id == instance_id)
        try:
            if self._reads is not None:
                with suppress(ReadFellThrough):  # else asked again below, through SQLAlchemy
                    async with self._read_connection() as conn:
                        return await self._reads.version(conn, instance_id)
            async with self.db_engine.connect() as conn:
                version: int | None = (await conn.execute(query)).scalar()
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error
        return version

    async def find_instances(self, query: InstanceQuery) -> tuple[list[WorkflowInstanceData], int]:
        """A page of instances (status and data, without history), newest first, and the total."""
        if _asks_for_nul(query):
            return [], 0
        rows, total = await self._page(*instances_page(query))
        return [instance_from_rows(row) for row in rows], total

    async def _page(self, page: Any, count: Any) -> tuple[Sequence[Any], int]:
        """Rows of one page and the total number of matches, in one snapshot."""
        try:
            async with self._snapshot() as conn:
                rows = (await conn.execute(page)).mappings().all()
                total: int = (await conn.execute(count)).scalar_one()
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error
        return rows, total

    async def get_task(self, task_id: UUID) -> HumanTask | None:
        """The task, or ``None``."""
        items, _ = await self._tasks([tasks.c.id == task_id], 1, 0)
        return items[0] if items else None

    async def find_tasks(self, query: TaskQuery) -> tuple[list[HumanTask], int]:
        """A page of tasks, oldest first, and the total."""
        if _asks_for_nul(query):
            return [], 0
        return await self._tasks(task_conditions(query), query.limit, query.offset)

    async def _tasks(self, conditions: list[Any], limit: int, offset: int) -> tuple[list[HumanTask], int]:
        rows, total = await self._page(*tasks_page(conditions, limit, offset))
        return tasks_from_rows(rows), total

    async def instance_versions(self, instance_ids: Collection[UUID]) -> dict[UUID, int]:
        """The stored version of each instance that exists, in one query per 500 ids.

        What waiters' watcher asks once per interval for every instance it watches: cheap enough
        for hundreds of idle long polls, and an instance whose version moved is then reloaded.
        """
        ids = list(instance_ids)
        found: dict[UUID, int] = {}
        try:
            if self._reads is not None and ids:
                with suppress(ReadFellThrough):  # else asked again below, through SQLAlchemy
                    async with self._read_connection() as conn:
                        return await self._reads.versions(conn, ids, _VERSIONS_CHUNK)
            async with self.db_engine.connect() as conn:
                for start in range(0, len(ids), _VERSIONS_CHUNK):
                    chunk = ids[start : start + _VERSIONS_CHUNK]
                    query = select(instances.c.id, instances.c.version).where(instances.c.id.in_(chunk))
                    found.update((row.id, row.version) for row in await conn.execute(query))
        except (SQLAlchemyError, OSError) as error:
            raise _store_error(error) from error
        return found


_VERSIONS_CHUNK = 500
"""Ids per ``instance_versions`` query (well below every driver's limit on bound parameters)."""

_UPDATE_INSTANCE = (
    update(instances)
    .where(instances.c.id == bindparam("b_id"))
    .values(
        {
            c.name: bindparam(c.name)
            for c in instances.columns
            if c.name
            not in (
                "id",
                "created_at",
                "definition_id",
                "workflow_name",
                "workflow_version",
                "sa_orm_sentinel",
            )
        }
    )
)


def _transient(error: BaseException) -> str | None:
    """Why writing the same rows again at once can succeed, or ``None`` when it cannot.

    PostgreSQL aborts one of two transactions that wait for each other's locks; a connection
    that failed (the server restarted, or SQLite opened the file while it was read-only) was
    invalidated with its pool, so the next attempt gets a fresh one.
    """
    if isinstance(error, DBAPIError):
        if error.connection_invalidated:
            return f"lost its connection ({type(error.orig).__name__}: {str(error.orig).splitlines()[0]})"
        return _RETRYABLE_SQLSTATES.get(getattr(error.orig, "sqlstate", None) or "")
    return None


def _uuid() -> UUID:
    from litestar_workflows.core.ids import new_uuid7

    return new_uuid7()


_UNCLAIMED_LONG_AGO: Final = datetime(2000, 1, 1, tzinfo=UTC)
"""``updated_at`` of work given back for another worker: older than any sweep's cutoff."""


def _store_error(error: BaseException) -> StoreError:
    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    if re.search(r'database "[^"]*" does not exist', message):
        return StoreError(f"the database does not exist ({message}): create it, then migrate it")
    if "no such column" in message or re.search(r"column \S+ does not exist", message):
        return StoreError(
            f"the workflows tables are older than this version ({message}): run `litestar workflows "
            "migrate` or litestar_workflows.db.upgrade_database(url)"
        )
    if "no such table" in message or "does not exist" in message:
        return StoreError(
            f"the workflows tables are missing ({message}): run `litestar workflows migrate` "
            "or litestar_workflows.db.upgrade_database(url)"
        )
    return StoreError(f"the workflows database failed: {type(error).__name__}: {message}")


def store_from(persistence: Any, **kwargs: Any) -> SQLAlchemyStore:
    """A store for what users may pass as ``persistence``: a store, engine, session or repository.

    The store never uses the session itself (one session cannot serve many concurrent
    instances) nor changes its engine: it connects to the same database through a store engine
    of its own, shared by every store of the process built for that engine. ``kwargs`` go to
    :class:`SQLAlchemyStore` (``synchronous_commit=False`` for relaxed commits, ...); a store
    given as ``persistence`` is returned as it is, with the settings it was built with.

    Raises:
        TypeError: ``persistence`` is none of those, or ``synchronous_commit`` is not a bool.
    """
    if isinstance(persistence, SQLAlchemyStore):
        return persistence
    if isinstance(persistence, AsyncEngine):
        return SQLAlchemyStore(persistence, **kwargs)
    bind = _bind_of(persistence)
    if bind is None:
        raise TypeError(
            "persistence must be a WorkflowStore, an AsyncEngine, an AsyncSession, an async_sessionmaker "
            f"or a repository of litestar_workflows.db, not {type(persistence).__name__}"
        )
    return SQLAlchemyStore(bind, **kwargs)


def _bind_of(candidate: Any) -> AsyncEngine | None:
    """The async engine behind a session, a session factory or a repository holding a session."""
    for source in (candidate, getattr(candidate, "session", None)):
        if source is None:
            continue
        bind = getattr(source, "bind", None)
        if bind is None:
            bind = getattr(source, "kw", {}).get("bind")  # async_sessionmaker
        if isinstance(bind, AsyncEngine):
            return bind
    return None


__all__ = (
    "WRITE_OPTION",
    "SQLAlchemyStore",
    "configure_engine",
    "continued_run",
    "create_store_engine",
    "store_from",
)
