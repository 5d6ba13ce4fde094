"""The step runner: the only place that calls user code of steps.

It runs one step execution (``can_execute``, ``execute`` and the hooks, with the step's timeout),
works out what the step changed in the context, checks that it is JSON, and turns the outcome
into an :class:`Outcome` that a driver applies through the interpreter. It never decides what
runs next.
"""

from __future__ import annotations

import asyncio
import random
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from operator import is_
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.context import ReadOnlyHistory, ReadOnlyMetadata, WorkflowContext
from litestar_workflows.core.errors import (
    ContextSerializationError,
    NonRetryableError,
    StepCancelledError,
    StepExitError,
    StepTimeoutError,
)
from litestar_workflows.core.events import cancel_requested
from litestar_workflows.core.forms import check_task_form_schema
from litestar_workflows.core.types import StepType
from litestar_workflows.runtime.failures import error_type_of, format_trace, log_step_failure
from litestar_workflows.runtime.interpreter import ContextChanges
from litestar_workflows.runtime.jsondata import (
    ABSENT,
    WatchedData,
    copy_data,
    normalize_result,
    normalize_written,
)

if TYPE_CHECKING:
    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.core.protocols import Step
    from litestar_workflows.runtime.interpreter import Clock, Interpreter
    from litestar_workflows.runtime.transition import Transition


SUCCEEDED, FAILED, SKIPPED, WAITING = "succeeded", "failed", "skipped", "waiting"
_MACHINE, _GATEWAY, _HUMAN, _TIMER = StepType.MACHINE, StepType.GATEWAY, StepType.HUMAN, StepType.TIMER

Outcome = tuple[Any, ...]
"""``(kind, run_id, *arguments)``: what running a step produced, for :func:`apply_outcome`.

A plain tuple because one is made per step execution; the arguments are those of the
interpreter method named by ``kind``. A failure is ``(FAILED, run_id, error, retry_at,
error_type, stack_trace, changes)``: ``changes`` is what the step's ``on_failure`` hook wrote
(:class:`ContextChanges`, or ``None``), set only when the step fails for good.
"""


def apply_outcome(interpreter: Interpreter, instance: WorkflowInstanceData, outcome: Outcome) -> Transition:
    """Feed a runner outcome to the interpreter; raises ``StaleOutcomeError`` if the run was abandoned."""
    kind = outcome[0]
    if kind is SUCCEEDED:
        return interpreter.step_succeeded(instance, *outcome[1:])
    if kind is FAILED:
        return interpreter.step_failed(instance, *outcome[1:])
    if kind is SKIPPED:
        return interpreter.step_skipped(instance, *outcome[1:])
    return interpreter.step_waiting(instance, outcome[1], wake_at=outcome[2], task=outcome[3])


class StepPlan:
    """What the runner needs to know about one step, worked out once per definition."""

    __slots__ = ("checks_can_execute", "has_on_failure", "has_on_success", "step", "step_type", "timeout")

    def __init__(self, step: Step) -> None:
        from litestar_workflows.steps.base import BaseStep

        cls = type(step)
        self.step = step
        self.step_type = step.step_type
        self.timeout: float | None = getattr(step, "timeout", None)
        # Skipping the default no-op hooks saves two coroutine round trips per step.
        self.checks_can_execute = getattr(cls, "can_execute", None) is not BaseStep.can_execute
        self.has_on_success = getattr(cls, "on_success", None) is not BaseStep.on_success
        self.has_on_failure = getattr(cls, "on_failure", None) is not BaseStep.on_failure


def plans_for(definition: WorkflowDefinition) -> dict[str, StepPlan]:
    """One :class:`StepPlan` per step of ``definition``."""
    return {name: StepPlan(step) for name, step in definition.steps.items()}


