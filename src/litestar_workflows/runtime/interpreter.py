"""The one place that decides what happens next in a workflow instance.

:class:`Interpreter` applies an event (a step succeeded, a task was completed, a timer fired, the
user canceled...) to an instance and returns a :class:`Transition`: the rows that changed and the
work to start. It calls no user code, does no I/O and reads time and ids only from the functions
it is given, so every engine (in-memory, database, distributed) shares exactly these semantics.

Token rules: each finished step evaluates its outgoing edges to live or dead tokens. A step with
several forward incoming edges (a join) fires once all have arrived, if at least one is live; if
all are dead it is skipped and passes dead tokens on. A live back edge starts a new iteration of
its target and clears the join state of the loop body. An instance completes when no execution
is active any more.

Preconditions are checked before anything changes: a rejected event leaves the instance as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar_workflows.core.context import StepExecution, WorkflowContext
from litestar_workflows.core.errors import (
    InvalidTransitionError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    WorkflowAlreadyCompletedError,
)
from litestar_workflows.core.events import (
    HumanTaskCompleted,
    HumanTaskCreated,
    HumanTaskReassigned,
    StepCompleted,
    StepFailed,
    StepSkipped,
    WorkflowCanceled,
    WorkflowCompleted,
    WorkflowFailed,
    WorkflowPaused,
    WorkflowResumed,
    WorkflowRetried,
    WorkflowStarted,
)
from litestar_workflows.core.models import HumanTask, RuntimeState, WorkflowInstanceData
from litestar_workflows.core.types import HumanTaskStatus, StepStatus, StepType, WorkflowStatus
from litestar_workflows.runtime.deadlines import fire_due, next_deadline
from litestar_workflows.runtime.transition import Transition

if TYPE_CHECKING:
    from litestar_workflows.core.definition import WorkflowDefinition
    from litestar_workflows.core.graph import OutEdge

Clock = Callable[[], datetime]
IdFactory = Callable[[], UUID]

_RUNNING, _WAITING, _PAUSED = WorkflowStatus.RUNNING, WorkflowStatus.WAITING, WorkflowStatus.PAUSED
# Enum members bound once: attribute access on an Enum class costs a descriptor call.
_SCHEDULED, _STEP_RUNNING, _SUCCEEDED = StepStatus.SCHEDULED, StepStatus.RUNNING, StepStatus.SUCCEEDED
_STEP_WAITING = StepStatus.WAITING
_FINISHED = frozenset({WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED})


class StaleOutcomeError(InvalidTransitionError):
    """The execution an outcome belongs to is no longer active (canceled, failed over, or done).

    Drivers drop such outcomes: they come from work that was abandoned while it ran.
    """


class ContextChanges:
    """What a step changed in the context: keys set (with their new values) and keys deleted."""

    __slots__ = ("deleted", "set")

    def __init__(self, set_: dict[str, Any] | None = None, deleted: Iterable[str] = ()) -> None:
        self.set = set_ or {}
        self.deleted = list(deleted)

    def __bool__(self) -> bool:
        return bool(self.set or self.deleted)

    def as_json(self) -> dict[str, Any]:
        """The change set as stored in the step's history."""
        return {"set": self.set, "deleted": self.deleted}


