"""The local driver: runs workflow instances as asyncio tasks of this process.

It owns no workflow semantics: the interpreter decides what happens, the step runner calls user
code, the store keeps state. The driver moves work between them: it runs the executions a
transition starts (the first one inline in the current task, so a linear chain costs no task
switches), arms timers, commits transitions before anything they start can run, and tells
waiters and the event bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from litestar_workflows.core.context import WorkflowContext, utcnow
from litestar_workflows.core.errors import (
    ConcurrencyError,
    InstanceKeyTakenError,
    InvalidTransitionError,
    LeaseLostError,
    StoreError,
    WaitTimeoutError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowValidationError,
)
from litestar_workflows.core.events import StepStarted, deliver
from litestar_workflows.core.ids import new_uuid7
from litestar_workflows.core.types import StepStatus, StepType, WorkflowStatus
from litestar_workflows.core.workflow import definition_of
from litestar_workflows.engine.clock import timers_for
from litestar_workflows.engine.eager import start_eager
from litestar_workflows.engine.idle_cache import IdleCache
from litestar_workflows.engine.live import Live, as_uuid
from litestar_workflows.engine.recovery import RecoveryOperations
from litestar_workflows.engine.tasks import HumanTaskOperations
from litestar_workflows.engine.watch import InstanceWatcher
from litestar_workflows.engine.watchdog import watch_loop
from litestar_workflows.observability import resolve_telemetry
from litestar_workflows.runtime.human import AssigneeAuthorizer, validate_form_data
from litestar_workflows.runtime.instance_access import CreatorOrAdminAuthorizer, authorize_instance_action
from litestar_workflows.runtime.interpreter import Interpreter, StaleOutcomeError
from litestar_workflows.runtime.jsondata import check_text, normalize, normalize_mapping
from litestar_workflows.runtime.runner import SUCCEEDED, Outcome, StepRunner, apply_outcome, plans_for
from litestar_workflows.store.base import InstanceQuery, Page, WorkflowStore
from litestar_workflows.store.memory import MemoryStore

if TYPE_CHECKING:
    import random
    from collections.abc import Awaitable, Collection, Iterable
    from datetime import datetime, timedelta
    from uuid import UUID

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.events import EventBus
    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.core.protocols import Step
    from litestar_workflows.engine.registry import WorkflowRegistry
    from litestar_workflows.engine.watchdog import LoopWatchdog
    from litestar_workflows.observability.otel import Telemetry
    from litestar_workflows.runtime.human import TaskAuthorizer
    from litestar_workflows.runtime.instance_access import InstanceAction, InstanceAuthorizer
    from litestar_workflows.runtime.runner import StepPlan
    from litestar_workflows.runtime.transition import Transition

logger = logging.getLogger("litestar_workflows.engine")

T = TypeVar("T")
Operation = Callable[[Interpreter, "WorkflowInstanceData"], "Transition"]
"""An event applied to an instance: called again on a fresh copy after a lost write race."""
_CONFLICT_RETRIES = 30
_BACKOFF_FIRST, _BACKOFF_CAP = 0.002, 0.25
"""Seconds: after the n-th lost write race a transition waits up to ``_BACKOFF_FIRST * 2**n`` (at
most ``_BACKOFF_CAP``), a random part of it, before it reloads the instance and tries again."""
_NOT_STARTED = object()
"""Stands in ``Live.running`` for a task being started (see ``_spawn``)."""
_EAGER_DEPTH_LIMIT = 16
"""Eager starts nested deeper than this start on the next loop turn (see ``_spawn``)."""
_INLINE_STEPS_PER_TURN = 64
"""Steps one driver runs inline before it lets the event loop run others (see ``_drive``)."""
_MAX_KEY_LENGTH = 255
"""Longest start key (the width of its database column)."""
_KEY_ATTEMPTS = 5
"""Starts with one key that collide with a start that then failed to commit, before giving up."""


def _is_mirror(persistence: Any) -> bool:
    """Tell a duck-typed persistence object (``save_instance`` + ``load_instance``, the reference's)."""
    return callable(getattr(persistence, "save_instance", None)) and callable(
        getattr(persistence, "load_instance", None)
    )


def _adapt_store(persistence: Any) -> WorkflowStore:
    """Accept what the documentation shows as ``persistence``: a repository or session of ours."""
    from litestar_workflows.db.store import store_from

    return store_from(persistence)


def _reapply(
    interpreter: Interpreter, instance: WorkflowInstanceData, *, outcome: Outcome, attempt: int
) -> Transition:
    run = instance.runtime.active.get(outcome[1].int)
    if run is not None and run.attempt != attempt:
        # A copy reloaded after the sweep made this execution its next attempt. The commit lands
        # only while no other process holds that attempt (the lease check), so the outcome is
        # this attempt's: the record names the attempt that produced it.
        run.attempt = attempt
    tr = apply_outcome(interpreter, instance, outcome)
    tr.leased = outcome[1]  # this process ran it: committed only while it holds the lease
    return tr


_STEP_RUNNING = StepStatus.RUNNING


_ANY_STATUS = frozenset(WorkflowStatus)
"""What a waiter for the next settled change of an instance waits for: any status."""

_FINISHED = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED})
"""Statuses that end every wait: nothing more happens to the instance unless someone acts."""

SETTLED = frozenset(
    {WorkflowStatus.WAITING, WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED}
)
"""Statuses :meth:`LocalExecutionEngine.wait` returns at by default: finished, or waiting for input."""


