"""The step runner: the only place that calls user code of steps.

It runs one step execution (``can_execute``, ``execute`` and the hooks, with the step's timeout),
works out what the step changed in the context, checks that it is JSON, and turns the outcome
into an :class:`Outcome` that a driver applies through the interpreter. It never decides what
runs next.
"""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.context import WorkflowContext
from litestar_workflows.core.errors import ContextSerializationError, NonRetryableError, StepTimeoutError
from litestar_workflows.core.types import StepType
from litestar_workflows.runtime.interpreter import ContextChanges
from litestar_workflows.runtime.jsondata import copy_data, normalize, normalize_mapping

if TYPE_CHECKING:
    from uuid import UUID

    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.models import WorkflowInstanceData
    from litestar_workflows.core.protocols import Step
    from litestar_workflows.runtime.interpreter import Clock, Interpreter
    from litestar_workflows.runtime.transition import Transition


class Outcome:
    """What running a step produced; ``apply`` feeds it to the interpreter."""

    __slots__ = ("args", "kind", "run_id")

    def __init__(self, kind: str, run_id: UUID, *args: Any) -> None:
        self.kind = kind
        self.run_id = run_id
        self.args = args

    def apply(self, interpreter: Interpreter, instance: WorkflowInstanceData) -> Transition:
        """Apply the outcome to ``instance``; raises ``StaleOutcomeError`` if the run was abandoned."""
        kind, args = self.kind, self.args
        if kind == "succeeded":
            return interpreter.step_succeeded(instance, self.run_id, *args)
        if kind == "failed":
            return interpreter.step_failed(instance, self.run_id, *args)
        if kind == "skipped":
            return interpreter.step_skipped(instance, self.run_id, *args)
        return interpreter.step_waiting(instance, self.run_id, wake_at=args[0], task=args[1])

    def __repr__(self) -> str:
        return f"<Outcome {self.kind} {self.run_id} {self.args!r}>"


class StepRunner:
    """Runs step executions; stateless apart from its clock and random source."""

    def __init__(self, clock: Clock, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng or random.Random()

    def context_for(self, instance: WorkflowInstanceData, run: StepExecution) -> WorkflowContext:
        """A context for one execution: a private copy of the data, shared history."""
        shared = instance.context
        return WorkflowContext(
            workflow_id=shared.workflow_id,
            instance_id=shared.instance_id,
            data=copy_data(shared.data),
            metadata=shared.metadata,
            current_step=run.step_name,
            step_history=shared.step_history,
            started_at=shared.started_at,
            user_id=shared.user_id,
            tenant_id=shared.tenant_id,
            execution_id=run.id,
            attempt=run.attempt,
        )

    async def run(self, step: Step, instance: WorkflowInstanceData, run: StepExecution) -> Outcome:
        """Run ``step`` for execution ``run`` of ``instance`` and report what happened."""
        base = dict(instance.context.data)
        context = self.context_for(instance, run)
        run_id: UUID = run.id  # type: ignore[assignment]
        try:
            if not await step.can_execute(context):
                return Outcome("skipped", run_id, "can_execute() returned False")
            kind = step.step_type
            if kind is StepType.HUMAN:
                return Outcome("waiting", run_id, None, await self._task_fields(step, context))
            if kind is StepType.TIMER:
                return Outcome("waiting", run_id, await step.wake_time(context, self.clock()), None)  # type: ignore[attr-defined]
            if kind is StepType.WEBHOOK:
                return Outcome("waiting", run_id, None, None)
            route: frozenset[str] | None = None
            if kind is StepType.GATEWAY:
                route, result = await self._choose(step, context)
            else:
                result = await self._execute(step, context)
            await step.on_success(context, result)
            changes = _changes(base, context.data, run.step_name)
            if result is not None:
                result = normalize(result, f"the result of step {run.step_name!r}")
        except Exception as error:
            return await self._failure(step, context, run, error)
        return Outcome("succeeded", run_id, result, changes, route)

    async def _execute(self, step: Step, context: WorkflowContext) -> Any:
        timeout = getattr(step, "timeout", None)
        if not timeout:
            return await step.execute(context)
        try:
            async with asyncio.timeout(timeout):
                return await step.execute(context)
        except TimeoutError as error:
            raise StepTimeoutError(f"step {step.name!r} timed out after {timeout}s", step.name) from error

    async def _choose(self, step: Step, context: WorkflowContext) -> tuple[frozenset[str] | None, Any]:
        chooser = getattr(step, "choose", None)
        if chooser is not None:
            route = await chooser(context)
        else:
            chosen = await self._execute(step, context)
            route = None if chosen is None else frozenset([chosen] if isinstance(chosen, str) else chosen)
        return route, (None if route is None else sorted(route))

    async def _task_fields(self, step: Any, context: WorkflowContext) -> dict[str, Any]:
        now = self.clock()
        due_at = getattr(step, "due_at", None)
        due_in: timedelta | None = getattr(step, "due_in", None)
        reminder_in: timedelta | None = getattr(step, "reminder_in", None)
        if due_at is None and due_in is not None:
            due_at = now + due_in
        get_title = getattr(step, "get_title", None)
        get_schema = getattr(step, "get_form_schema", None)
        get_assignee = getattr(step, "get_assignee", None)
        return {
            "title": await get_title(context) if get_title else (getattr(step, "title", "") or step.name),
            "description": getattr(step, "description", None) or None,
            "form_schema": await get_schema(context) if get_schema else getattr(step, "form_schema", None),
            "assignee_id": await get_assignee(context) if get_assignee else getattr(step, "assignee", None),
            "assignee_group": getattr(step, "assignee_group", None),
            "due_at": due_at,
            "reminder_at": None if reminder_in is None else now + reminder_in,
        }

    async def _failure(
        self, step: Step, context: WorkflowContext, run: StepExecution, error: Exception
    ) -> Outcome:
        try:
            await step.on_failure(context, error)
        except Exception as hook_error:  # the original error matters more; keep both in the message
            error = NonRetryableError(f"{_describe(error)}; on_failure hook raised {_describe(hook_error)}")
        policy = getattr(step, "retry_policy", None)
        retry_at: datetime | None = None
        if (
            policy is not None
            and not isinstance(error, ContextSerializationError)
            and policy.should_retry(error, run.attempt)
        ):
            retry_at = self.clock() + timedelta(seconds=policy.delay_for(run.attempt, self.rng))
        return Outcome("failed", run.id, _describe(error), retry_at)  # type: ignore[arg-type]


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _changes(base: dict[str, Any], data: dict[str, Any], step_name: str) -> ContextChanges | None:
    """Keys the step set to a new value or deleted, compared with the data it was given."""
    changed = {
        key: value
        for key, value in data.items()
        if key not in base or type(value) is not type(base[key]) or value != base[key]
    }
    deleted = [key for key in base if key not in data]
    if not changed and not deleted:
        return None
    return ContextChanges(normalize_mapping(changed, f"step {step_name!r} context"), deleted)


__all__ = ("Outcome", "StepRunner")
