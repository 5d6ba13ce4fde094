"""OpenTelemetry traces and metrics of workflow engines.

Traces: an instance lives for days and across processes, so no span can stay open for it. At
``start_workflow`` a short ``workflow.start <name>`` span is recorded (a child of the caller's
current span, e.g. the HTTP request) and its W3C ``traceparent`` is stored in the instance's
metadata. Every later span of the instance is a child of that one, in whichever process and after
whatever restart it happens: a ``workflow.step <step>`` span per step execution (each retry
attempt its own span), and a ``workflow.task <step>`` span per human task, recorded when the task
is completed or canceled with the task's stored creation time as its start. Distributed engines
also put the ``traceparent`` (and the time the step was scheduled) in the broker message.

Metrics: counters of steps started, succeeded, failed (for good) and retried; histograms of step
duration, queue lag (scheduled to started) and human-task wait; gauges of instances by status and
of open and overdue tasks, read from the store (at most every ``gauge_interval`` seconds for a
database, live for the memory store).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from functools import partial
from time import monotonic, perf_counter
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, NoOpMeterProvider, Observation
from opentelemetry.trace import (
    NonRecordingSpan,
    NoOpTracerProvider,
    ProxyTracerProvider,
    SpanContext,
    Status,
    StatusCode,
    TraceFlags,
)

from litestar_workflows.core.types import HumanTaskStatus, WorkflowStatus
from litestar_workflows.runtime.runner import FAILED, SKIPPED, SUCCEEDED
from litestar_workflows.store.base import InstanceQuery, TaskQuery
from litestar_workflows.store.memory import MemoryStore

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable, Sequence
    from datetime import datetime

    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Span, TracerProvider

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
    from litestar_workflows.engine.local import LocalExecutionEngine
    from litestar_workflows.engine.messages import StepMessage
    from litestar_workflows.runtime.runner import Outcome, StepPlan
    from litestar_workflows.runtime.transition import Transition

    StepRun = Callable[[StepPlan, WorkflowInstanceData, StepExecution], Awaitable[Outcome]]

logger = logging.getLogger("litestar_workflows.observability")

TRACEPARENT = "traceparent"
"""The instance-metadata key (and broker-message field) holding the instance's W3C trace context."""
SCOPE = "litestar_workflows"
_MAX_PENDING = 100_000
"""Bound of the per-execution notes (schedule times, message parents) of work that never started here."""
_PLACEHOLDER_TRACER_PROVIDERS = (ProxyTracerProvider, NoOpTracerProvider)
_PLACEHOLDER_METER_PROVIDERS = frozenset({"_ProxyMeterProvider", NoOpMeterProvider.__name__})
"""What the API returns until the application sets a provider (the proxy) or sets a no-op one; the
meter providers by name, as the API keeps its proxy private (``opentelemetry.metrics._internal``)."""
_FINISHED_TASK = frozenset({HumanTaskStatus.COMPLETED, HumanTaskStatus.CANCELED})


def providers_configured() -> bool:
    """Whether the application set a global tracer or meter provider (not the API's placeholders)."""
    tracer_provider = trace.get_tracer_provider()
    meter_provider = metrics.get_meter_provider()
    return not isinstance(tracer_provider, _PLACEHOLDER_TRACER_PROVIDERS) or (
        type(meter_provider).__name__ not in _PLACEHOLDER_METER_PROVIDERS
    )


def format_traceparent(span_context: SpanContext) -> str | None:
    """The W3C ``traceparent`` header value of ``span_context`` (``None`` when it is invalid)."""
    if not span_context.is_valid:
        return None
    return f"00-{span_context.trace_id:032x}-{span_context.span_id:016x}-{int(span_context.trace_flags):02x}"