class LocalExecutionEngine(RecoveryOperations, HumanTaskOperations):
    """Runs workflows in this process on asyncio; state in memory unless a store is given.

    Args:
        registry: Where workflows are looked up by name.
        persistence: A store (see :class:`~litestar_workflows.store.base.WorkflowStore`);
            in-memory by default. An object with ``async save_instance(instance)`` and
            ``async load_instance(id)`` (the reference package's protocol) is accepted too: the
            engine keeps its state in memory and hands that object the instance after every
            transition (its errors are logged, never break the workflow); ``get_instance`` asks
            it for ids the engine does not know.
        event_bus: Receives an event for every transition; its errors never break a workflow.
        authorizer: Decides who may complete, claim and reassign human tasks.
        instance_authorizer: Decides who may cancel, retry, pause and resume an instance when
            those calls name the acting user (default: its creator; see
            :class:`~litestar_workflows.runtime.instance_access.CreatorOrAdminAuthorizer`).
        clock: The time source (timezone-aware). Timers are armed through it too when it
            schedules them (it has ``call_at``, see :mod:`litestar_workflows.engine.clock`):
            :class:`~litestar_workflows.testing.ManualClock` makes time a test controls.
        id_factory: Makes ids of instances, step executions and tasks.
        rng: Random source for retry jitter.
        idle_cache_size: With a database, how many copies of instances this engine no longer
            works on it keeps as live objects, so that reading them back costs no load (see
            :mod:`litestar_workflows.engine.idle_cache`); ``0`` keeps none.
        finished_cache_bytes: With a database, the bound in bytes of the second, compact tier of
            that cache: completed and canceled instances pushed out of the first are kept there
            compressed (about 1 KB for a ten-step instance); ``0`` keeps none.
        blocked_loop_warning: Seconds: from ``start()`` to ``stop()``, a warning naming the step is
            logged when the event loop stays blocked longer than this (a step calling blocking
            code); ``None`` turns the watch off.
        telemetry: OpenTelemetry spans and metrics (the ``otel`` extra): ``None`` turns them on
            when the application configured a global tracer or meter provider (checked here and
            again in ``start()``), ``True`` always, ``False`` never; or a
            :class:`~litestar_workflows.observability.otel.Telemetry` with its own providers.

    Examples:
        >>> engine = LocalExecutionEngine(registry)  # doctest: +SKIP
        >>> instance = await engine.start_workflow("expense", {"amount": 120})  # doctest: +SKIP
        >>> await engine.wait(instance.id)  # doctest: +SKIP
    """

    def __init__(
        self,
        registry: WorkflowRegistry,
        persistence: WorkflowStore | Any = None,
        event_bus: EventBus | None = None,
        *,
        authorizer: TaskAuthorizer | None = None,
        instance_authorizer: InstanceAuthorizer | None = None,
        clock: Callable[[], datetime] | None = None,
        id_factory: Callable[[], UUID] | None = None,
        rng: random.Random | None = None,
        poll_interval: float = 1.0,
        idle_cache_size: int = 10_000,
        finished_cache_bytes: int = 128 * 1024 * 1024,
        blocked_loop_warning: float | None = 1.0,
        telemetry: Telemetry | bool | None = None,
    ) -> None:
        self._mirror: Any = None
        if persistence is not None and not isinstance(persistence, WorkflowStore):
            if _is_mirror(persistence):
                self._mirror, persistence = persistence, None
            else:
                persistence = _adapt_store(persistence)
        self.registry = registry
        self.store: WorkflowStore = persistence if persistence is not None else MemoryStore()
        self.event_bus = event_bus
        self.authorizer: TaskAuthorizer = authorizer or AssigneeAuthorizer()
        self.instance_authorizer: InstanceAuthorizer = instance_authorizer or CreatorOrAdminAuthorizer()
        self.clock = clock or utcnow
        self.timers = timers_for(self.clock)
        """Arms timers at moments of ``clock`` (timer steps, retry back-offs)."""
        self.new_id = id_factory or new_uuid7
        self.runner = StepRunner(self.clock, rng)
        self._memory = self.store if isinstance(self.store, MemoryStore) else None
        self._interpreters: dict[int, tuple[Interpreter, dict[str, StepPlan]]] = {}
        self._refused_definitions: set[tuple[str, str]] = set()
        """(name, version) pairs whose stored definition routes otherwise than ours (see _live_instance)."""
        # Keyed by ``instance_id.int``: UUID.__hash__ is Python code, an int hashes in C.
        self._live: dict[int, Live] = {}
        self.poll_interval = poll_interval
        self._idle = IdleCache(idle_cache_size, self.store, finished_cache_bytes)
        """Copies of the instances this engine released (with a database; see ``engine/idle_cache.py``)."""
        self._sweeper: asyncio.Task[None] | None = None
        self._eager_depth = 0
        self._stopping = False
        """Set by ``stop()`` until its steps ended (or the next ``start()``): no new work starts."""
        self.watcher = InstanceWatcher(self.store, poll_interval, self._install_stored)
        """Looks at the store for the instances waiters wait on, once per ``poll_interval`` for all."""
        self.blocked_loop_warning = blocked_loop_warning
        self._watchdog: LoopWatchdog | None = None
        self._telemetry_option = telemetry
        self.telemetry = self._resolve_telemetry()
        """Spans and metrics (``None``: off, and the hot path only checks that)."""

    def _resolve_telemetry(self) -> Telemetry | None:
        telemetry = resolve_telemetry(self._telemetry_option)
        return None if telemetry is None else telemetry.bind(self)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start background work: with a durable store, check the schema, recover, then sweep.

        Recovery claims the work of processes that died (expired leases) and timers that came due,
        and continues it here. The sweep repeats that every ``poll_interval`` seconds and renews
        the leases of steps running here. With the memory store there is nothing to do.

        Raises:
            StoreError: The database is unreachable or not migrated (the message names the fix).
        """
        self._stopping = False
        if self._memory is None and self._sweeper is None:
            check = getattr(self.store, "check", None)
            if check is not None:
                await check()
            await self.recover()
            self._sweeper = asyncio.create_task(self._sweep())
        if self._watchdog is None and self.blocked_loop_warning:
            self._watchdog = watch_loop(self.blocked_loop_warning)
        if self.telemetry is None and self._telemetry_option is None:
            self.telemetry = self._resolve_telemetry()  # OpenTelemetry configured since __init__
        if self.telemetry is not None:
            await self.telemetry.start()

    stop_timeout: float = 10.0
    """Seconds ``stop()`` waits for cancelled steps to end (set it on the engine to change it)."""

    async def stop(self) -> None:
        """Abandon in-flight work of this process: cancel running steps and timers.

        With a durable store nothing is lost: the leases of abandoned steps expire and the next
        engine to start (or sweep) runs them again. No step starts once this is called. A step
        that ignores its cancellation is waited for ``stop_timeout`` seconds at most: then an
        error names it and this returns, leaving it to end on its own (it holds the event loop's
        shutdown up until it does; nothing after it runs here).
        """
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None
        if self.telemetry is not None:
            await self.telemetry.stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        await self.watcher.stop()
        stubborn = await self._cancel_in_flight()
        # Forget everything of this run: a task cancelled before it started never cleans up.
        for live in self._live.values():
            live.running.clear()
            live.timers.clear()
            live.waiters.clear()
        self._live.clear()
        self._idle.clear()
        release = getattr(self.store, "release_leases", None)
        if release is not None and not stubborn:  # a step still running here keeps its lease
            try:
                await release()  # let the next engine continue our work now, not when leases expire
            except WorkflowsError:
                logger.warning("could not release the leases of this engine; they expire on their own")
        self._stopping = bool(stubborn)  # a step still running must not go on to the next one

    async def __aenter__(self) -> LocalExecutionEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _cancel_in_flight(self) -> set[asyncio.Task[Any]]:
        """Cancel running steps, timers and waiters; wait for the steps, ``stop_timeout`` at most.

        Returns the steps still running then (they ignore their cancellation), named in an error.
        """
        tasks: dict[asyncio.Task[Any], str] = {}
        for live in self._live.values():
            for handle in live.timers.values():
                handle.cancel()
            active = live.instance.runtime.active
            for key, task in live.running.items():
                if isinstance(task, asyncio.Task):
                    run = active.get(key)
                    step = "?" if run is None else run.step_name
                    tasks[task] = f"step {step!r} of instance {live.instance.id}"
            for _, future in live.waiters:
                future.cancel()
        for task in tasks:
            task.cancel()
        stubborn: set[asyncio.Task[Any]] = set()
        if tasks:
            _, stubborn = await asyncio.wait(tasks, timeout=self.stop_timeout)
        if stubborn:
            logger.error(
                "stopping the engine: %d step(s) still run %.0f s after their cancellation, which "
                "they ignore; they are left to end on their own and hold the shutdown of the event "
                "loop up until they do (with a database, another engine runs them again once their "
                "leases expire): %s",
                len(stubborn),
                self.stop_timeout,
                "; ".join(sorted(tasks[task] for task in stubborn)),
            )
        return stubborn

    # ------------------------------------------------------------------ starting

    async def start_workflow(
        self,
        workflow: Any = None,
        initial_data: dict[str, Any] | None = None,
        *,
        version: str | None = None,
        tenant_id: str | None = None,
        created_by: str | None = None,
        metadata: dict[str, Any] | None = None,
        workflow_name: str | None = None,
        data: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> WorkflowInstanceData:
        """Start an instance of ``workflow`` (a registered name, a workflow class or a definition).

        Returns the live instance once its first steps have run up to their first suspension
        (a step awaiting I/O, a human task, a timer, a commit): a workflow of steps that never
        wait is already finished, and one that starts with a human step already waits for it.
        Everything after that suspension continues in the background. With an event bus, the
        first step starts on the next turn of the event loop instead, so events stay in order.

        ``workflow_name=`` and ``data=`` are keyword spellings of ``workflow`` and ``initial_data``
        that the documentation's examples use; each value may be given one way only.

        ``key`` makes the start idempotent: a workflow has at most one instance per key, ever.
        When one exists (whatever its status), it is returned and nothing runs; concurrent starts
        with one key, in this process or others sharing the database, make one instance.
        :meth:`start_or_get` also tells which happened.

        Raises:
            TypeError: No workflow given, or a value given both ways.
            WorkflowNotFoundError: Unknown name or version.
            WorkflowValidationError: Invalid definition, initial data that is not JSON, or that
                fails the definition's ``input_schema`` (``errors`` names each field), or a
                ``key`` that is not a non-empty string of at most 255 characters.
        """
        if key is not None:
            started, _ = await self.start_or_get(
                workflow,
                initial_data,
                key=key,
                version=version,
                tenant_id=tenant_id,
                created_by=created_by,
                metadata=metadata,
                workflow_name=workflow_name,
                data=data,
            )
            return started
        definition, data = self._prepare_start(workflow, workflow_name, initial_data, data, version)
        return await self._create(definition, data, tenant_id, created_by, metadata, None)

    async def start_or_get(
        self,
        workflow: Any = None,
        initial_data: dict[str, Any] | None = None,
        *,
        key: str,
        version: str | None = None,
        tenant_id: str | None = None,
        created_by: str | None = None,
        metadata: dict[str, Any] | None = None,
        workflow_name: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> tuple[WorkflowInstanceData, bool]:
        """Start an instance with ``key`` unless the workflow has one already; tell which happened.

        Returns ``(instance, created)``: the new instance and ``True``, or the workflow's existing
        instance with this key and ``False`` (then nothing ran, and the arguments but ``key`` and
        the workflow were not used beyond validation). Keys are per workflow name, across
        versions. The same arguments and errors as :meth:`start_workflow`.

        Examples:
            >>> started, created = await engine.start_or_get("expense", key="order-7")  # doctest: +SKIP
        """
        definition, data = self._prepare_start(workflow, workflow_name, initial_data, data, version)
        if not isinstance(key, str) or not key or len(key) > _MAX_KEY_LENGTH:
            raise WorkflowValidationError(
                f"key must be a non-empty string of at most {_MAX_KEY_LENGTH} characters, not {key!r:.80}"
            )
        find: Callable[[str, str], Awaitable[WorkflowInstanceData | None]] | None = getattr(
            self.store, "instance_with_key", None
        )
        if find is None:
            raise NotImplementedError(
                f"the store {type(self.store).__name__} cannot find instances by key "
                "(it has no instance_with_key method): start without key="
            )
        # Created first, looked up only when the key is taken: a new key (the common case) costs
        # no extra query, and the store's unique key decides races between concurrent starts.
        for _ in range(_KEY_ATTEMPTS):
            try:
                return await self._create(definition, data, tenant_id, created_by, metadata, key), True
            except InstanceKeyTakenError:
                pass
            existing = await find(definition.name, key)
            if existing is not None:
                live = self._live.get(existing.id.int)  # the live object when it runs here
                return (existing if live is None else live.instance), False
            # The start that took the key did not commit after all (its batch failed): try again.
        raise ConcurrencyError(
            f"starting {definition.name!r} with key {key!r} kept colliding with a start that did not commit"
        )

    def _prepare_start(
        self,
        workflow: Any,
        workflow_name: str | None,
        initial_data: dict[str, Any] | None,
        data: dict[str, Any] | None,
        version: str | None,
    ) -> tuple[WorkflowDefinition, dict[str, Any]]:
        """The definition to start and its checked initial data (before anything is stored)."""
        workflow = _one_of(workflow, "workflow", workflow_name, "workflow_name")
        if workflow is None:
            raise TypeError("start_workflow() needs the workflow to start (a name, class or definition)")
        definition = self.resolve_definition(workflow, version)
        checked = normalize_mapping(_one_of(initial_data, "initial_data", data, "data"), "initial_data")
        definition.check_input(checked)  # on every engine: they all start here
        return definition, checked

    async def _create(  # noqa: PLR0917 - internal, called from the two start methods only
        self,
        definition: WorkflowDefinition,
        data: dict[str, Any],
        tenant_id: str | None,
        created_by: str | None,
        metadata: dict[str, Any] | None,
        key: str | None,
    ) -> WorkflowInstanceData:
        for value, what in ((tenant_id, "tenant_id"), (created_by, "created_by"), (key, "key")):
            check_text(value, what)
        if self._memory is None:
            await self.store.save_definition(definition)
        pair = self._interpreter_for(definition)
        tr = pair[0].create(
            data,
            tenant_id=tenant_id,
            created_by=created_by,
            metadata=normalize_mapping(metadata, "metadata"),
            key=key,
        )
        if self.telemetry is not None:
            self.telemetry.instance_started(tr.instance)  # its trace context goes into the metadata
        live = Live(tr.instance, pair)
        self._live[tr.instance.id.int] = live
        try:
            await self._transact(live, lambda _interpreter, _instance: tr)
        except InstanceKeyTakenError:
            del self._live[tr.instance.id.int]  # never stored: the key's instance is another one
            raise
        return tr.instance

    def resolve_definition(self, workflow: Any, version: str | None = None) -> WorkflowDefinition:
        """The definition to run for a name, workflow class or definition (registering the latter two)."""
        if isinstance(workflow, str):
            return self.registry.get_definition(workflow, version)
        definition = definition_of(workflow)
        if version is not None and version != definition.version:
            raise WorkflowNotFoundError(definition.name, version)
        if not self.registry.has_definition(definition.name, definition.version):
            return self.registry.register_definition(definition)
        registered = self.registry.get_definition(definition.name, definition.version)
        difference = registered.difference_from(definition)
        if difference is not None:
            raise WorkflowValidationError(
                f"workflow {definition.name!r} version {definition.version!r} is registered with other "
                f"steps or edges ({difference}); give the changed definition a new version"
            )
        return registered

    def _interpreter_for(self, definition: WorkflowDefinition) -> tuple[Interpreter, dict[str, StepPlan]]:
        pair = self._interpreters.get(id(definition))
        if pair is None or pair[0].definition is not definition:
            interpreter = Interpreter(
                definition, self.clock, self.new_id, record_events=self.event_bus is not None
            )
            pair = self._interpreters[id(definition)] = (interpreter, plans_for(definition))
        return pair

    # ------------------------------------------------------------------ driving

    async def _publish(self, tr: Transition) -> None:
        for event in tr.events:
            await deliver(self.event_bus, event)  # type: ignore[arg-type]

    async def _transact(
        self,
        live: Live,
        op: Operation,
        *,
        inline: bool = False,
        check: Callable[[], Awaitable[object]] | None = None,
    ) -> StepExecution | None:
        """Apply ``op`` to the instance, commit it, then start its work.

        Returns one execution for the caller to run inline (with ``inline``). ``check`` (who may
        act, is the task still pending...) runs before every attempt, so that a retry on a
        reloaded copy is judged on that copy. Domain errors raised by ``check`` or ``op``
        propagate with the instance unchanged.

        With a database, a lost write race reloads the instance and applies ``op`` again; a
        failing database drops the live copy, so that it is reloaded. Thousands of transitions
        may wait for one group commit at a time, so the commit is awaited right here (not in a
        helper coroutine): each waits holding as few objects as it can.

        Raises:
            ConcurrencyError: The instance kept changing elsewhere.
            StoreError: The database failed.
        """
        if self._memory is not None:  # one copy, no races with other processes: no retries
            tr = await self._transact_in_memory(self._memory, live, op, check)
        else:
            for attempt in range(_CONFLICT_RETRIES):
                if check is not None:
                    await self._verified(live, check)
                try:
                    tr = op(live.interpreter, live.instance)
                except WorkflowsError as refusal:
                    tr = await self._apply_refused(live, op, check, refusal)
                lost: ConcurrencyError | None = None
                live.committing += 1
                try:
                    await self.store.commit((tr,))
                except ConcurrencyError as error:
                    lost = error
                except StoreError:
                    self._forget(live)
                    raise
                finally:
                    live.committing -= 1
                if lost is None:
                    live.unverified = False  # the commit's version check just confirmed the copy
                    break
                if not isinstance(lost, LeaseLostError):
                    # Processes that keep committing to one instance (parallel branches of it on
                    # two workers) would otherwise each reload and lose again in lockstep, until
                    # one gives up: back off for a random, growing while, so that one gets through.
                    await asyncio.sleep(
                        self.runner.rng.uniform(0, min(_BACKOFF_CAP, _BACKOFF_FIRST * 2**attempt))
                    )
                await self._reload(live)  # the copy is ahead of the store
                if live.waiters and not live.committing:
                    # The copy is the stored instance now (reloaded by this or another lost commit,
                    # none in flight). Notifications are held back while a commit is in flight, and
                    # the reload above reports only one it made itself: the last commit to fail must
                    # report, or a retry refused next (the instance was canceled elsewhere) would
                    # leave its waiters asleep for good.
                    self._notify(live)
                if isinstance(lost, LeaseLostError):
                    raise lost  # another process runs that step now: this outcome is dropped
            else:
                raise ConcurrencyError(
                    f"instance {live.instance.id} keeps changing elsewhere; gave up after retries"
                )
        follow = self._dispatch(live, tr, inline)
        if tr.events and self.event_bus is not None:
            await self._publish(tr)
        return follow

    async def _transact_in_memory(
        self, memory: MemoryStore, live: Live, op: Operation, check: Callable[[], Awaitable[object]] | None
    ) -> Transition:
        if check is not None:
            await check()
        tr = op(live.interpreter, live.instance)
        if tr.created or tr.tasks:
            memory.record(tr)
        if self._mirror is not None:
            await self._save_to_mirror(live.instance)
        return tr

    async def _save_to_mirror(self, instance: WorkflowInstanceData) -> None:
        """Hand the instance to the duck-typed persistence object; it observes, it never decides."""
        try:
            await self._mirror.save_instance(instance)
        except Exception:
            logger.exception("persistence %r failed to save instance %s", self._mirror, instance.id)

    async def _apply_refused(
        self,
        live: Live,
        op: Operation,
        check: Callable[[], Awaitable[object]] | None,
        refusal: WorkflowsError,
    ) -> Transition:
        """``op`` just refused the copy: apply it again on a fresh one if the copy may be old."""
        try:
            await self._confirm_refusal(live, refusal)
            return op(live.interpreter, live.instance)
        except WorkflowsError:
            if check is not None:
                await check()  # things changed while the check awaited: say why, precisely
            raise

    async def _verified(self, live: Live, check: Callable[[], Awaitable[T]]) -> T:
        """Run ``check`` on the copy; if it refuses and the copy may be old, refuse only on a fresh one.

        A cached idle copy is used without asking the database first (the commit's version check
        catches a stale copy that accepts an event); an error it raises is confirmed on the stored
        instance before it reaches the caller.
        """
        try:
            return await check()
        except WorkflowsError as refusal:
            await self._confirm_refusal(live, refusal)
        return await check()

    async def _confirm_refusal(self, live: Live, refusal: WorkflowsError) -> None:
        """Raise ``refusal`` unless the copy may be old; then replace it with the stored instance.

        Only an untouched cached copy is suspect: once a transition of ours is on its way to the
        store, the copy is ahead of it, not behind.
        """
        if not live.unverified or live.committing or live.running:
            raise refusal
        live.instance.runtime.stale = True
        await self._reload(live)
        live.unverified = False

    async def _reload(self, live: Live) -> None:
        """Replace a stale copy of an instance with the stored one (once, for all who hold ``live``)."""
        if not live.instance.runtime.stale:
            return
        fresh = await self.store.load_instance(live.instance.id)
        if fresh is None:
            raise WorkflowInstanceNotFoundError(live.instance.id)
        live.instance = fresh
        if live.waiters:
            self._notify(live)  # the stored copy may already be where a waiter wants it

    def _forget(self, live: Live) -> None:
        """Drop a copy that is ahead of the database; leases expire and the work is reclaimed."""
        live.instance.runtime.stale = True
        key = live.instance.id.int
        if self._live.get(key) is live:
            del self._live[key]

    def _dispatch(self, live: Live, tr: Transition, inline: bool) -> StepExecution | None:
        """Start what a committed transition asks for and wake waiters (no awaiting)."""
        if self.telemetry is not None:
            self.telemetry.committed(live.instance, tr)
        if tr.cancel:
            self._abandon(live, tr.cancel)
        for run in tr.timers:
            if self._arms_here(run):  # a far task deadline is left to the sweep (recovery.py)
                self._arm(live, run, self._fire_timer)
        follow: StepExecution | None = None
        # Started work runs at once, up to its first suspension (see _spawn): the first step of
        # a new instance too, so that start_workflow returns an instance already waiting at its
        # first human step, as the documented examples expect. Not while an event bus listens.
        eager = self.event_bus is None
        for run in tr.start:
            if run.scheduled_for is not None and run.scheduled_for > self.clock():
                self._arm(live, run, self._spawn)
            elif inline and follow is None:
                follow = run
            else:
                self._spawn(live, run, eager=eager)
        if live.waiters:
            self._notify(live)
        if follow is None and not tr.start:
            self._release_if_idle(live)
        return follow

    def _release_if_idle(self, live: Live) -> None:
        """Forget an instance nothing runs or waits for here; the store keeps it.

        The memory store holds the very same object, and the next operation finds it there. With
        a database, the copy is kept in a bounded cache of idle instances: the next operation
        (a task completion, say) checks its version with one small query instead of loading the
        whole history again.
        """
        if live.running or live.timers or live.waiters or live.committing:
            return  # a commit in flight (a task completion, say) releases it when it lands
        key = live.instance.id.int
        if self._live.get(key) is live:
            del self._live[key]
            # The views the runner made for its steps go too: an instance kept for reading holds
            # three objects fewer for the garbage collector to walk (they are made again if a
            # step of it runs), which is what an engine holding many finished instances pays for.
            live.instance.context._step_views = None
            if self._memory is None:
                self._idle.keep(live)
            else:
                self._memory.settled(live.instance)

    async def _drive(self, live: Live, run: StepExecution | None) -> None:  # noqa: PLR0915 - the hot loop, one frame
        """Run ``run`` and then, inline, the first execution each transition starts.

        An execution counts as running here (``live.running``) until its outcome is committed,
        so that nothing takes this instance for idle in between.
        """
        interpreter, plans, running = live.interpreter, live.plans, live.running
        bus, clock, run_step = self.event_bus, self.clock, self._step_runner()
        memory, dispatch, telemetry = self._memory, self._dispatch, self.telemetry
        synchronous = memory is not None and bus is None and self._mirror is None
        task = asyncio.current_task()
        key = inline = 0
        started: datetime | None = None
        try:
            while run is not None:
                instance = live.instance
                key = run.id.int  # type: ignore[union-attr]
                if key not in instance.runtime.active:
                    # Abandoned before it began: a sibling branch that started eagerly ahead of
                    # it failed (or the instance was canceled) while it was queued here.
                    break
                running[key] = task  # type: ignore[assignment]
                run.status = _STEP_RUNNING  # interpreter.mark_running(), inlined on the hot path
                run.started_at = started or clock()
                if bus is not None:
                    await deliver(bus, interpreter.step_event(StepStarted, instance, run))
                outcome = await run_step(plans[run.step_name], instance, run)
                try:
                    if synchronous:  # memory store, no event bus: nothing to await
                        if outcome[0] is SUCCEEDED:  # the common case, without the dispatch call
                            tr = interpreter.step_succeeded(instance, *outcome[1:])
                        else:
                            tr = apply_outcome(interpreter, instance, outcome)
                        if tr.created or tr.tasks:
                            memory.record(tr)  # type: ignore[union-attr]
                        start = tr.start
                        if (  # a chain's next step, with nothing else to do: what dispatch() gives
                            len(start) == 1
                            and telemetry is None
                            and not (tr.timers or tr.cancel or live.waiters)
                            and start[0].scheduled_for is None
                        ):
                            follow: StepExecution | None = start[0]
                        else:
                            follow = dispatch(live, tr, True)
                    else:
                        follow = await self._transact(
                            live, partial(_reapply, outcome=outcome, attempt=run.attempt), inline=True
                        )
                except (StaleOutcomeError, LeaseLostError):  # abandoned, or taken over elsewhere
                    follow = None
                running.pop(key, None)
                # With nothing awaited since, the next step starts when this one completed.
                started = run.completed_at if synchronous else None
                run = None if self._stopping else follow  # stop() abandons what comes next
                inline += 1
                if inline == _INLINE_STEPS_PER_TURN and run is not None:
                    # Steps that never suspend would run here without end (a long loop): let the
                    # rest of the process have its turn. The next run stays ours meanwhile.
                    inline, key, started = 0, run.id.int, None  # type: ignore[union-attr]
                    running[key] = task  # type: ignore[assignment]
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception:  # an engine bug or a store failure: never let it vanish silently
            logger.exception("driving instance %s failed", live.instance.id)
        finally:
            running.pop(key, None)
            self._driver_ended(live)

    def _driver_ended(self, live: Live) -> None:
        """Tell waiters (a driver that ended on an error committed nothing to report it); release."""
        if live.waiters:
            self._notify(live)
        self._release_if_idle(live)

    def _step_runner(self) -> Callable[[StepPlan, WorkflowInstanceData, StepExecution], Awaitable[Outcome]]:
        """What runs a step: the runner, inside a span of its own when telemetry is on."""
        run_step = self.runner.run
        return run_step if self.telemetry is None else self.telemetry.traced(run_step)

    def _spawn(self, live: Live, run: StepExecution, *, eager: bool = False) -> None:
        """Start ``run`` in a task of its own.

        ``eager``: the task runs right here up to its first suspension, and a step that never
        suspends is already done when this returns: the first step of a new instance, the
        sibling branches of a step that a driver runs inline, and the work a completed task, a
        delivered webhook, a retry or a resume releases (engine/eager.py says why that matters
        with thousands of instances). Not while an event bus listens (a step's events would go
        out before those of the transition that started it).
        """
        key = run.id.int  # type: ignore[union-attr]
        live.timers.pop(key, None)
        if self._stopping:
            return  # abandoned like the rest of this process's work (see stop())
        running = live.running  # keeps the task referenced: asyncio holds only weak references
        # Eager starts nest on the stack (a step that completes another instance's task whose
        # next step completes a third's...): past a bound, start on the next loop turn instead.
        if not eager or self._eager_depth >= _EAGER_DEPTH_LIMIT:
            running[key] = asyncio.create_task(self._drive(live, run))
            return
        # A driver registers itself in ``running`` once it runs, and by then it may have moved on
        # to later steps; register the task here only if it has not started yet.
        running[key] = _NOT_STARTED  # type: ignore[assignment]
        self._eager_depth += 1
        try:
            task = start_eager(self._drive(live, run))
        finally:
            self._eager_depth -= 1
        if running.get(key) is _NOT_STARTED:
            running[key] = task

    def _arm(self, live: Live, run: StepExecution, action: Callable[[Live, StepExecution], Any]) -> None:
        when = run.scheduled_for or self.clock()
        live.timers[run.id.int] = self.timers.call_at(when, action, live, run)  # type: ignore[union-attr]

    def _fire_timer(self, live: Live, run: StepExecution) -> None:
        key = run.id.int  # type: ignore[union-attr]
        live.timers.pop(key, None)
        run_id: UUID = run.id  # type: ignore[assignment]

        async def fire() -> None:
            try:
                await self._transact(live, lambda it, inst: it.timer_fired(inst, run_id))
            except StaleOutcomeError:
                return
            except Exception:
                logger.exception("firing timer %s of instance %s failed", run_id, live.instance.id)
            finally:
                live.running.pop(key, None)
                # Its own commit found it running (this very task), so it was not released then:
                # kept here, the copy would never see what other processes do to the instance next.
                self._driver_ended(live)

        live.running[key] = asyncio.create_task(fire())

    def _abandon(self, live: Live, runs: Iterable[StepExecution]) -> None:
        current = asyncio.current_task()
        for run in runs:
            handle = live.timers.pop(run.id.int, None)  # type: ignore[union-attr]
            if handle is not None:
                handle.cancel()
            task = live.running.pop(run.id.int, None)  # type: ignore[union-attr]
            if task is not None and task is not current:
                task.cancel()

    def _notify(self, live: Live) -> None:
        if live.committing:
            return  # a later transition is still on its way to the store; report after it lands
        status = live.instance.status
        keep = []
        for statuses, future in live.waiters:
            if future.done():
                continue
            if status in statuses:
                future.set_result(None)
            else:
                keep.append((statuses, future))
        live.waiters = keep

    # ------------------------------------------------------------------ instance operations

    async def _live_instance(self, instance_id: UUID) -> Live:
        instance_id = as_uuid(instance_id)
        key = instance_id.int
        live = self._live.get(key)
        if live is not None:
            return live
        cached = self._idle.take(key)
        if cached is not None:
            return self._live.setdefault(key, cached)
        instance = await self.store.load_instance(instance_id)
        if instance is None:
            raise WorkflowInstanceNotFoundError(instance_id)
        live = self._live.get(key)
        if live is not None:  # loaded concurrently by another operation: share one copy
            return live
        definition = self.registry.get_definition(instance.workflow_name, instance.workflow_version)
        # Started elsewhere: this process's definition must route as the stored one does (a check
        # made once per definition and process), or it would run the instance through other steps.
        if self._memory is None:
            try:
                await self.store.save_definition(definition)
            except WorkflowValidationError:
                # Routes otherwise than the stored one: the sweep leaves its work to other processes.
                self._refused_definitions.add((definition.name, definition.version))
                raise
            live = self._live.get(key)
            if live is not None:
                return live
        live = Live(instance, self._interpreter_for(definition))
        self._live[key] = live
        return live

    async def _apply(
        self, live: Live, op: Operation, check: Callable[[], Awaitable[object]] | None = None
    ) -> WorkflowInstanceData:
        await self._transact(live, op, check=check)
        return live.instance

    async def _until_task_is_up(self, live: Live, step_name: str) -> None:
        """Wait while this process is on its way to creating the task of ``step_name``.

        On a database, ``start_workflow`` (or a completion) returns once its own transition is
        durable, and the steps it released then run here, each after the commit of the one
        before: a task of a human step they lead to is created a few commits later. A completion
        made meanwhile waits for that task instead of being refused, since a refusal would only
        say how fast the database commits. That holds for the first visit of a step with a chain
        of steps before it too: while the executions before it wait only for commits here, or for
        their turn to start here (with an event bus), the completion waits. Nothing is waited for
        when the step's execution is neither running here nor behind a commit in flight here, and
        nothing but this process holds the steps before it up (a step still doing its own work,
        paused, held by a timer, driven by another process), nor for a step the instance reached
        before (a loop's next round): the usual checks then judge at once.
        """
        while _task_is_coming(live, step_name):
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            live.waiters.append((_ANY_STATUS, future))  # woken by the next settled change
            try:
                await future
            finally:
                live.waiters = [waiter for waiter in live.waiters if waiter[1] is not future]

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """The instance (live object when this engine drives it).

        Raises:
            WorkflowInstanceNotFoundError: No such instance (also a ``KeyError``).
        """
        instance_id = as_uuid(instance_id)
        live = self._live.get(instance_id.int)
        if live is not None:
            if self._memory is None and not (live.running or live.committing or live.waiters):
                await self._catch_up(live)
            return live.instance
        if self._memory is None:
            cached = await self._idle.current(instance_id)
            if cached is not None:
                return cached
        instance = await self.store.load_instance(instance_id)
        if instance is None and self._mirror is not None:
            instance = await self._mirror.load_instance(instance_id)
        if instance is None:
            raise WorkflowInstanceNotFoundError(instance_id)
        if self._memory is None:
            self._keep_loaded(instance)
        return instance

    def _keep_loaded(self, instance: WorkflowInstanceData) -> None:
        """Cache a copy just read from the database, so that reading it again costs one query.

        Not when an operation of this engine took the instance up meanwhile (its copy is newer),
        nor for a workflow this engine has no definition of (a process that only reads).
        """
        key = instance.id.int
        if key in self._live:
            return
        try:
            definition = self.registry.get_definition(instance.workflow_name, instance.workflow_version)
        except WorkflowsError:
            return
        self._idle.keep(Live(instance, self._interpreter_for(definition)))

    async def wait(
        self,
        instance_id: UUID,
        *,
        until: WorkflowStatus | Collection[WorkflowStatus] = SETTLED,
        timeout: float | None = None,  # noqa: ASYNC109 - part of the documented API
    ) -> WorkflowInstanceData:
        """Wait until the instance reaches one of ``until`` (default: finished or waiting for input).

        A finished instance (completed, failed or canceled) ends the wait whatever ``until`` says:
        waiting ``until=COMPLETED`` for an instance that was canceled or failed returns it then,
        with that status, rather than holding on until the timeout (or for ever without one).

        Raises:
            WaitTimeoutError: ``timeout`` seconds passed first (a ``TimeoutError``), saying where
                the instance is instead.
        """
        requested, statuses = _wait_statuses(until)
        instance_id = as_uuid(instance_id)
        live = self._live.get(instance_id.int)
        if live is None and self._memory is not None:
            # Nothing runs or waits for it here: the memory store holds the current object.
            # Waiting on each of thousands of finished instances costs one lookup apiece.
            settled = self._memory.instances.get(instance_id.int)
            if settled is not None and settled.status in statuses:
                return settled
        if live is None:
            instance = await self.get_instance(instance_id)
            if instance.status in statuses:
                return instance
            live = await self._live_instance(instance_id)
        if live.instance.status in statuses and not live.committing:
            return live.instance
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        live.waiters.append((statuses, future))
        try:
            if timeout is None and self._memory is not None:
                await future
                return live.instance
            # Woken by this process's transitions (``_notify``), or, with a database, by the
            # watcher that looks at the store for all waiters at once, for changes made by other
            # processes.
            watched = self._memory is None
            if watched:
                self.watcher.watch(live)
            try:
                async with asyncio.timeout(timeout):
                    await future
            except TimeoutError:
                if future.done() and not future.cancelled():
                    return live.instance  # reached as the time ran out
                now = live.instance
                raise WaitTimeoutError(
                    instance_id,
                    tuple(status.value for status in requested),
                    now.status.value,
                    now.current_step,
                    timeout or 0.0,
                ) from None
            finally:
                if watched:
                    self.watcher.unwatch(live)
            return live.instance
        finally:
            if not future.done():
                future.cancel()
            live.waiters = [waiter for waiter in live.waiters if waiter[1] is not future]
            self._release_if_idle(live)

    async def _catch_up(self, live: Live) -> None:
        """Take the stored instance if another process moved it on since this idle copy was made.

        An instance stays here while nothing runs for it when a timer of it is armed (a task's
        reminder, a short delay): another process may complete its task meanwhile, and nothing
        watches for that unless someone waits. One query of the version tells; the history is
        loaded only when it moved, as for the idle cache's copies.
        """
        versions: Callable[[Collection[UUID]], Awaitable[dict[UUID, int]]] | None = getattr(
            self.store, "instance_versions", None
        )
        if versions is None:
            return
        instance_id = live.instance.id
        stored = (await versions((instance_id,))).get(instance_id)
        if stored is None or stored == live.instance.version:
            return
        fresh = await self.store.load_instance(instance_id)
        if (
            fresh is not None
            and not (live.running or live.committing)
            and fresh.version > live.instance.version
        ):
            self._install_stored(live, fresh)
            self._release_if_idle(live)

    def _install_stored(self, live: Live, stored: WorkflowInstanceData) -> None:
        """Take the stored instance that another process moved on as our copy; wake its waiters.

        Timers armed here for executions the stored instance no longer has (a task completed or
        an instance canceled elsewhere) are canceled: they would only be refused when they fire.
        """
        live.instance = stored
        live.unverified = False
        active = stored.runtime.active
        for key in [key for key in live.timers if key not in active]:
            live.timers.pop(key).cancel()
        if live.waiters:
            self._notify(live)

    async def cancel_workflow(
        self,
        instance_id: UUID,
        reason: str = "",
        *,
        user_id: str | None = None,
        groups: Collection[str] = (),
    ) -> WorkflowInstanceData:
        """Cancel a running, waiting or paused instance (in-flight steps are abandoned), or a failed one.

        A failed instance is canceled to give up on it: it can no longer be retried, and its
        ``error`` keeps the failure after ``reason``.

        ``user_id`` (with the ``groups`` the caller knows of) names who acts, for the
        ``instance_authorizer`` to judge; without it the call is trusted and not checked. The
        same holds for :meth:`retry`, :meth:`pause_workflow` and :meth:`resume_workflow`.

        Raises:
            UnauthorizedInstanceError: ``user_id`` may not cancel the instance.
            WorkflowAlreadyCompletedError: The instance is already completed or canceled.
        """
        check_text(reason, "reason")
        live = await self._acted_on(instance_id, "cancel", user_id, groups)
        return await self._apply(live, lambda it, inst: it.cancel(inst, reason))

    async def retry(
        self,
        instance_id: UUID,
        from_step: str | None = None,
        *,
        user_id: str | None = None,
        groups: Collection[str] = (),
    ) -> WorkflowInstanceData:
        """Restart a failed instance from the failed step (or ``from_step``) with its context as it was.

        With ``user_id`` (a person asking), a ``from_step`` other than the failed step or the
        first step is a ``retry_from`` action of its own for the instance authorizer (by default
        administrators only): a restart further on would skip what lies between, an approval say.
        Trusted code (no ``user_id``) may restart it from any step.

        Raises:
            UnauthorizedInstanceError: ``user_id`` may not retry the instance (from that step).
            InvalidTransitionError: The instance is not failed, or ``from_step`` is not a step.
        """
        live = await self._acted_on(instance_id, "retry", user_id, groups)
        instance, definition = live.instance, live.interpreter.definition
        chosen = from_step is not None and from_step in definition.steps  # else: refused as no such step
        if (
            user_id is not None
            and chosen
            and from_step not in (instance.runtime.failed_step, definition.initial_step)
        ):
            await authorize_instance_action(self.instance_authorizer, instance, user_id, "retry_from", groups)
        return await self._apply(live, lambda it, inst: it.retry(inst, from_step))

    async def pause_workflow(
        self, instance_id: UUID, *, user_id: str | None = None, groups: Collection[str] = ()
    ) -> WorkflowInstanceData:
        """Hold an instance: running steps finish, nothing new starts until resumed."""
        live = await self._acted_on(instance_id, "pause", user_id, groups)
        return await self._apply(live, lambda it, inst: it.pause(inst))

    async def resume_workflow(
        self, instance_id: UUID, *, user_id: str | None = None, groups: Collection[str] = ()
    ) -> WorkflowInstanceData:
        """Continue a paused instance."""
        live = await self._acted_on(instance_id, "resume", user_id, groups)
        return await self._apply(live, lambda it, inst: it.resume(inst))

    async def _acted_on(
        self, instance_id: UUID, action: InstanceAction, user_id: str | None, groups: Collection[str]
    ) -> Live:
        """The instance ``action`` is about, once ``user_id`` (when given) is allowed to perform it.

        Checked once, before the transition: the creator never changes, and a refusal must not
        depend on the instance's state (a stranger learns nothing about it).
        """
        live = await self._live_instance(instance_id)
        if user_id is not None:
            await authorize_instance_action(self.instance_authorizer, live.instance, user_id, action, groups)
        return live

    async def deliver_webhook(self, instance_id: UUID, step_name: str, payload: Any) -> WorkflowInstanceData:
        """Hand a payload to the webhook step ``step_name`` the instance waits at.

        Raises:
            InvalidTransitionError: The instance does not wait for that webhook.
            TaskValidationError: The payload fails the step's ``payload_schema``.
        """
        live = await self._live_instance(instance_id)
        step: Any = live.interpreter.definition.steps.get(step_name)
        if step is None or step.step_type is not StepType.WEBHOOK:
            raise InvalidTransitionError(
                f"workflow {live.instance.workflow_name!r} has no webhook step {step_name!r}"
            )
        payload = normalize(payload, f"webhook payload for {step_name!r}")
        validate_form_data(getattr(step, "payload_schema", None), payload, f"webhook {step_name!r}")
        key = getattr(step, "target_key", None) or step_name
        return await self._apply(live, lambda it, inst: it.webhook_received(inst, step_name, key, payload))

    async def schedule_step(
        self, instance_id: UUID, step_name: str, delay: float | timedelta | None = None
    ) -> None:
        """Not supported: steps run when their incoming edges say so, never by hand."""
        raise NotImplementedError(
            "schedule_step is not supported: steps are activated by the workflow's edges; "
            "use retry(instance_id, from_step=...) to run a step again"
        )

    async def execute_step(self, step: Step, context: WorkflowContext, previous_result: Any = None) -> Any:
        """Run one step outside any instance (tests, tools): hooks and timeout apply, no retry.

        ``previous_result``, when given, is put in the context under ``_previous_result`` first
        (the reference package's convention for chaining steps by hand).
        """
        if previous_result is not None:
            context.set("_previous_result", previous_result)
        if not await step.can_execute(context):
            return None
        try:
            result = await self.runner.execute(step, context)
        except Exception as error:
            await step.on_failure(context, error)
            raise
        await step.on_success(context, result)
        return result

    # ------------------------------------------------------------------ queries

    def get_running_instances(self) -> list[WorkflowInstanceData]:
        """Instances that have not finished (durable stores: those active in this process).

        For a database-wide view use ``find_instances(status=[...])``.
        """
        source = self._memory.instances.values() if self._memory is not None else self._live_instances()
        return [instance for instance in source if not instance.is_finished]

    def _live_instances(self) -> list[WorkflowInstanceData]:
        return [live.instance for live in self._live.values()]

    def get_all_instances(self) -> list[WorkflowInstanceData]:
        """Every instance of the in-memory store (durable engines: use :meth:`find_instances`)."""
        if self._memory is None:
            raise NotImplementedError("get_all_instances needs the memory store; use find_instances()")
        return list(self._memory.instances.values())

    async def find_instances(
        self, query: InstanceQuery | None = None, **filters: Any
    ) -> Page[WorkflowInstanceData]:
        """Instances by status, workflow, tenant, creator or start date, newest first."""
        query = query or InstanceQuery(**filters)
        items, total = await self.store.find_instances(query)
        return Page(items, total, query.limit, query.offset)


__all__ = ("SETTLED", "LocalExecutionEngine")


def _wait_statuses(
    until: WorkflowStatus | Collection[WorkflowStatus],
) -> tuple[Collection[WorkflowStatus], Collection[WorkflowStatus]]:
    """``(what the caller asked for, what ends the wait)``: the latter adds every finished status."""
    if until is SETTLED:  # the default, which holds every finished status already
        return SETTLED, SETTLED
    requested = (until,) if isinstance(until, WorkflowStatus) else tuple(until)
    return requested, _FINISHED.union(requested)


def _task_is_coming(live: Live, step_name: str) -> bool:
    """Whether ``step_name`` has no pending task yet, but this process is bringing the instance to it.

    Either an execution of the step runs here (its hooks) or waits for a commit here; or the
    instance never reached the step yet, and an active execution that leads to it waits for a
    commit here or for its turn to start here (with an event bus, started work begins on the next
    turn of the loop): the steps before it are held up by this process alone, not by work of their
    own. A step reached before (a loop's next round) is not waited for: a completion repeated
    right after the first must be refused, not given the next round's task.
    """
    plan = live.plans.get(step_name)
    if plan is None or plan.step_type is not StepType.HUMAN:
        return False  # no task to wait for: the usual checks say why
    runtime = live.instance.runtime
    if any(task.step_name == step_name for task in runtime.pending_tasks.values()):
        return False  # the task is up
    first_time = not runtime.activations.get(step_name)
    leads_to = live.interpreter.graph.leads_to
    running, committing = live.running, live.committing
    return any(
        (run.step_name == step_name and (committing or key in running))
        or (
            first_time
            and (committing or (key in running and run.status is StepStatus.SCHEDULED))
            and step_name in leads_to(run.step_name)
        )
        for key, run in runtime.active.items()
    )


def _one_of(value: Any, name: str, alias_value: Any, alias: str) -> Any:
    """``value``, or ``alias_value`` when only the alias keyword was given; both at once is an error."""
    if alias_value is None:
        return value
    if value is not None:
        raise TypeError(f"start_workflow() got both {name} and {alias}: give one")
    return alias_value
