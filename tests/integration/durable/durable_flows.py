"""Workflows run by two processes at once (the test and a child): importable by both.

Each step appends ``instance_id,step,attempt,execution_id,pid`` to :data:`RECORD_PATH` when it
starts (flushed: a killed process keeps its lines), writes its own context key with a value
derived from the instance's ``n``, and returns the pid of the process that ran it, so the
committed row tells which process's execution won.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from litestar_workflows import BaseMachineStep, Edge, ParallelGateway, WorkflowDefinition, WorkflowRegistry

if TYPE_CHECKING:
    from litestar_workflows import WorkflowContext

RECORD_PATH: str | None = None
"""Where this process records step executions; set before an engine runs these workflows."""

GATES: dict[str, asyncio.Event] = {}
"""Steps that wait for their event before they start (and record) their work, by step name."""

CRASH_STEPS = ("s1", "s2", "s3", "s4", "s5")
CRASH_SLOW_STEP = "s3"
FANOUT_BRANCHES = ("b1", "b2", "b3")
FANOUT_STEPS = ("start", "fork", *FANOUT_BRANCHES, "join", "end")
LINE_STEPS = ("l1", "l2", "l3")
# s5 is slow too, so that a kill late in the run still lands before the child can finish.
SLOW_SECONDS = {"s3": 0.2, "s5": 0.2, "b2": 0.5, "b3": 0.5, "l2": 0.5}


def expected(n: int, step: str) -> str:
    """The value step ``step`` writes for the instance started with ``{"n": n}``."""
    return f"{n}:{step}"


def record(context: WorkflowContext, step: str) -> None:
    """Append one execution line, flushed to the OS before the step's work starts."""
    if RECORD_PATH is None:
        raise RuntimeError("durable_flows.RECORD_PATH is not set")
    line = f"{context.instance_id},{step},{context.attempt},{context.execution_id},{os.getpid()}\n"
    fd = os.open(RECORD_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())  # one write of a short line to an O_APPEND file: never torn
    finally:
        os.close(fd)


class Recorded(BaseMachineStep):
    """Records its execution, sleeps as configured, writes ``expected(n, name)`` under its name."""

    async def execute(self, context: WorkflowContext) -> Any:
        gate = GATES.get(self.name)
        if gate is not None:
            await gate.wait()
        record(context, self.name)
        delay = SLOW_SECONDS.get(self.name, 0.0)
        if delay:
            await asyncio.sleep(delay)
        context.set(self.name, expected(context.get("n"), self.name))
        return {"pid": os.getpid()}


class Join(Recorded):
    """The join of the fan-out: also writes what it saw of every branch."""

    async def execute(self, context: WorkflowContext) -> Any:
        result = await super().execute(context)
        context.set("seen", [context.get(branch) for branch in FANOUT_BRANCHES])
        return result


def _chain(names: tuple[str, ...]) -> list[Edge]:
    return [Edge(a, b) for a, b in zip(names, names[1:], strict=False)]


def crash_workflow() -> WorkflowDefinition:
    """Five steps in a row; the middle one (and the last) is slow."""
    return WorkflowDefinition(
        name="durable_crash",
        steps=[Recorded(name) for name in CRASH_STEPS],
        edges=_chain(CRASH_STEPS),
        initial_step=CRASH_STEPS[0],
    )


def fanout_workflow() -> WorkflowDefinition:
    """start -> fork -> (b1 fast, b2 and b3 slow) -> join -> end."""
    steps = [Recorded("start"), ParallelGateway("fork"), *(Recorded(b) for b in FANOUT_BRANCHES)]
    steps += [Join("join"), Recorded("end")]
    edges = [Edge("start", "fork"), Edge("join", "end")]
    edges += [Edge("fork", b) for b in FANOUT_BRANCHES] + [Edge(b, "join") for b in FANOUT_BRANCHES]
    return WorkflowDefinition(name="durable_fanout", steps=steps, edges=edges, initial_step="start")


def line_workflow() -> WorkflowDefinition:
    """l1 -> l2 (slow) -> l3."""
    return WorkflowDefinition(
        name="durable_line",
        steps=[Recorded(name) for name in LINE_STEPS],
        edges=_chain(LINE_STEPS),
        initial_step=LINE_STEPS[0],
    )


def registry() -> WorkflowRegistry:
    """A registry with every workflow of this module."""
    reg = WorkflowRegistry()
    for definition in (crash_workflow(), fanout_workflow(), line_workflow()):
        reg.register_definition(definition)
    return reg