def parse_traceparent(value: Any) -> SpanContext | None:
    """The remote span context a ``traceparent`` value names; ``None`` for anything malformed."""
    if not isinstance(value, str) or len(value) != 55:
        return None
    version, trace_id, span_id, flags = (value[:2], value[3:35], value[36:52], value[53:])
    if version != "00" or value[2] != "-" or value[35] != "-" or value[52] != "-":
        return None
    try:
        context = SpanContext(
            int(trace_id, 16), int(span_id, 16), is_remote=True, trace_flags=TraceFlags(int(flags, 16))
        )
    except ValueError:
        return None
    return context if context.is_valid else None


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1e9)


_STEP_COUNTERS = (
    ("workflow.steps.started", "Step executions begun"),
    ("workflow.steps.succeeded", "Step executions that succeeded"),
    ("workflow.steps.failed", "Step executions that failed for good (the instance fails)"),
    ("workflow.steps.retried", "Step attempts that failed and will be retried"),
)


class _SharedInstruments:
    """The observable instruments of one meter, made once for every :class:`Telemetry` on it.

    OpenTelemetry keeps the first instrument made under a name and drops the callbacks of later
    ones: with one set per ``Telemetry``, a process with two engines (per-request engines beside
    the app's, an app built twice in tests) reported the counts of the first one only, often an
    engine that ran nothing. Step counts add up over every live ``Telemetry``; the gauges come
    from the newest one that keeps them (bound to an engine, and refreshing them when its engine
    uses a database): they count a store, and two engines on one database must not count it twice.
    """

    def __init__(self, meter: Any) -> None:
        self.members: list[weakref.ReferenceType[Telemetry]] = []
        for index, (name, description) in enumerate(_STEP_COUNTERS):
            meter.create_observable_counter(
                name, [partial(self._observe_steps, index)], "{step}", description
            )
        for name, reading, unit, description in (
            ("workflow.instances", "_observe_instances", "{instance}", "Workflow instances by status"),
            ("workflow.tasks.open", "_observe_open", "{task}", "Pending human tasks"),
            ("workflow.tasks.overdue", "_observe_overdue", "{task}", "Pending tasks past their due time"),
        ):
            meter.create_observable_gauge(name, [partial(self._observe_gauge, reading)], unit, description)

    def add(self, telemetry: Telemetry) -> None:
        self.members = [member for member in self.members if member() is not None]
        self.members.append(weakref.ref(telemetry))

    def _alive(self) -> list[Telemetry]:
        return [telemetry for member in self.members if (telemetry := member()) is not None]

    def _observe_steps(self, index: int, options: CallbackOptions) -> Iterable[Observation]:
        totals: dict[tuple[tuple[str, Any], ...], float] = {}
        for telemetry in self._alive():
            for observation in telemetry._observe_steps(index, options):
                key = tuple(sorted(dict(observation.attributes or {}).items()))
                totals[key] = totals.get(key, 0) + observation.value
        return [Observation(value, dict(key)) for key, value in totals.items()]

    def _observe_gauge(self, reading: str, options: CallbackOptions) -> Iterable[Observation]:
        for telemetry in reversed(self._alive()):
            if telemetry.keeps_gauges():
                observe: Callable[[CallbackOptions], Iterable[Observation]] = getattr(telemetry, reading)
                return observe(options)
        return []


_SHARED: dict[int, tuple[Any, _SharedInstruments]] = {}
"""The shared instruments of each meter (by id; the meter is kept with them)."""


def _shared_instruments(meter: Any) -> _SharedInstruments:
    found = _SHARED.get(id(meter))
    if found is None or found[0] is not meter:
        found = _SHARED[id(meter)] = (meter, _SharedInstruments(meter))
    return found[1]


