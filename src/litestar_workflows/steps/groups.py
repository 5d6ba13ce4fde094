"""Step groups: several steps composed into one step of a definition.

A group of steps that only compute runs inside one step execution, so it is retried, timed out and
recorded as one unit; inner steps share the group's context and their changes become the group's
change set. A parallel or sequential group holding a step that waits (a person, a timer, a webhook)
is unfolded by the definition into steps of their own (see
:mod:`litestar_workflows.core.group_expansion`); a conditional group cannot hold one.
"""

from __future__ import annotations

import asyncio
import inspect
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.errors import StepExitError
from litestar_workflows.core.group_expansion import waits
from litestar_workflows.steps.base import BaseMachineStep, BaseStep

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar_workflows.core.context import WorkflowContext


async def _run_inner(step: BaseStep, context: WorkflowContext) -> Any:
    """Run one member of a group with its hooks; its ``SystemExit`` becomes a :class:`StepExitError`.

    A parallel group runs its members in tasks of their own (``gather``), and asyncio lets a
    task's ``SystemExit`` out of the event loop, past the step runner that turns one into a
    failure: the process would end. Turned here, it is the member's failure, named after it.
    """
    try:
        if not await step.can_execute(context):
            return None
        try:
            result = await step.execute(context)
        except Exception as error:
            await step.on_failure(context, error)
            raise
        await step.on_success(context, result)
    except SystemExit as exited:
        raise StepExitError.replacing(exited, getattr(step, "name", None)) from exited
    return result


def _split(args: tuple[Any, ...], name: str | None) -> tuple[str | None, list[Any]]:
    """Accept ``(step, step, ...)`` (the reference's form) and ``(name, [steps])`` (this package's)."""
    if args and isinstance(args[0], str):
        name, args = args[0], args[1:]
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = tuple(args[0])
    for step in args:
        if not callable(getattr(step, "execute", None)):
            raise TypeError(f"a step group holds steps, not {step!r}")
    return name, list(args)


def _refuse_waiting(group: StepGroup) -> None:
    """A group run as one step execution cannot wait: running a waiting member here would skip it."""
    if waits(group):
        raise NotImplementedError(
            f"step group {group.name!r} holds a step that waits (for a person, a timer or a webhook), "
            "so it runs only as part of a workflow definition, which unfolds it into steps of their own"
        )


class GroupFork(BaseMachineStep):
    """The step an unfolded parallel group starts with: it does nothing, its edges start the members."""


class GroupJoin(BaseMachineStep):
    """The step an unfolded group without a callback ends with: it runs once every member is done."""


class StepGroup(BaseMachineStep):
    """Base of step groups: several steps run inside one step execution of a definition.

    A group placed under a key of ``steps`` takes that key as its name (as any unnamed step does).
    ``execute(context, engine=None)`` accepts the engine the reference package passes; inner steps
    run here, on the group's context, so the engine is not needed.
    """

    steps: list[Any]

    async def execute(self, context: WorkflowContext, engine: Any = None) -> Any:
        """Run the group's steps; subclasses say how."""
        raise NotImplementedError


class SequentialGroup(StepGroup):
    """Runs its steps one after another; the result is the list of their results.

    ``SequentialGroup(a, b, c)`` or ``SequentialGroup("name", [a, b, c])``.
    """

    def __init__(self, *steps: Any, name: str | None = None, description: str | None = None) -> None:
        group_name, self.steps = _split(steps, name)
        super().__init__(group_name, description)

    async def execute(self, context: WorkflowContext, engine: Any = None) -> list[Any]:
        """Run each inner step in order; the first failure stops the group."""
        _refuse_waiting(self)
        return [await _run_inner(step, context) for step in self.steps]


