"""A step cannot take its process down: ``SystemExit`` and unreadable errors fail the step like any other."""

from __future__ import annotations

import argparse
import itertools
import sys
from typing import Any

from litestar_workflows import (
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    RetryPolicy,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn


def chain(name: str, *steps: BaseMachineStep) -> WorkflowDefinition:
    edges = [Edge(a.name, b.name) for a, b in itertools.pairwise(steps)]
    return WorkflowDefinition(
        name=name, version="1.0.0", steps=list(steps), edges=edges, initial_step=steps[0].name
    )


def _parse_bad_arguments(_: Any) -> None:
    parser = argparse.ArgumentParser(prog="report")
    parser.add_argument("--size", type=int)
    parser.parse_args(["--size", "large"])  # argparse prints usage and raises SystemExit(2)


class Unprintable(Exception):
    def __str__(self) -> str:
        raise ValueError("no message")


def _raise_unprintable(_: Any) -> None:
    raise Unprintable


async def test_argparse_refusing_its_arguments_fails_the_step_not_the_process() -> None:
    engine = LocalExecutionEngine(WorkflowRegistry())
    instance = await engine.start_workflow(chain("exits", Fn("parse", _parse_bad_arguments), Fn("after")))
    done = await engine.wait(instance.id, until=FINISHED)
    assert done.status is WorkflowStatus.FAILED
    assert "step 'parse' raised SystemExit(2)" in (done.error or "")
    run = done.executions_of("parse")[0]
    assert run.error_type == "litestar_workflows.core.errors.StepExitError"
    assert "SystemExit: 2" in (run.stack_trace or "")  # the original, as the cause
    assert done.executions_of("after") == []
    # The engine goes on with other work.
    other = await engine.start_workflow(chain("fine", Fn("a"), Fn("b")))
    assert (await engine.wait(other.id, until=FINISHED)).status is WorkflowStatus.COMPLETED


async def test_sys_exit_is_retried_as_the_policy_says() -> None:
    calls: list[int] = []

    def exit_twice(_: Any) -> str:
        calls.append(1)
        if len(calls) < 3:
            sys.exit("not yet")
        return "done"

    engine = LocalExecutionEngine(WorkflowRegistry())
    step = Fn("flaky", exit_twice, retry_policy=RetryPolicy(max_attempts=3, initial_delay=0.0, jitter=False))
    instance = await engine.start_workflow(chain("retries-exits", step))
    done = await engine.wait(instance.id, until=FINISHED)
    assert done.status is WorkflowStatus.COMPLETED
    assert len(calls) == 3


async def test_an_on_failure_hook_raising_system_exit_fails_the_step_for_good() -> None:
    class Hooked(BaseMachineStep):
        async def execute(self, context: Any) -> None:
            raise RuntimeError("boom")

        async def on_failure(self, context: Any, error: Exception) -> None:
            raise SystemExit(3)

    engine = LocalExecutionEngine(WorkflowRegistry())
    instance = await engine.start_workflow(chain("hook-exits", Hooked("hooked")))
    done = await engine.wait(instance.id, until=FINISHED)
    assert done.status is WorkflowStatus.FAILED
    assert "RuntimeError: boom; on_failure hook raised SystemExit: 3" in (done.error or "")


async def test_an_error_whose_message_cannot_be_read_still_fails_the_step() -> None:
    engine = LocalExecutionEngine(WorkflowRegistry())
    instance = await engine.start_workflow(chain("unprintable", Fn("raise", _raise_unprintable)))
    done = await engine.wait(instance.id, until=FINISHED)
    assert done.status is WorkflowStatus.FAILED
    assert "Unprintable: <its message could not be read: str() raised ValueError>" in (done.error or "")


async def test_sys_exit_in_a_parallel_group_member_fails_the_group_not_the_process() -> None:
    """A group's members run in tasks of their own, where asyncio would let SystemExit out of the loop."""
    from litestar_workflows import ParallelGroup

    def leave(_: Any) -> None:
        sys.exit(3)

    engine = LocalExecutionEngine(WorkflowRegistry())
    group = ParallelGroup("group", [Fn("fine"), Fn("exits", leave)])
    instance = await engine.start_workflow(chain("group-exits", group))
    done = await engine.wait(instance.id, until=FINISHED)
    assert done.status is WorkflowStatus.FAILED
    assert "StepExitError: step 'exits' raised SystemExit(3)" in (done.error or "")
