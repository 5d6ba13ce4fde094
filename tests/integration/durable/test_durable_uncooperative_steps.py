"""Steps that misbehave (raise CancelledError, ignore their timeout, block the loop, loop for ever)
fail their instance clearly, never leave it hanging, and never take the engine down: on every store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from typing import TYPE_CHECKING, Any

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored

from litestar_workflows import (
    BaseMachineStep,
    Edge,
    EventBus,
    RetryPolicy,
    StepStatus,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStarted,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn, statuses

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase
    from litestar_workflows import LocalExecutionEngine, WorkflowContext

TIMEOUT = 10.0


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


@pytest.fixture
async def engine(database: ScratchDatabase | None) -> AsyncIterator[LocalExecutionEngine]:
    async with engine_for(database, WorkflowRegistry(), poll_interval=0.2) as started:
        yield started


def chain(name: str, *steps: Any, **options: Any) -> WorkflowDefinition:
    edges = [Edge(a.name, b.name) for a, b in zip(steps, steps[1:], strict=False)]
    return WorkflowDefinition(
        name=name, steps=list(steps), edges=edges, initial_step=steps[0].name, **options
    )


async def finished(engine: LocalExecutionEngine, instance_id: Any) -> Any:
    await engine.wait(instance_id, until=FINISHED, timeout=TIMEOUT)
    return await stored(engine, instance_id)


# ---------------------------------------------------------------------------- CancelledError


class RaisesCancelled(BaseMachineStep):
    """Raises CancelledError of its own: nobody cancelled it."""

    async def execute(self, context: WorkflowContext) -> None:
        raise asyncio.CancelledError


async def test_a_step_raising_cancelled_error_fails_through_its_retry_policy(
    engine: LocalExecutionEngine,
) -> None:
    definition = chain(
        "self_cancel",
        RaisesCancelled("stray", retry_policy=RetryPolicy(max_attempts=2, initial_delay=0, jitter=0)),
        Fn("after"),
    )
    instance = await engine.start_workflow(definition)
    done = await finished(engine, instance.id)
    assert done.status is WorkflowStatus.FAILED
    assert done.error.startswith(
        "step 'stray' failed: StepCancelledError: step 'stray' raised CancelledError"
    )
    [run] = done.executions_of("stray")
    assert (run.attempt, run.status) == (2, StepStatus.FAILED)  # retried once, as its policy says
    assert "after" not in statuses(done)


async def test_a_step_awaiting_something_cancelled_elsewhere_fails(engine: LocalExecutionEngine) -> None:
    async def await_a_cancelled_future(context: WorkflowContext) -> None:
        future = asyncio.get_running_loop().create_future()
        future.cancel()
        await future

    instance = await engine.start_workflow(chain("cancelled_future", Fn("waits", await_a_cancelled_future)))
    done = await finished(engine, instance.id)
    assert done.status is WorkflowStatus.FAILED
    assert "'waits' raised CancelledError" in done.error


async def test_the_engines_own_cancellation_still_cancels(engine: LocalExecutionEngine) -> None:
    started = asyncio.Event()

    async def forever(context: WorkflowContext) -> None:
        started.set()
        await asyncio.Event().wait()

    instance = await engine.start_workflow(chain("cancel_me", Fn("forever", forever), Fn("after")))
    await asyncio.wait_for(started.wait(), TIMEOUT)
    await engine.cancel_workflow(instance.id, "no longer needed")
    done = await finished(engine, instance.id)
    assert done.status is WorkflowStatus.CANCELED
    assert statuses(done)["forever"] == [StepStatus.CANCELED]


async def test_an_event_handler_raising_cancelled_error_is_logged(
    database: ScratchDatabase | None, caplog: pytest.LogCaptureFixture
) -> None:
    bus = EventBus()

    def handler(event: Any) -> None:
        raise asyncio.CancelledError

    bus.subscribe(handler, [WorkflowStarted])
    async with engine_for(database, WorkflowRegistry(), event_bus=bus, poll_interval=0.2) as engine:
        instance = await engine.start_workflow(chain("observed", Fn("a"), Fn("b")))
        done = await finished(engine, instance.id)
    assert done.status is WorkflowStatus.COMPLETED
    assert any("raised CancelledError on WorkflowStarted" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------------- timeouts


async def test_a_step_that_swallows_its_timeout_is_timed_out(engine: LocalExecutionEngine) -> None:
    async def swallow(context: WorkflowContext) -> str:
        with contextlib.suppress(asyncio.CancelledError):  # ... and goes on as if nothing happened
            await asyncio.Event().wait()  # only the step's timeout ends this
        context.set("late", True)
        return "late result"

    async def swallow_then_raise(context: WorkflowContext) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            raise ValueError("cleanup failed") from None

    for name, fn, extra in (("swallows", swallow, ""), ("raises", swallow_then_raise, "ValueError: cleanup")):
        instance = await engine.start_workflow(
            chain(f"timeout_{name}", Fn(name, fn, timeout=0.05), Fn("after"))
        )
        done = await finished(engine, instance.id)
        assert done.status is WorkflowStatus.FAILED
        assert done.error.startswith(
            f"step {name!r} failed: StepTimeoutError: step {name!r} timed out after 0.05s"
        )
        assert extra in done.error
        [run] = done.executions_of(name)
        assert run.status is StepStatus.FAILED
        assert run.result is None
        assert "late" not in done.data
        assert "after" not in statuses(done)


async def test_a_step_blocking_the_loop_is_named_in_a_warning(
    database: ScratchDatabase | None, caplog: pytest.LogCaptureFixture
) -> None:
    """The step blocks the loop (a blocking wait) until the warning about it is logged."""
    warned = threading.Event()

    class Flag(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "blocked" in record.getMessage():
                warned.set()

    def blocking(context: WorkflowContext) -> None:
        warned.wait(TIMEOUT)  # a blocking call: the event loop stands still meanwhile

    flag = Flag()
    logging.getLogger("litestar_workflows.engine").addHandler(flag)
    try:
        registry = WorkflowRegistry()
        async with engine_for(database, registry, blocked_loop_warning=0.1, poll_interval=0.2) as engine:
            instance = await engine.start_workflow(chain("blocker", Fn("sleepy", blocking), Fn("after")))
            done = await finished(engine, instance.id)
    finally:
        logging.getLogger("litestar_workflows.engine").removeHandler(flag)
    assert warned.is_set()
    assert done.status is WorkflowStatus.COMPLETED
    [warning] = [r.getMessage() for r in caplog.records if "has been blocked" in r.getMessage()]
    assert f"step 'sleepy' of instance {instance.id}" in warning
    assert "called from blocking (" in warning  # the step's own function, where it blocks
    assert "asyncio.to_thread" in warning


# ---------------------------------------------------------------------------- loops


async def test_a_loop_past_max_iterations_fails_naming_the_step(engine: LocalExecutionEngine) -> None:
    definition = WorkflowDefinition(
        name="long_loop",
        steps=[Fn("count", lambda ctx: ctx.set("n", ctx.get("n", 0) + 1)), Fn("check"), Fn("done")],
        edges=[
            Edge("count", "check"),
            Edge("check", "count", condition="context.get('n') < 1000"),
            Edge("check", "done", condition="context.get('n') >= 1000"),
        ],
        initial_step="count",
        max_iterations=5,
    )
    instance = await engine.start_workflow(definition)
    done = await finished(engine, instance.id)
    assert done.status is WorkflowStatus.FAILED
    assert done.error == (
        "step 'count' ran 5 times in this instance, the limit of its workflow (max_iterations=5): "
        "a loop that does not end"
    )
    assert done.data["n"] == 5
    assert len(done.executions_of("count")) == 5