class ParallelGroup(StepGroup):
    """Runs its steps concurrently, then ``callback`` (a chord) if given.

    ``ParallelGroup(a, b, callback=c)`` or ``ParallelGroup("name", [a, b])``. The result is the
    list of the inner results in declaration order, or the callback's result when there is one
    (the callback runs after every inner step succeeded and reads what they put in the context).
    """

    def __init__(
        self, *steps: Any, callback: Any = None, name: str | None = None, description: str | None = None
    ) -> None:
        group_name, self.steps = _split(steps, name)
        if callback is not None and not callable(getattr(callback, "execute", None)):
            raise TypeError(f"a ParallelGroup callback must be a step, not {callback!r}")
        self.callback = callback
        super().__init__(group_name, description)

    async def execute(self, context: WorkflowContext, engine: Any = None) -> Any:
        """Run all inner steps at once; any failure fails the group after all have finished."""
        _refuse_waiting(self)
        results = await asyncio.gather(
            *(_run_inner(step, context) for step in self.steps), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        if self.callback is not None:
            return await _run_inner(self.callback, context)
        return list(results)


class ConditionalGroup(StepGroup):
    """Runs one branch chosen by ``condition``.

    Two forms: the reference's ``ConditionalGroup(condition, branches)``, where ``condition``
    returns a key of the ``branches`` dict (no match runs nothing and gives ``None``); and
    ``ConditionalGroup("name", condition, if_true, if_false=None)``, where ``condition`` returns
    a truth value.
    """

    def __init__(
        self, *args: Any, name: str | None = None, description: str | None = None, **kwargs: Any
    ) -> None:
        if args and isinstance(args[0], str):
            name, args = args[0], args[1:]
        names = (
            ("condition", "if_true", "if_false")
            if len(args) > 1 and not isinstance(args[1], dict)
            else (
                "condition",
                "branches",
            )
        )
        if len(args) > len(names):
            raise TypeError(
                f"ConditionalGroup takes at most {len(names)} positional arguments after the name"
            )
        given = dict(zip(names, args, strict=False))
        for key, value in kwargs.items():
            if key in given or key not in ("condition", "branches", "if_true", "if_false"):
                raise TypeError(f"ConditionalGroup got an unexpected or repeated argument {key!r}")
            given[key] = value
        condition = given.get("condition")
        if not callable(condition):
            raise TypeError(f"ConditionalGroup needs a callable condition, not {condition!r}")
        self.condition: Callable[[WorkflowContext], Any] = condition
        self.branches: dict[str, Any] = dict(given.get("branches") or {})
        self.if_true = given.get("if_true")
        self.if_false = given.get("if_false")
        if not self.branches and self.if_true is None:
            raise TypeError("ConditionalGroup needs branches={...} or an if_true step")
        super().__init__(name, description)
        waiting = [step for step in self.steps if waits(step)]
        if waiting:
            # Run here, its wait would be skipped silently (no task, no timer, no webhook).
            named = getattr(waiting[0], "name", None) or waiting[0]
            raise NotImplementedError(
                f"a ConditionalGroup cannot hold a step that waits ({named!r}): route to it with a "
                "gateway or conditional edges instead, so it gets a step execution of its own"
            )

    @property
    def steps(self) -> list[Any]:  # type: ignore[override]
        """Every step the group may run."""
        return [*self.branches.values(), *(s for s in (self.if_true, self.if_false) if s is not None)]

    async def execute(self, context: WorkflowContext, engine: Any = None) -> Any:
        """Evaluate the condition and run the chosen branch; its result is the group's."""
        chosen: Any = self.condition(context)
        if inspect.isawaitable(chosen):
            chosen = await chosen
        if self.branches:
            branch = self.branches.get(chosen) if isinstance(chosen, str) else None
        else:
            branch = self.if_true if chosen else self.if_false
        return None if branch is None else await _run_inner(branch, context)


class RaceGroup:
    """The Parallel Execution guide's "first branch to finish wins" group: not supported here.

    Declaring the winner means cancelling the other branches mid-step, after side effects they may
    already have had, and a durable engine could not tell after a restart which branch finished
    first. Building one raises at once, rather than running something else silently.
    """

    def __init__(self, *steps: Any, **options: Any) -> None:
        raise NotImplementedError(
            "RaceGroup is not supported: cancelling the losing branches mid-step would undo nothing "
            "they already did, and no durable engine can tell after a restart which finished first. "
            "Start the branches with a ParallelGateway and let the first one write its result (the "
            "others check for it), or route with an ExclusiveGateway (README, Compatibility)"
        )


__all__ = (
    "ConditionalGroup",
    "GroupFork",
    "GroupJoin",
    "ParallelGroup",
    "RaceGroup",
    "SequentialGroup",
    "StepGroup",
)