class Telemetry:
    """Spans and metrics of one engine, on the given providers (the global ones by default).

    Pass one as ``telemetry=`` to an engine to choose providers explicitly (tests use the SDK's
    in-memory exporter and reader this way); ``telemetry=None`` (the default) makes one on the
    global providers when the application configured OpenTelemetry.

    Args:
        tracer_provider: Where spans go (default: the global provider).
        meter_provider: Where metrics go (default: the global provider).
        gauge_interval: Seconds between store queries behind the instance and task gauges of a
            database-backed engine (counted in the database: every process reports the same figure).
        gauges: Report those gauges; ``False`` on processes that need not count the database too
            (workers: nine ``COUNT`` queries per interval each).

    Give each engine its own. Step counts of every engine of the process add up; the gauges
    count the store of the newest engine that keeps them (see ``_SharedInstruments``).

    Examples:
        >>> from opentelemetry.sdk.trace import TracerProvider  # doctest: +SKIP
        >>> engine = LocalExecutionEngine(registry, telemetry=Telemetry(TracerProvider()))  # doctest: +SKIP
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        gauge_interval: float = 15.0,
        gauges: bool = True,
    ) -> None:
        from litestar_workflows import __version__

        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider=meter_provider)
        self.gauge_interval = gauge_interval
        # Step counts are kept in plain integers and read at collection (observable counters,
        # shared by every Telemetry of the meter): an SDK measurement costs microseconds, an
        # integer increment nothing.
        self.step_duration = meter.create_histogram(
            "workflow.step.duration", "s", "Time a step execution ran (its own code, hooks included)"
        )
        self.queue_lag = meter.create_histogram(
            "workflow.step.queue_lag", "s", "Time from a step execution being scheduled to its start"
        )
        self.task_wait = meter.create_histogram(
            "workflow.task.wait", "s", "Time a human task stayed open (created to completed or canceled)"
        )
        self.gauges = gauges
        self._recording = tracer_provider is not None or meter_provider is not None
        self._next_look = 0.0
        self._steps: dict[tuple[str, str], _StepStats] = {}
        self._parent_contexts: dict[str, otel_context.Context] = {}
        self._engine: LocalExecutionEngine | None = None
        self._ready: dict[int, datetime] = {}
        self._parents: dict[int, str] = {}
        self._ended: set[int] = set()
        self._counts: dict[str, int] = {}
        self._refresher: asyncio.Task[None] | None = None
        _shared_instruments(meter).add(self)

    def keeps_gauges(self) -> bool:
        """Whether this one's gauges count anything: bound, and read live or kept refreshed."""
        engine = self._engine
        if not self.gauges or engine is None:
            return False
        return isinstance(engine.store, MemoryStore) or self._refresher is not None

    # ------------------------------------------------------------------ engine wiring

    def bind(self, engine: LocalExecutionEngine) -> Telemetry:
        """Observe ``engine`` (its clock and store feed the metrics); returns ``self``."""
        self._engine = engine
        return self

    async def start(self) -> None:
        """Keep the gauges of a database-backed engine fresh (the memory store is read live)."""
        engine = self._engine
        if not self.gauges or engine is None or isinstance(engine.store, MemoryStore) or self._refresher:
            return
        self._refresher = asyncio.create_task(self._refresh_loop())

    async def stop(self) -> None:
        """Stop refreshing the gauges."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
            self._refresher = None

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # the database may be briefly away; the gauges keep their last values
                logger.warning("could not count instances and tasks for the gauges", exc_info=True)
            await asyncio.sleep(self.gauge_interval)

    async def refresh(self) -> None:
        """Count instances by status and open and overdue tasks in the engine's store now."""
        engine = self._engine
        if engine is None:
            return
        store = engine.store
        counts = {}
        for status in WorkflowStatus:
            counts[status.value] = (await store.find_instances(InstanceQuery(status=status, limit=0)))[1]
        pending = HumanTaskStatus.PENDING
        counts["tasks.open"] = (await store.find_tasks(TaskQuery(status=pending, limit=0)))[1]
        overdue = TaskQuery(status=pending, due_before=engine.clock(), limit=0)
        counts["tasks.overdue"] = (await store.find_tasks(overdue))[1]
        self._counts = counts

    # ------------------------------------------------------------------ instances

    def instance_started(self, instance: WorkflowInstanceData) -> None:
        """Record the ``workflow.start`` span and store its trace context in the instance's metadata.

        A ``traceparent`` the caller put in ``metadata`` is honoured as the parent; otherwise the
        caller's current span is.
        """
        if not self.recording():
            return
        metadata = instance.context.metadata
        given = parse_traceparent(metadata.get(TRACEPARENT))
        parent = trace.set_span_in_context(NonRecordingSpan(given)) if given is not None else None
        attributes = {
            "workflow.name": instance.workflow_name,
            "workflow.version": instance.workflow_version,
            "workflow.instance_id": str(instance.id),
        }
        if instance.created_by is not None:
            attributes["workflow.created_by"] = instance.created_by
        span = self.tracer.start_span(
            f"workflow.start {instance.workflow_name}", parent, attributes=attributes
        )
        span.end()
        traceparent = format_traceparent(span.get_span_context())
        if traceparent is not None:
            metadata[TRACEPARENT] = traceparent

    def _parent(self, traceparent: Any) -> otel_context.Context | None:
        """The context whose span is the remote ``traceparent`` (cached: one per instance, many steps)."""
        if not isinstance(traceparent, str):
            return None
        cache = self._parent_contexts
        parent = cache.get(traceparent)
        if parent is None:
            remote = parse_traceparent(traceparent)
            if remote is None:
                return None
            if len(cache) > _MAX_PENDING:
                cache.clear()
            parent = cache[traceparent] = trace.set_span_in_context(NonRecordingSpan(remote))
        return parent

    def recording(self) -> bool:
        """Whether spans and metrics go anywhere: explicit providers, or global ones set by the app.

        On the API's placeholders (``telemetry=True`` before OpenTelemetry is configured) steps run
        unwrapped; once the application sets a provider, they are traced within a second. (Asking
        the API costs microseconds, so a negative answer is kept for that second.)
        """
        if not self._recording:
            now = monotonic()
            if now >= self._next_look:
                self._next_look = now + 1.0
                self._recording = providers_configured()
        return self._recording

    # ------------------------------------------------------------------ steps

    def traced(self, run_step: StepRun) -> StepRun:
        """``run_step`` (a step runner's ``run``) inside a ``workflow.step`` span, counted."""
        if not self.recording():
            return run_step
        return partial(self.run_step, run_step)

    async def run_step(
        self, run_step: StepRun, plan: StepPlan, instance: WorkflowInstanceData, execution: StepExecution
    ) -> Outcome:
        """Run one step execution through ``run_step`` in its span; record its metrics."""
        key = execution.id.int  # type: ignore[union-attr]
        parent = self._parent(self._parents.pop(key, None) or instance.context.metadata.get(TRACEPARENT))
        stats = self._stats(instance, execution)
        kind, counts = stats.kind, stats.counts
        counts[0] += 1
        attributes: dict[str, Any] = kind.copy()
        attributes["workflow.version"] = instance.workflow_version
        attributes["workflow.instance_id"] = str(instance.id)
        attributes["workflow.step.execution_id"] = str(execution.id)
        attributes["workflow.step.attempt"] = execution.attempt
        ready = self._ready.pop(key, None) or execution.scheduled_for
        if ready is not None and execution.started_at is not None:
            self.queue_lag.record(max((execution.started_at - ready).total_seconds(), 0.0), kind)
        span = self.tracer.start_span(f"workflow.step {execution.step_name}", parent, attributes=attributes)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        began = perf_counter()
        try:
            outcome = await run_step(plan, instance, execution)
        except BaseException:
            span.set_attribute("workflow.step.outcome", "abandoned")  # canceled, taken over, shut down
            span.end()
            raise
        finally:
            otel_context.detach(token)
        label = self._close(span, outcome)
        counted = _COUNTED.get(label)
        if counted is not None:
            counts[counted] += 1
        self.step_duration.record(perf_counter() - began, stats.by_outcome[label])
        return outcome

    def _stats(self, instance: WorkflowInstanceData, execution: StepExecution) -> _StepStats:
        step = (instance.workflow_name, execution.step_name)
        stats = self._steps.get(step)
        if stats is None:
            stats = self._steps[step] = _StepStats(instance.workflow_name, execution)
        return stats

    def _observe_steps(self, index: int, _options: CallbackOptions) -> Iterable[Observation]:
        # A series appears with its first count, as it would with a synchronous counter.
        return [
            Observation(stats.counts[index], stats.kind)
            for stats in _snapshot(self._steps.values())
            if stats.counts[index]
        ]

    @staticmethod
    def _close(span: Span, outcome: Outcome) -> str:
        """End ``span`` as ``outcome`` says; return the outcome's label."""
        kind = outcome[0]
        label = kind if kind in {SUCCEEDED, SKIPPED} else "waiting"
        if kind is FAILED:
            retried = len(outcome) > 3 and outcome[3] is not None
            label = "retried" if retried else "failed"
            span.set_status(Status(StatusCode.ERROR, str(outcome[2])))
            span.add_event("exception", _exception_attributes(outcome))
        span.set_attribute("workflow.step.outcome", label)
        span.end()
        return label

    # ------------------------------------------------------------------ transitions

    def committed(self, instance: WorkflowInstanceData, tr: Transition) -> None:
        """A transition committed: note when its executions became ready; record ended tasks."""
        if not self._recording:
            return
        if tr.start:
            self._scheduled(tr.start)
        for task in tr.tasks:
            if task.status in _FINISHED_TASK and task.id.int not in self._ended:
                if len(self._ended) > _MAX_PENDING:
                    self._ended.clear()
                self._ended.add(task.id.int)  # a later transition writing it again is no new end
                self._task_ended(instance, task)

    def _scheduled(self, runs: Iterable[StepExecution]) -> None:
        ready = self._ready
        if len(ready) > _MAX_PENDING:
            ready.clear()  # notes of work that never started here (canceled, run elsewhere)
        now = self._now()
        for run in runs:
            due = run.scheduled_for
            ready[run.id.int] = now if due is None or due < now else due  # type: ignore[union-attr]

    def _task_ended(self, instance: WorkflowInstanceData, task: HumanTask) -> None:
        ended = task.completed_at or self._now()
        attributes: dict[str, Any] = {
            "workflow.name": instance.workflow_name,
            "workflow.version": instance.workflow_version,
            "workflow.instance_id": str(instance.id),
            "workflow.step.name": task.step_name,
            "workflow.step.execution_id": str(task.step_execution_id),
            "workflow.task.id": str(task.id),
            "workflow.task.status": str(task.status),
        }
        for name, value in (
            ("workflow.task.assignee", task.assignee_id),
            ("workflow.task.group", task.assignee_group),
            ("workflow.task.completed_by", task.completed_by),
        ):
            if value is not None:
                attributes[name] = value
        parent = self._parent(instance.context.metadata.get(TRACEPARENT))
        span = self.tracer.start_span(
            f"workflow.task {task.step_name}", parent, attributes=attributes, start_time=_ns(task.created_at)
        )
        span.end(end_time=_ns(ended))
        self.task_wait.record(
            max((ended - task.created_at).total_seconds(), 0.0),
            {
                "workflow.name": instance.workflow_name,
                "workflow.step.name": task.step_name,
                "workflow.task.status": str(task.status),
            },
        )

    # ------------------------------------------------------------------ distributed messages

    def stamp(self, message: StepMessage, instance: WorkflowInstanceData) -> StepMessage:
        """``message`` with the instance's trace context and the time its step became ready."""
        from litestar_workflows.engine.messages import StepMessage

        traceparent = instance.context.metadata.get(TRACEPARENT)
        return StepMessage(
            message.execution_id,
            message.attempt,
            traceparent if isinstance(traceparent, str) else None,
            self._ready.pop(message.execution_id.int, None) or self._now(),
        )

    def received(self, message: StepMessage) -> None:
        """A worker accepted ``message``: its step runs under the message's trace context."""
        key = message.execution_id.int
        if len(self._parents) > _MAX_PENDING:
            self._parents.clear()
        if message.traceparent is not None:
            self._parents[key] = message.traceparent
        if message.scheduled_at is not None:
            self._ready[key] = message.scheduled_at

    # ------------------------------------------------------------------ gauges

    def _now(self) -> datetime:
        engine = self._engine
        if engine is not None:
            return engine.clock()
        from litestar_workflows.core.context import utcnow

        return utcnow()

    def _memory(self) -> MemoryStore | None:
        engine = self._engine
        store = None if engine is None else engine.store
        return store if isinstance(store, MemoryStore) else None

    def _observe_instances(self, _options: CallbackOptions) -> Iterable[Observation]:
        memory = self._memory()
        if memory is not None:
            counts = dict.fromkeys((status.value for status in WorkflowStatus), 0)
            for instance in _snapshot(memory.instances.values()):
                counts[instance.status.value] += 1
        else:
            counts = {status.value: self._counts.get(status.value, 0) for status in WorkflowStatus}
        return [Observation(n, {"workflow.status": status}) for status, n in counts.items()]

    def _observe_open(self, _options: CallbackOptions) -> Iterable[Observation]:
        memory = self._memory()
        if memory is None:
            return [Observation(self._counts.get("tasks.open", 0))]
        return [Observation(len(_pending(memory)))]

    def _observe_overdue(self, _options: CallbackOptions) -> Iterable[Observation]:
        memory = self._memory()
        if memory is None:
            return [Observation(self._counts.get("tasks.overdue", 0))]
        now = self._now()
        return [
            Observation(sum(1 for task in _pending(memory) if task.due_at is not None and task.due_at < now))
        ]