class StepRunner:
    """Runs step executions; stateless apart from its clock and random source."""

    def __init__(self, clock: Clock, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng or random.Random()

    async def run(self, plan: StepPlan, instance: WorkflowInstanceData, run: StepExecution) -> Outcome:
        """Run the step of ``plan`` for execution ``run`` of ``instance`` and report what happened."""
        step = plan.step
        shared = instance.context
        data = copy_data(shared.data)
        # What the step was given, to tell its changes from; a WatchedData keeps it on first write.
        watched = data if type(data) is WatchedData else None
        base = shared.data.copy() if watched is None else None
        run_id = run.id
        # The step gets read-only views of the instance's metadata (a frozen dict, copied once)
        # and history (a view, no copy: the history grows with the instance, and a copy per step
        # would make long instances quadratic), made once per instance and kept on its context
        # while they still show its dict and list.
        views = shared._step_views
        metadata = shared.metadata
        history = shared.step_history
        if (
            views is None
            or views[0]._source is not metadata  # made from another dict
            or len(views[0]) != len(metadata)  # or keys were added to it since
            or views[1]._items is not history
        ):
            views = shared._step_views = (ReadOnlyMetadata(metadata), ReadOnlyHistory(history))
        # Positional arguments (the hottest call of the engine): workflow_id, instance_id, data,
        # metadata, current_step, step_history, started_at, user_id, tenant_id, execution_id, attempt.
        # The history view is typed as what the instance's own context holds (a list).
        context = WorkflowContext(
            shared.workflow_id,
            shared.instance_id,
            data,
            views[0],
            run.step_name,
            views[1],  # type: ignore[arg-type]
            shared.started_at,
            shared.user_id,
            shared.tenant_id,
            run_id,
            run.attempt,
        )
        try:
            if plan.checks_can_execute and not await step.can_execute(context):
                return (SKIPPED, run_id, "can_execute() returned False")
            kind = plan.step_type
            route: frozenset[str] | None = None
            if kind is _MACHINE:
                result = await (self.execute(step, context) if plan.timeout else step.execute(context))
            elif kind is _GATEWAY:
                route, result = await self._choose(step, context)
            elif kind is _HUMAN:
                return (WAITING, run_id, None, await self._task_fields(step, context))
            elif kind is _TIMER:
                return (WAITING, run_id, await step.wake_time(context, self.clock()), None)  # type: ignore[attr-defined]
            else:
                return (WAITING, run_id, None, None)
            if plan.has_on_success:
                await step.on_success(context, result)
            current = context.data
            if current is watched and watched.touched is None and watched.original is None:
                changes = None  # nothing written, nothing replaced: the usual case, without a call
            else:
                changes = _changes_made(watched, base, current, run.step_name)
            if result is not None:
                result = normalize_result(result, run.step_name)
        except (Exception, asyncio.CancelledError, SystemExit) as error:
            return await self._failure(plan, instance, context, run, error)
        return (SUCCEEDED, run_id, result, changes, route)

    async def execute(self, step: Step, context: WorkflowContext) -> Any:
        """Run ``step.execute`` under the step's timeout, if it has one.

        Past its timeout a step is timed out, whatever it does next: a step that swallows the
        cancellation and returns, or raises something else, still fails with ``StepTimeoutError``
        (asyncio would let its result through).
        """
        timeout = getattr(step, "timeout", None)
        if not timeout:
            return await step.execute(context)
        name = context.current_step or step.name
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                result = await step.execute(context)
        except TimeoutError as error:
            raise StepTimeoutError(f"step {name!r} timed out after {timeout}s", name) from error
        except Exception as error:
            if deadline.expired():
                raise StepTimeoutError(
                    f"step {name!r} timed out after {timeout}s (and then raised {_describe(error)})", name
                ) from error
            raise
        if deadline.expired():
            raise StepTimeoutError(
                f"step {name!r} timed out after {timeout}s (it ignored the cancellation and finished later; "
                "its result is discarded)",
                name,
            )
        return result

    async def _choose(self, step: Step, context: WorkflowContext) -> tuple[frozenset[str] | None, Any]:
        chooser = getattr(step, "choose", None)
        if chooser is not None:
            route = await chooser(context)
        else:
            chosen = await self.execute(step, context)
            route = None if chosen is None else frozenset([chosen] if isinstance(chosen, str) else chosen)
        return route, (None if route is None else sorted(route))

    async def _task_fields(self, step: Any, context: WorkflowContext) -> dict[str, Any]:
        now = self.clock()
        due_at = await _deadline(step, context, "get_due_date", "due_at", "due_in", now)
        reminder_at = await _deadline(step, context, "get_reminder_date", "reminder_at", "reminder_in", now)
        run_step = context.current_step  # its key in the definition, which wins over ``step.name``
        get_title = getattr(step, "get_title", None)
        get_schema = getattr(step, "get_form_schema", None)
        get_assignee = getattr(step, "get_assignee", None)
        get_group = getattr(step, "get_assignee_group", None)
        get_description = getattr(step, "get_description", None)
        description = (
            await get_description(context) if get_description else getattr(step, "description", None)
        )
        return {
            "title": await get_title(context) if get_title else getattr(step, "title", "") or run_step,
            "description": description or None,
            # A static form_schema was checked with the definition; one a hook builds is checked here.
            "form_schema": check_task_form_schema(await get_schema(context), run_step or step.name)
            if get_schema
            else getattr(step, "form_schema", None),
            "assignee_id": await get_assignee(context) if get_assignee else getattr(step, "assignee", None),
            "assignee_group": await get_group(context)
            if get_group
            else getattr(step, "assignee_group", None),
            "due_at": due_at,
            "reminder_at": reminder_at,
        }

    async def _failure(
        self,
        plan: StepPlan,
        instance: WorkflowInstanceData,
        context: WorkflowContext,
        run: StepExecution,
        error: BaseException,
    ) -> Outcome:
        """The FAILED outcome of ``run``, after the step's ``on_failure`` hook.

        What ``execute`` wrote is discarded; what the hook writes (compared with the context as the
        hook got it, as the success path compares) goes with the failure when the step fails for
        good. A retried attempt leaves nothing: the next attempt starts from the same data.
        """
        step = plan.step
        if isinstance(error, SystemExit):
            error = StepExitError.replacing(error, run.step_name)
        elif not isinstance(error, Exception):  # asyncio.CancelledError
            if cancel_requested():
                raise error  # the engine abandons the run (a sibling failed, a cancel, shutdown)
            # Raised by the step itself, or by something it awaited that was cancelled: a failure
            # like any other (asyncio would otherwise end the driver, and the run stays "running").
            cancelled = error
            error = StepCancelledError(
                f"step {run.step_name!r} raised CancelledError that the engine did not ask for", run.step_name
            )
            error.__cause__ = cancelled
        changes: ContextChanges | None = None
        if plan.has_on_failure:  # the default hook does nothing: no snapshot, no call
            try:
                before = _snapshot(context.data)
                await step.on_failure(context, error)
                # A value the hook stores that is not JSON is the hook's failure, named by key.
                changes = _changes(before, context.data, run.step_name)
            except (Exception, asyncio.CancelledError, SystemExit) as hook_error:  # the step's error first
                if isinstance(hook_error, asyncio.CancelledError) and cancel_requested():
                    raise
                changes = None  # a hook that failed leaves nothing either
                error = NonRetryableError(
                    f"{_describe(error)}; on_failure hook raised {_describe(hook_error)}"
                )
                error.__cause__ = hook_error  # its traceback, and the step's error it happened during
        policy = getattr(step, "retry_policy", None)
        retry_at: datetime | None = None
        if (
            policy is not None
            and not isinstance(error, ContextSerializationError)
            and policy.should_retry(error, run.attempt)
        ):
            retry_at = self.clock() + timedelta(seconds=policy.delay_for(run.attempt, self.rng))
        description = _describe(error)
        log_step_failure(instance, run, error, description, retry_at)
        return (
            FAILED,
            run.id,
            description,
            retry_at,
            error_type_of(error),
            format_trace(error),
            None if retry_at is not None else changes,
        )


async def _deadline(  # noqa: PLR0917 - one call per deadline, all positional
    step: Any, context: WorkflowContext, getter: str, at: str, within: str, now: datetime
) -> datetime | None:
    """A task deadline: the step's ``get_*_date`` hook (the reference's), else ``*_at``, else now + ``*_in``.

    A naive datetime (``datetime.now() + ...`` in the reference's examples) is taken as local time.
    """
    hook = getattr(step, getter, None)
    when: datetime | None = await hook(context) if hook is not None else getattr(step, at, None)
    if when is None:
        delta: timedelta | None = getattr(step, within, None)
        return None if delta is None else now + delta
    if not isinstance(when, datetime):
        raise TypeError(f"{getter}() of step {context.current_step!r} returned {when!r}, not a datetime")
    return when.astimezone(UTC) if when.tzinfo is None else when


def _describe(error: BaseException) -> str:
    """``"Type: message"``, even for an exception whose ``__str__`` raises (its failure is kept)."""
    try:
        message = str(error)
    except Exception as unreadable:  # user code's __str__: whatever it raises is described, never raised
        message = f"<its message could not be read: str() raised {type(unreadable).__name__}>"
    return f"{type(error).__name__}: {message}"


_MISSING = object()


def _snapshot(data: dict[str, Any]) -> dict[str, Any]:
    """The data as it is now, for telling what an ``on_failure`` hook changes from it.

    Containers are copied deeply (the hook may edit them in place); anything else is kept as it
    is. Only a step that overrides ``on_failure`` pays for this, and only when it fails.
    """
    snapshot = dict(data)
    for key, value in data.items():
        if isinstance(value, (dict, list)):
            try:
                snapshot[key] = deepcopy(value)
            except Exception:  # a value that cannot be copied is compared as it is
                continue
    return snapshot


def _changes_made(
    watched: WatchedData | None, base: dict[str, Any] | None, data: dict[str, Any], step_name: str
) -> ContextChanges | None:
    """What a step changed in its data: ``base`` is a copy of what it was given, unless ``watched``."""
    if watched is None:
        return _changes(base, data, step_name)  # type: ignore[arg-type]
    if data is not watched or watched.original is not None:
        return _changes(watched.before(), data, step_name)
    return _set_changes(watched.touched, data, step_name)  # type: ignore[arg-type]


def _set_changes(touched: dict[str, Any], data: dict[str, Any], step_name: str) -> ContextChanges | None:
    """:func:`_changes` when the step only assigned items: only the keys it assigned can differ."""
    changed: dict[str, Any] | None = None
    for key, old in touched.items():
        value = data[key]
        if old is ABSENT or type(value) is not type(old) or value != old:
            if changed is None:
                changed = {}
            changed[key] = value
    return None if changed is None else ContextChanges(normalize_written(changed, step_name), [])


def _changes(base: dict[str, Any], data: dict[str, Any], step_name: str) -> ContextChanges | None:
    """Keys the step set to a new value or deleted, compared with the data it was given."""
    if len(data) == len(base) and all(map(is_, data.values(), base.values())) and data.keys() == base.keys():
        return None  # untouched: every value is still the very object it was given (C-speed check)
    changed: dict[str, Any] | None = None
    for key, value in data.items():
        old = base.get(key, _MISSING)
        if old is _MISSING or type(value) is not type(old) or value != old:
            if changed is None:
                changed = {}
            changed[key] = value
    deleted = [key for key in base if key not in data] if len(data) < len(base) or changed else []
    if changed is None and not deleted:
        return None
    return ContextChanges(normalize_written(changed or {}, step_name), deleted)


__all__ = ("Outcome", "StepPlan", "StepRunner", "apply_outcome", "plans_for")