class Interpreter:
    """Applies events to instances of one definition.

    Args:
        definition: The definition every instance given to this interpreter runs.
        clock: Returns the current time (timezone-aware).
        new_id: Returns a fresh id for step executions and tasks.
        record_events: Build event objects (off when nobody listens, to save time).
    """

    def __init__(
        self, definition: WorkflowDefinition, clock: Clock, new_id: IdFactory, *, record_events: bool = True
    ) -> None:
        # The last line of defence: every engine drives a definition through an interpreter, so
        # an invalid definition (which may be built, see WorkflowDefinition) never runs.
        definition.ensure_valid()
        self.definition = definition
        self.graph = definition.graph
        self.clock = clock
        self.new_id = new_id
        self.record_events = record_events
        self._types = {name: step.step_type for name, step in definition.steps.items()}
        # Steps whose only way on is one unconditional forward edge into a non-join step: the
        # common case of a chain, routed without evaluating edges or touching join state.
        self._simple_next: dict[str, str] = {}
        # Steps whose outgoing edges are all unconditional: every token they send is live.
        self._unconditional = frozenset(
            name
            for name in definition.steps
            if all(out.edge.condition is None for out in self.graph.out_edges[name])
        )
        self._arity = self.graph.join_arity
        self._max_iterations: int = definition.max_iterations
        exits = self.graph.loop_exits
        self._plain_fanout = frozenset(
            name
            for name in self._unconditional
            if not any(out.is_back or (name, out.target) in exits for out in self.graph.out_edges[name])
        )
        for name in definition.steps:
            outs = self.graph.out_edges[name]
            if (
                len(outs) == 1
                and not outs[0].is_back
                and outs[0].edge.condition is None
                and self.graph.join_arity[outs[0].target] == 1
                and (name, outs[0].target) not in self.graph.loop_exits
            ):
                self._simple_next[name] = outs[0].target

    # ------------------------------------------------------------------ lifecycle events

    def create(
        self,
        data: dict[str, Any],
        *,
        instance_id: UUID | None = None,
        tenant_id: str | None = None,
        created_by: str | None = None,
        metadata: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> Transition:
        """Create a new instance (with its start ``key``, if any) and schedule its initial step."""
        now = self.clock()
        definition = self.definition
        iid = instance_id or self.new_id()
        # Positional arguments: cheaper than keywords, and this runs once per started instance.
        context = WorkflowContext(
            definition.name,
            iid,
            data,
            {} if metadata is None else metadata,
            None,
            [],
            now,
            created_by,
            tenant_id,
        )
        instance = WorkflowInstanceData(
            iid,
            definition.name,
            definition.version,
            _RUNNING,
            context,
            None,
            None,
            now,
            None,
            tenant_id,
            created_by,
            0,
            RuntimeState.fresh(),
            key,
        )
        tr = Transition(instance, created=True)
        if self.record_events:
            tr.add_event(
                WorkflowStarted(
                    instance_id=iid,
                    timestamp=now,
                    workflow_name=definition.name,
                    workflow_version=definition.version,
                    tenant_id=tenant_id,
                    created_by=created_by,
                )
            )
        self._activate(instance, definition.initial_step, tr)
        return self._settle(tr)

    def cancel(self, instance: WorkflowInstanceData, reason: str) -> Transition:
        """Cancel an instance that has not finished, or give up on a failed one.

        Its active executions and tasks are canceled. A failed instance waits for a retry; canceling
        it closes it for good (no retry), and its ``error`` keeps the failure after the reason.
        """
        failed = instance.status is WorkflowStatus.FAILED
        if not failed:
            self._require_unfinished(instance, "cancel")
        tr = Transition(instance)
        self._abandon_active(instance, tr)
        instance.status = WorkflowStatus.CANCELED
        if failed and instance.error:
            instance.error = f"{reason} (it had failed: {instance.error})" if reason else instance.error
        else:
            instance.error = reason or None
        instance.completed_at = self.clock()
        instance.runtime.held = ()
        if self.record_events:
            tr.add_event(self._wf_event(WorkflowCanceled, instance, reason=reason))
        return self._bump(tr)

    def pause(self, instance: WorkflowInstanceData) -> Transition:
        """Hold the instance: running steps may finish, but nothing new starts until resumed."""
        if instance.status not in (_RUNNING, _WAITING):
            raise InvalidTransitionError(
                f"instance {instance.id} is {instance.status}; "
                "only a running or waiting instance can be paused"
            )
        instance.runtime.paused_from = instance.status
        instance.status = _PAUSED
        tr = Transition(instance)
        if self.record_events:
            tr.add_event(self._wf_event(WorkflowPaused, instance))
        return self._bump(tr)

    def resume(self, instance: WorkflowInstanceData) -> Transition:
        """Continue a paused instance and start what was held back."""
        if instance.status is not _PAUSED:
            raise InvalidTransitionError(f"instance {instance.id} is {instance.status}, not paused")
        runtime = instance.runtime
        instance.status = runtime.paused_from or _RUNNING
        runtime.paused_from = None
        tr = Transition(instance)
        for run_id in runtime.held:
            run = runtime.active.get(run_id.int)
            if run is not None:
                tr.start.append(run)
        runtime.held = ()
        if self.record_events:
            tr.add_event(self._wf_event(WorkflowResumed, instance))
        return self._settle(tr)

    def retry(self, instance: WorkflowInstanceData, from_step: str | None = None) -> Transition:
        """Restart a failed instance from its failed step (or ``from_step``), context as it was.

        Branches the failure canceled are restarted too, unless ``from_step`` reaches them again.
        """
        if instance.status is not WorkflowStatus.FAILED:
            raise InvalidTransitionError(
                f"instance {instance.id} is {instance.status}; only a failed instance can be retried"
            )
        runtime = instance.runtime
        step = from_step or runtime.failed_step
        if step is None:
            raise InvalidTransitionError(
                f"cannot retry instance {instance.id}: no failed step is recorded (its status was set "
                "to failed outside the engine, e.g. by a repository's update_status); name the step "
                "to run again with from_step"
            )
        if step not in self.definition.steps:
            raise InvalidTransitionError(
                f"cannot retry instance {instance.id} from {step!r}: no such step in "
                f"{self.definition.name!r} {self.definition.version}"
            )
        tr = Transition(instance)
        interrupted = runtime.interrupted
        if runtime.active or runtime.pending_tasks:
            # Only an instance whose status was set to failed from outside (a repository's
            # update_status) still has work in hand. It is canceled and, like the branches a
            # recorded failure interrupts, started again unless the retry reaches it, so that
            # every branch of a fan-out still arrives at its join.
            interrupted = (*interrupted, *self._abandon_active(instance, tr))
        instance.status = _RUNNING
        instance.error = None
        instance.completed_at = None
        body = self.graph.forward_closure(step)
        self._reset_joins(instance, body)
        for edge in [edge for edge in runtime.deferred if edge[0] in body]:
            del runtime.deferred[edge]  # those loops run again and will decide their exits anew
        # Interrupted branches start again unless the retry reaches them (downstream of ``step``)
        # or they lead to it (upstream: a retry from a join or from later in their own branch
        # must not run the branch again, and the join with it).
        closure = self.graph.forward_closure
        restart = [step, *(name for name in interrupted if name not in body and step not in closure(name))]
        runtime.failed_step = None
        runtime.interrupted = ()
        if self.record_events:
            tr.add_event(self._wf_event(WorkflowRetried, instance, from_step=step))
        for name in restart:
            self._activate(instance, name, tr)
        return self._settle(tr)

    # ------------------------------------------------------------------ step outcomes

    def mark_running(self, instance: WorkflowInstanceData, run: StepExecution) -> None:
        """Record that a driver began running ``run``.

        Not a transition: a store records the start when a worker claims the execution.
        """
        run.status = _STEP_RUNNING
        run.started_at = self.clock()

    def step_succeeded(
        self,
        instance: WorkflowInstanceData,
        run_id: UUID,
        result: Any = None,
        changes: ContextChanges | None = None,
        route: frozenset[str] | None = None,
    ) -> Transition:
        """A step finished: apply its context changes and move its tokens on.

        ``route`` (from a gateway) names the successors that stay live; ``None`` means all.
        """
        run = instance.runtime.active.get(run_id.int)
        if run is None:
            raise StaleOutcomeError(f"execution {run_id} of instance {instance.id} is not active")
        tr = Transition(instance)
        # _finish(), inlined for the one outcome every step but the failing ones has.
        run.status = _SUCCEEDED
        run.completed_at = now = self.clock()
        if run.started_at is None:
            run.started_at = now
        run.result = result
        run.error = None
        if run.error_type is not None:  # succeeded after failed attempts
            run.error_type = run.stack_trace = None
        if changes:
            _apply_changes(instance, run, changes)
        del instance.runtime.active[run_id.int]
        tr.writes.append(run)
        if self.record_events:
            tr.add_event(self.step_event(StepCompleted, instance, run, result=result))
        follow = self._simple_next.get(run.step_name) if route is None else None
        if follow is None:
            self._advance(instance, run, tr, route)
            return self._settle(tr)
        # Fast path of a chain: the next step is now active and not waiting, so the instance is
        # running (or stays paused); this is what _settle() would conclude, without the scan.
        # _activate() and _new_run(), inlined: two calls fewer on the engine's hottest path.
        runtime = instance.runtime
        activations = runtime.activations
        count = activations.get(follow, 0)
        activations[follow] = count + 1
        step_id = self.new_id()
        nxt = StepExecution(
            follow, _SCHEDULED, None, None, None, None, None, None, step_id, self._types[follow], 1, count
        )
        instance.context.step_history.append(nxt)
        tr.writes.append(nxt)
        runtime.active[step_id.int] = nxt
        instance.current_step = follow
        instance.version += 1
        if instance.status is _PAUSED:
            runtime.held += (step_id,)
        else:
            tr.start.append(nxt)
            instance.status = _RUNNING
        return tr

    def step_skipped(self, instance: WorkflowInstanceData, run_id: UUID, reason: str = "") -> Transition:
        """A step's ``can_execute`` said no: record SKIPPED and continue along its edges."""
        run = self._active_run(instance, run_id)
        tr = Transition(instance)
        self._finish(instance, run, StepStatus.SKIPPED, tr)
        if self.record_events:
            tr.add_event(self.step_event(StepSkipped, instance, run, reason=reason))
        self._advance(instance, run, tr, None)
        return self._settle(tr)

    def step_failed(  # noqa: PLR0917 - a runner outcome's arguments, in its order
        self,
        instance: WorkflowInstanceData,
        run_id: UUID,
        error: str,
        retry_at: datetime | None = None,
        error_type: str | None = None,
        stack_trace: str | None = None,
        changes: ContextChanges | None = None,
    ) -> Transition:
        """A step attempt raised: schedule the next attempt at ``retry_at``, or fail the instance.

        ``error`` is ``"Type: message"``; ``error_type`` and ``stack_trace`` (bounded, see
        :mod:`litestar_workflows.runtime.failures`) are kept beside it in the step's history.
        ``changes``: what the step's ``on_failure`` hook wrote, applied when the step fails for good.
        """
        run = self._active_run(instance, run_id)
        tr = Transition(instance)
        if "\x00" in error or (stack_trace is not None and "\x00" in stack_trace):
            # An exception's text may hold anything; no database stores a NUL character.
            error = error.replace("\x00", "\\x00")
            stack_trace = None if stack_trace is None else stack_trace.replace("\x00", "\\x00")
        run.error_type = error_type
        run.stack_trace = stack_trace
        if retry_at is not None:
            run.error = error
            if self.record_events:  # the attempt that failed, before it is counted up
                tr.add_event(
                    self.step_event(
                        StepFailed,
                        instance,
                        run,
                        error=error,
                        will_retry=True,
                        error_type=error_type,
                        retry_count=run.attempt - 1,
                    )
                )
            run.attempt += 1
            run.status = StepStatus.SCHEDULED
            run.scheduled_for = retry_at
            tr.writes.append(run)
            if instance.status is _PAUSED:
                instance.runtime.held += (run.id,)  # type: ignore[operator]
            else:
                tr.start.append(run)
            return self._settle(tr)
        self._finish(instance, run, StepStatus.FAILED, tr, None, error, changes)
        if self.record_events:
            tr.add_event(
                self.step_event(
                    StepFailed, instance, run, error=error, error_type=error_type, retry_count=run.attempt - 1
                )
            )
        self._fail(
            instance,
            run.step_name,
            f"step {run.step_name!r} failed: {error}",
            tr,
            error_type=error_type,
            stack_trace=stack_trace,
        )
        return self._bump(tr)

    def step_waiting(
        self,
        instance: WorkflowInstanceData,
        run_id: UUID,
        *,
        wake_at: datetime | None = None,
        task: dict[str, Any] | None = None,
    ) -> Transition:
        """A human, timer or webhook step now waits: for a task (``task`` fields), a time, or a call."""
        run = self._active_run(instance, run_id)
        tr = Transition(instance)
        run.status = StepStatus.WAITING
        if run.started_at is None:
            run.started_at = self.clock()
        tr.writes.append(run)
        if wake_at is not None:
            run.scheduled_for = wake_at
            tr.add_timer(run)
        if task is not None:
            if any(type(value) is str and "\x00" in value for value in task.values()):
                # A title or an assignee a step's hook computed: no database stores a NUL character.
                task = {k: v.replace("\x00", "\\x00") if type(v) is str else v for k, v in task.items()}
            human = HumanTask(
                id=self.new_id(),
                instance_id=instance.id,
                step_execution_id=run.id,  # type: ignore[arg-type]
                step_name=run.step_name,
                workflow_name=instance.workflow_name,
                tenant_id=instance.tenant_id,
                created_at=self.clock(),
                **task,
            )
            run.assigned_to = human.assignee_id
            instance.runtime.pending_tasks[human.id.int] = human
            tr.add_task(human)
            run.scheduled_for = next_deadline(human)  # its reminder and due time (runtime/deadlines.py)
            if run.scheduled_for is not None:
                tr.add_timer(run)
            if self.record_events:
                tr.add_event(
                    self.step_event(
                        HumanTaskCreated,
                        instance,
                        run,
                        task_id=human.id,
                        assignee_id=human.assignee_id,
                        assignee_group=human.assignee_group,
                        title=human.title,
                    )
                )
        return self._settle(tr)

    def timer_fired(self, instance: WorkflowInstanceData, run_id: UUID) -> Transition:
        """A timer step's time has come: it succeeds and the flow continues.

        For a waiting human step, the deadlines of its task that came due fire instead.
        """
        run = self._active_run(instance, run_id)
        if run.step_type is StepType.HUMAN and run.status is StepStatus.WAITING:
            fired = fire_due(self, instance, run)
            if fired is None:
                raise StaleOutcomeError(f"no deadline of the task of {run.step_name!r} is due")
            return fired
        if run.status is not StepStatus.WAITING or run.step_type is not StepType.TIMER:
            raise StaleOutcomeError(f"execution {run_id} of {run.step_name!r} is not a waiting timer")
        return self.step_succeeded(instance, run_id)

    def webhook_received(
        self, instance: WorkflowInstanceData, step_name: str, key: str, payload: Any
    ) -> Transition:
        """A payload arrived for a waiting webhook step: store it at ``key`` and continue."""
        self._require_unfinished(instance, "deliver a webhook to")
        self._require_not_paused(instance)
        for run in instance.runtime.active.values():
            if run.step_name == step_name and run.status is StepStatus.WAITING:
                if run.step_type is not StepType.WEBHOOK:
                    break
                return self.step_succeeded(instance, run.id, payload, ContextChanges({key: payload}))  # type: ignore[arg-type]
        raise InvalidTransitionError(f"instance {instance.id} is not waiting for a webhook at {step_name!r}")

    # ------------------------------------------------------------------ human tasks

    def find_pending_task(self, instance: WorkflowInstanceData, step_name: str) -> HumanTask:
        """The pending task of ``step_name``, or a clear error saying why there is none."""
        pending = instance.runtime.pending_tasks.values()
        for task in pending:
            if task.step_name == step_name:
                return task
        waiting = sorted({task.step_name for task in pending})
        where = (
            f"instance {instance.id} is waiting at step {' / '.join(map(repr, waiting))}, not {step_name!r}"
            if waiting
            else f"instance {instance.id} is not waiting (status: {instance.status})"
        )
        if step_name not in self.definition.steps:
            raise TaskNotFoundError(
                f"workflow {instance.workflow_name!r} has no step {step_name!r} ({where})"
            )
        if self._types[step_name] is not StepType.HUMAN:
            raise InvalidTransitionError(f"step {step_name!r} is not a human task: {where}")
        if any(e.step_name == step_name and e.status is StepStatus.SUCCEEDED for e in instance.step_history):
            raise TaskAlreadyCompletedError(
                f"the task of {step_name!r} in instance {instance.id} is already completed"
            )
        self._require_unfinished(instance, "complete a task of")
        if any(
            run.step_name == step_name and run.status is StepStatus.WAITING
            for run in instance.runtime.active.values()
        ):
            raise InvalidTransitionError(
                f"instance {instance.id} waits at {step_name!r} but its task is not pending any more: it was "
                "completed or canceled outside the engine (a repository's complete_task or cancel_task edits "
                "the row only), so nothing can continue from it; cancel the instance"
            )
        raise InvalidTransitionError(f"instance {instance.id} is not waiting at {step_name!r}")

    def task_completed(
        self, instance: WorkflowInstanceData, task_id: UUID, user_id: str, data: dict[str, Any]
    ) -> Transition:
        """A person completed a pending task; its (validated) data is merged into the context."""
        task = instance.runtime.pending_tasks.get(task_id.int)
        if task is None:
            raise TaskAlreadyCompletedError(f"task {task_id} is not pending any more (completed or canceled)")
        # A finished instance has no pending task, unless its status was set from outside (a
        # repository's update_status): its tasks are then refused, not completed into it.
        self._require_unfinished(instance, "complete a task of")
        self._require_not_paused(instance)
        run = self._active_run(instance, task.step_execution_id)
        now = self.clock()
        del instance.runtime.pending_tasks[task_id.int]
        task.status = HumanTaskStatus.COMPLETED
        task.completed_at = now
        task.completed_by = user_id
        task.data = data
        run.completed_by = user_id
        run.output_data = data
        tr = Transition(instance)
        if run.scheduled_for is not None:  # deadlines not fired yet: disarm them
            run.scheduled_for = None
            tr.add_cancel(run)
        tr.add_task(task)
        if self.record_events:
            tr.add_event(
                self.step_event(
                    HumanTaskCompleted, instance, run, task_id=task.id, completed_by=user_id, data=data
                )
            )
        self._finish(instance, run, StepStatus.SUCCEEDED, tr, data, None, ContextChanges(dict(data)))
        if self.record_events:
            tr.add_event(self.step_event(StepCompleted, instance, run, result=data))
        self._advance(instance, run, tr, None)
        return self._settle(tr)

    def task_reassigned(
        self,
        instance: WorkflowInstanceData,
        task_id: UUID,
        new_assignee: str | None,
        reason: str | None = None,
    ) -> Transition:
        """Give a pending task to another user (or unassign it, leaving it to its group)."""
        task = instance.runtime.pending_tasks.get(task_id.int)
        if task is None:
            raise TaskAlreadyCompletedError(f"task {task_id} is not pending any more (completed or canceled)")
        previous = task.assignee_id
        task.assignee_id = new_assignee
        run = instance.runtime.active.get(task.step_execution_id.int)
        tr = Transition(instance)
        tr.add_task(task)
        if run is not None:
            run.assigned_to = new_assignee
            tr.writes.append(run)
            if self.record_events:
                tr.add_event(
                    self.step_event(
                        HumanTaskReassigned,
                        instance,
                        run,
                        task_id=task.id,
                        previous_assignee=previous,
                        new_assignee=new_assignee,
                        reason=reason,
                    )
                )
        return self._bump(tr)

    # ------------------------------------------------------------------ token machinery

    def _new_run(
        self, instance: WorkflowInstanceData, name: str, status: StepStatus, tr: Transition
    ) -> StepExecution:
        activations = instance.runtime.activations
        count = activations.get(name, 0)
        activations[name] = count + 1
        # Positional arguments: this runs once per transition and keyword calls cost more.
        run = StepExecution(
            name, status, None, None, None, None, None, None, self.new_id(), self._types[name], 1, count
        )
        instance.context.step_history.append(run)
        tr.writes.append(run)
        return run

    def _activate(self, instance: WorkflowInstanceData, name: str, tr: Transition) -> StepExecution:
        runtime = instance.runtime
        run = self._new_run(instance, name, _SCHEDULED, tr)
        runtime.active[run.id.int] = run  # type: ignore[union-attr]
        if instance.status is _PAUSED:
            runtime.held += (run.id,)  # type: ignore[operator]
        else:
            tr.start.append(run)
        instance.current_step = name
        return run

    def _finish(  # noqa: PLR0917 - positional on purpose: called once per transition
        self,
        instance: WorkflowInstanceData,
        run: StepExecution,
        status: StepStatus,
        tr: Transition,
        result: Any = None,
        error: str | None = None,
        changes: ContextChanges | None = None,
    ) -> None:
        run.status = status
        run.completed_at = now = self.clock()
        if run.started_at is None:
            run.started_at = now
        run.result = result
        run.error = error
        if run.error_type is not None and error is None:  # succeeded after failed attempts
            run.error_type = run.stack_trace = None
        if changes:
            _apply_changes(instance, run, changes)
        del instance.runtime.active[run.id.int]  # type: ignore[union-attr]
        tr.writes.append(run)

    def _advance(
        self, instance: WorkflowInstanceData, run: StepExecution, tr: Transition, route: frozenset[str] | None
    ) -> None:
        """Evaluate the outgoing edges of a finished step and deliver their tokens."""
        name = run.step_name
        outs = self.graph.out_edges[name]
        if not outs:
            return
        if route is None and name in self._plain_fanout:  # every token live, none back: the fast path
            for out in outs:
                if self._arity[out.target] == 1:
                    self._activate(instance, out.target, tr)
                else:
                    self._deliver(instance, name, out.target, True, tr)
            return
        try:
            decisions = self._decide(instance, name, outs, route)
        except Exception as error:  # a condition raised or routing is impossible: the instance fails
            self._fail(instance, name, str(error), tr)
            return
        exits = self.graph.loop_exits
        deferred = instance.runtime.deferred
        for out, alive in decisions:
            edge = (name, out.target)
            if out.is_back:
                if alive and not self._iterate(instance, out.target, tr):
                    return  # the loop ran out of iterations: the instance failed
            elif edge in exits:
                # A loop exit: a live token leaves now; a dead one waits until the loop is over.
                deferred.pop(edge, None)
                if alive:
                    self._deliver(instance, name, out.target, True, tr)
                else:
                    deferred[edge] = None
            else:
                self._deliver(instance, name, out.target, alive, tr)

    def _iterate(self, instance: WorkflowInstanceData, target: str, tr: Transition) -> bool:
        """Start a loop's next iteration at ``target``, or fail the instance if it ran out of them."""
        count = instance.runtime.activations.get(target, 0)
        if count < self._max_iterations:
            self._reset_joins(instance, self.graph.forward_closure(target))
            self._activate(instance, target, tr)
            return True
        self._fail(
            instance,
            target,
            f"step {target!r} ran {count} times in this instance, the limit of its workflow "
            f"(max_iterations={self._max_iterations}): a loop that does not end",
            tr,
        )
        return False

    def _decide(
        self,
        instance: WorkflowInstanceData,
        name: str,
        outs: tuple[OutEdge, ...],
        route: frozenset[str] | None,
    ) -> list[tuple[OutEdge, bool]]:
        if route is not None:
            unknown = route - {out.target for out in outs}
            if unknown:
                raise InvalidTransitionError(
                    f"gateway {name!r} chose {', '.join(sorted(unknown))}, which it has no edge to"
                )
        data = instance.context.data
        decisions = []
        any_alive = False
        for out in outs:
            alive = (route is None or out.target in route) and out.edge.holds_for(
                data, lambda: instance.context
            )
            any_alive = any_alive or alive
            decisions.append((out, alive))
        if not any_alive:
            labels = ", ".join(f"{out.target} [{out.edge.condition_label() or 'not chosen'}]" for out in outs)
            raise InvalidTransitionError(f"no outgoing edge of step {name!r} can be taken: {labels}")
        return decisions

    def _deliver(
        self, instance: WorkflowInstanceData, source: str, target: str, alive: bool, tr: Transition
    ) -> None:
        """Deliver a token along a forward edge; fire or dead-skip joins that are complete."""
        arity = self._arity
        pending = [(source, target, alive)]
        while pending:
            source, target, alive = pending.pop()
            arrived = instance.runtime.arrivals.setdefault(target, {})
            arrived[source] = alive
            if len(arrived) < arity[target]:
                continue
            if any(arrived.values()):
                self._activate(instance, target, tr)
                continue
            skipped = self._new_run(instance, target, StepStatus.SKIPPED, tr)
            skipped.started_at = skipped.completed_at = self.clock()
            if self.record_events:
                tr.add_event(self.step_event(StepSkipped, instance, skipped, reason="no live incoming edge"))
            exits = self.graph.loop_exits
            for out in self.graph.out_edges[target]:
                if out.is_back:
                    continue
                if (target, out.target) in exits:
                    instance.runtime.deferred[(target, out.target)] = None
                else:
                    pending.append((target, out.target, False))

    def _reset_joins(self, instance: WorkflowInstanceData, body: frozenset[str]) -> None:
        """Forget tokens delivered inside ``body`` so that its joins can fire again."""
        arrivals = instance.runtime.arrivals
        for name in body:
            arrived = arrivals.get(name)
            if arrived:
                for source in [s for s in arrived if s in body]:
                    del arrived[source]

    def _fail(
        self,
        instance: WorkflowInstanceData,
        step_name: str,
        error: str,
        tr: Transition,
        *,
        error_type: str | None = None,
        stack_trace: str | None = None,
    ) -> None:
        runtime = instance.runtime
        runtime.interrupted = tuple(self._abandon_active(instance, tr))
        runtime.held = ()
        runtime.failed_step = step_name
        instance.status = WorkflowStatus.FAILED
        instance.error = error
        instance.current_step = step_name
        instance.completed_at = self.clock()
        if self.record_events:
            tr.add_event(
                self._wf_event(
                    WorkflowFailed,
                    instance,
                    error=error,
                    failed_step=step_name,
                    error_type=error_type,
                    stack_trace=stack_trace,
                )
            )

    def _abandon_active(self, instance: WorkflowInstanceData, tr: Transition) -> list[str]:
        """Cancel every active execution and pending task; return the canceled steps' names."""
        runtime = instance.runtime
        now = self.clock()
        names = []
        for run in runtime.active.values():
            run.status = StepStatus.CANCELED
            run.completed_at = now
            tr.writes.append(run)
            tr.add_cancel(run)
            names.append(run.step_name)
        runtime.active.clear()
        for task in runtime.pending_tasks.values():
            task.status = HumanTaskStatus.CANCELED
            task.completed_at = now
            tr.add_task(task)
        runtime.pending_tasks.clear()
        tr.start.clear()
        tr.timers = ()
        return names

    def _release_deferred(self, instance: WorkflowInstanceData, tr: Transition) -> None:
        """Send the held-back dead tokens of loops that have nothing active any more."""
        runtime = instance.runtime
        while runtime.deferred:
            busy = {run.step_name for run in runtime.active.values()}
            ready = [edge for edge in runtime.deferred if not busy & self.graph.loop_exits[edge]]
            if not ready:
                return
            for edge in ready:
                del runtime.deferred[edge]
                self._deliver(instance, edge[0], edge[1], False, tr)

    def _settle(self, tr: Transition) -> Transition:
        """Derive the instance status from its active executions after a transition."""
        instance = tr.instance
        instance.version += 1
        status = instance.status
        if status in _FINISHED:
            return tr
        if instance.runtime.deferred:
            self._release_deferred(instance, tr)
        active = instance.runtime.active
        if not active:
            instance.status = WorkflowStatus.COMPLETED
            instance.current_step = None  # nothing is current any more (the reference's value too)
            instance.completed_at = self.clock()
            if self.record_events:
                tr.add_event(self._wf_event(WorkflowCompleted, instance))
            return tr
        if status is _PAUSED:
            return tr
        waiting = None
        for run in active.values():
            if run.status is not _STEP_WAITING:
                instance.status = _RUNNING
                return tr
            waiting = waiting or run
        instance.status = _WAITING
        if waiting is not None:
            instance.current_step = waiting.step_name
        return tr

    @staticmethod
    def _bump(tr: Transition) -> Transition:
        tr.instance.version += 1
        return tr

    # ------------------------------------------------------------------ helpers

    def _active_run(self, instance: WorkflowInstanceData, run_id: UUID) -> StepExecution:
        run = instance.runtime.active.get(run_id.int)
        if run is None:
            raise StaleOutcomeError(f"execution {run_id} of instance {instance.id} is not active")
        return run

    @staticmethod
    def _require_unfinished(instance: WorkflowInstanceData, action: str) -> None:
        if instance.status in _FINISHED:
            raise WorkflowAlreadyCompletedError(
                f"cannot {action} instance {instance.id}: it is already {instance.status}"
            )

    @staticmethod
    def _require_not_paused(instance: WorkflowInstanceData) -> None:
        if instance.status is _PAUSED:
            raise InvalidTransitionError(f"instance {instance.id} is paused; resume it first")

    def _wf_event(self, cls: type[Any], instance: WorkflowInstanceData, **fields: Any) -> Any:
        return cls(
            instance_id=instance.id, timestamp=self.clock(), workflow_name=instance.workflow_name, **fields
        )

    def step_event(
        self, cls: type[Any], instance: WorkflowInstanceData, run: StepExecution, **fields: Any
    ) -> Any:
        """Build a step event of type ``cls`` for ``run`` (drivers use it for ``StepStarted``)."""
        return cls(
            instance_id=instance.id,
            timestamp=self.clock(),
            workflow_name=instance.workflow_name,
            step_name=run.step_name,
            execution_id=run.id,
            attempt=run.attempt,
            **fields,
        )


def due_in(clock: Clock, seconds: float) -> datetime:
    """The moment ``seconds`` from now on ``clock`` (drivers use it for retry back-off)."""
    return clock() + timedelta(seconds=seconds)


def _apply_changes(instance: WorkflowInstanceData, run: StepExecution, changes: ContextChanges) -> None:
    """Write what a finished step changed into the instance's data, and keep it in its history."""
    data = instance.context.data
    data.update(changes.set)
    for key in changes.deleted:
        data.pop(key, None)
    run.context_changes = changes.as_json()


__all__ = ("ContextChanges", "Interpreter", "StaleOutcomeError", "due_in")
