"""The workflows ``bench_distributed.py`` runs, imported by its client and by its worker modules.

chain   -- the 10-step chain of ``bench_engine.py`` (each step starts the next: a chain continues on
           the worker that ran its step, so it shows the claim/commit cost, not the broker's).
fan_out -- fork -> 8 parallel branches -> join (10 steps): the branches are published to the
           broker, so they spread over the workers, and the join is decided in the database.
           Each branch returns the pid of the process that ran it, so that the benchmark can
           count the instances whose branches really ran in more than one worker process.
"""

from __future__ import annotations

import os
from typing import Any

from bench_engine import Noop, chain

from litestar_workflows import BaseMachineStep, Edge, WorkflowDefinition, WorkflowRegistry

BRANCHES = 8


class Where(BaseMachineStep):
    """A branch that does nothing but record the worker process it ran in."""

    async def execute(self, context: Any) -> int:
        return os.getpid()


def fan_out() -> WorkflowDefinition:
    branches = [f"b{i}" for i in range(BRANCHES)]
    return WorkflowDefinition(
        name="fan_out",
        steps={"fork": Noop("fork"), **{b: Where(b) for b in branches}, "join": Noop("join")},
        edges=[Edge("fork", b) for b in branches] + [Edge(b, "join") for b in branches],
        initial_step="fork",
    )


def registry() -> WorkflowRegistry:
    """Both shapes: what the client starts and every worker runs."""
    found = WorkflowRegistry()
    found.register(chain())
    found.register(fan_out())
    return found
