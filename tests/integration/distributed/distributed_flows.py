"""Workflows the distributed tests run, imported by the test and by the worker processes alike.

Every machine step appends ``instance step execution attempt worker`` to the file ``WF_EFFECTS`` names
(one ``write`` of a short line with ``O_APPEND``: lines of concurrent processes never mix), so
a test can count how often each step really ran, in whichever process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import TYPE_CHECKING

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    ParallelGateway,
    WorkflowDefinition,
    WorkflowRegistry,
)

if TYPE_CHECKING:
    from litestar_workflows import WorkflowContext

STEP_SECONDS = float(os.environ.get("WF_STEP_SECONDS", "0"))


def record(context: WorkflowContext, step: str) -> None:
    path = os.environ.get("WF_EFFECTS")
    if not path:
        return
    owner = os.environ.get("WF_OWNER", "test")
    line = f"{context.instance_id} {step} {context.execution_id} {context.attempt} {owner}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class Work(BaseMachineStep):
    """Takes ``WF_STEP_SECONDS`` (the work of a real step), records its effect, counts in ``n``."""

    async def execute(self, context: WorkflowContext) -> None:
        if STEP_SECONDS:
            await asyncio.sleep(STEP_SECONDS)
        record(context, self.name)
        context.set("n", context.get("n", 0) + 1)
        context.set(self.name, True)


class Meet(Work):
    """A branch that finishes only once another worker process runs a branch of its instance too.

    It notes its worker in ``WF_MEET_DIR/<instance>/`` and waits (deadline: 30 s) until two
    workers are noted there. A worker whose job slots are all busy cannot take the sibling branch,
    so with one slot per worker each branch must run on a different worker: the test of
    "branches of one instance run on different workers" then does not depend on luck.
    """

    async def execute(self, context: WorkflowContext) -> None:
        where = os.path.join(os.environ["WF_MEET_DIR"], str(context.instance_id))
        os.makedirs(where, exist_ok=True)
        os.close(os.open(os.path.join(where, os.environ.get("WF_OWNER", "test")), os.O_WRONLY | os.O_CREAT))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(os.listdir(where)) < 2:
            if loop.time() > deadline:
                raise TimeoutError(f"no other worker ran a branch of instance {context.instance_id}")
            await asyncio.sleep(0.02)  # looks at the directory again; the deadline is what ends it
        await super().execute(context)


class ParsesArguments(BaseMachineStep):
    """A step that runs argparse on arguments it refuses: argparse raises ``SystemExit(2)``."""

    async def execute(self, context: WorkflowContext) -> None:
        record(context, self.name)
        parser = argparse.ArgumentParser(prog="report")
        parser.add_argument("--size", type=int)
        parser.parse_args(["--size", "large"])


class Unprintable(Exception):
    """An exception whose message cannot be read: ``str()`` of it raises."""

    def __str__(self) -> str:
        raise ValueError("no message")


class RaisesUnprintable(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> None:
        record(context, self.name)
        raise Unprintable


def one_step(name: str, step: BaseMachineStep) -> WorkflowDefinition:
    return WorkflowDefinition(name=name, version="1.0.0", steps=[step], edges=[], initial_step=step.name)


def chain(length: int = 4) -> WorkflowDefinition:
    names = [f"s{i}" for i in range(length)]
    return WorkflowDefinition(
        name="chain",
        version="1.0.0",
        steps=[Work(name) for name in names],
        edges=[Edge(a, b) for a, b in zip(names, names[1:], strict=False)],
        initial_step=names[0],
    )


def fan() -> WorkflowDefinition:
    """fork -> a, b, c -> join -> approve (human) -> close."""
    return WorkflowDefinition(
        name="fan",
        version="1.0.0",
        steps=[
            ParallelGateway("fork"),
            Work("a"),
            Work("b"),
            Work("c"),
            Work("join"),
            BaseHumanStep("approve"),
            Work("close"),
        ],
        edges=[
            *(Edge("fork", x) for x in "abc"),
            *(Edge(x, "join") for x in "abc"),
            Edge("join", "approve"),
            Edge("approve", "close"),
        ],
        initial_step="fork",
    )


WIDE_BRANCHES = [f"b{i}" for i in range(50)]


def wide() -> WorkflowDefinition:
    """fork -> 50 branches -> join: many commits to one instance, from every worker at once."""
    return WorkflowDefinition(
        name="wide",
        version="1.0.0",
        steps=[ParallelGateway("fork"), *(Work(name) for name in WIDE_BRANCHES), Work("join")],
        edges=[
            *(Edge("fork", name) for name in WIDE_BRANCHES),
            *(Edge(name, "join") for name in WIDE_BRANCHES),
        ],
        initial_step="fork",
    )


def meet() -> WorkflowDefinition:
    """fork -> a, b (each waits for the other to run on another worker) -> join."""
    return WorkflowDefinition(
        name="meet",
        version="1.0.0",
        steps=[ParallelGateway("fork"), Meet("a"), Meet("b"), Work("join")],
        edges=[Edge("fork", "a"), Edge("fork", "b"), Edge("a", "join"), Edge("b", "join")],
        initial_step="fork",
    )


def registry() -> WorkflowRegistry:
    """Every workflow above, but those ``WF_LACKS`` names (a worker deployed without them)."""
    lacks = os.environ.get("WF_LACKS", "").split()
    made = WorkflowRegistry()
    exits, unprintable = (
        one_step("exits", ParsesArguments("parse")),
        one_step("unprintable", RaisesUnprintable("raise")),
    )
    for definition in (chain(), fan(), meet(), wide(), exits, unprintable):
        if definition.name not in lacks:
            made.register(definition)
    return made