_COUNTED = {"succeeded": 1, "failed": 2, "retried": 3}
"""Index in :attr:`_StepStats.counts` of each counted outcome (0 is started)."""


class _StepStats:
    """Metric attributes and counts of one step of one workflow, made once."""

    __slots__ = ("by_outcome", "counts", "kind")

    def __init__(self, workflow_name: str, execution: StepExecution) -> None:
        self.kind: dict[str, Any] = {
            "workflow.name": workflow_name,
            "workflow.step.name": execution.step_name,
            "workflow.step.type": str(execution.step_type),
        }
        labels = ("succeeded", "failed", "retried", "skipped", "waiting")
        self.by_outcome = {label: {**self.kind, "workflow.step.outcome": label} for label in labels}
        self.counts = [0, 0, 0, 0]
        """Started, succeeded, failed, retried."""


def _exception_attributes(outcome: Outcome) -> dict[str, str]:
    """The semantic-convention ``exception`` event of a failed outcome.

    ``(FAILED, run_id, "Type: message", retry_at[, error_type, stack_trace])``: the runner keeps no
    exception object, only what the step history stores.
    """
    described = str(outcome[2])
    error_type = outcome[4] if len(outcome) > 4 and outcome[4] else described.partition(":")[0]
    message = described.partition(": ")[2] or described
    attributes = {"exception.type": str(error_type), "exception.message": message}
    if len(outcome) > 5 and outcome[5]:
        attributes["exception.stacktrace"] = str(outcome[5])
    return attributes


def _snapshot(values: Any) -> list[Any]:
    """A list of a dictionary's values that the event loop's thread may be changing meanwhile."""
    for _ in range(5):
        with contextlib.suppress(RuntimeError):  # changed size while copied: copy again
            return list(values)
    return []


def _pending(memory: MemoryStore) -> Sequence[HumanTask]:
    return [task for task in _snapshot(memory.tasks.values()) if task.status is HumanTaskStatus.PENDING]


__all__ = ("TRACEPARENT", "Telemetry", "format_traceparent", "parse_traceparent", "providers_configured")
