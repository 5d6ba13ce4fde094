"""A failed step can be diagnosed afterwards: its error type and traceback are in the step history
(stored, on every store) and one log line per failed attempt names the workflow, version, instance,
step and attempt as fields of the record.
"""

from __future__ import annotations

import logging
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
    WorkflowStatus,
)
from litestar_workflows.core.events import StepFailed, WorkflowFailed
from litestar_workflows.runtime.failures import MAX_TRACE_CHARS
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase
    from litestar_workflows import LocalExecutionEngine, WorkflowContext

TIMEOUT = 10.0
STEP_LOGGER = "litestar_workflows.steps"
NO_DELAY = {"initial_delay": 0, "jitter": 0}


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


class Recorder(EventBus):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[Any] = []

    async def emit(self, event: Any) -> None:
        self.events.append(event)


@pytest.fixture
async def engine(database: ScratchDatabase | None) -> AsyncIterator[LocalExecutionEngine]:
    async with engine_for(database, WorkflowRegistry(), poll_interval=0.2, event_bus=Recorder()) as started:
        yield started


def _open_connection_to_ledger(host: str) -> None:
    password = "hunter2-do-not-log"  # a local of the failing frame: must not reach the traceback
    raise ConnectionError(f"{host} refused the connection ({len(password)} chars sent)")


class Charge(BaseMachineStep):
    """Fails ``failures`` times (through a helper, with a cause), then succeeds."""

    def __init__(self, failures: int, **kwargs: Any) -> None:
        super().__init__("charge", **kwargs)
        self.failures = failures
        self.calls = 0

    async def execute(self, context: WorkflowContext) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            try:
                _open_connection_to_ledger("ledger.internal")
            except ConnectionError as error:
                raise RuntimeError("payment provider unavailable") from error
        return "charged"


def payment(step: BaseMachineStep, version: str = "1.0") -> WorkflowDefinition:
    return WorkflowDefinition(
        name="payment",
        version=version,
        steps=[Fn("prepare"), step, Fn("receipt")],
        edges=[Edge("prepare", "charge"), Edge("charge", "receipt")],
        initial_step="prepare",
    )


async def finished(engine: LocalExecutionEngine, instance_id: Any) -> Any:
    await engine.wait(instance_id, until=FINISHED, timeout=TIMEOUT)
    return await stored(engine, instance_id)


def failure_records(caplog: pytest.LogCaptureFixture, instance_id: Any) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == STEP_LOGGER and getattr(r, "instance_id", None) == str(instance_id)
    ]


async def test_a_failed_step_stores_its_error_type_and_traceback(engine: LocalExecutionEngine) -> None:
    instance = await engine.start_workflow(payment(Charge(failures=1, retry_policy=None)))
    done = await finished(engine, instance.id)

    assert done.status is WorkflowStatus.FAILED
    [run] = done.executions_of("charge")
    assert run.status is StepStatus.FAILED
    assert run.error == "RuntimeError: payment provider unavailable"
    assert run.error_type == "RuntimeError"
    trace = run.stack_trace
    assert trace is not None
    assert trace.startswith("Traceback (most recent call last):")
    # The whole chain: the cause, where it was raised, and the error the step let out.
    assert "_open_connection_to_ledger" in trace
    assert "ConnectionError: ledger.internal refused the connection" in trace
    assert "The above exception was the direct cause" in trace
    assert trace.rstrip().endswith("RuntimeError: payment provider unavailable")
    assert "hunter2" not in trace  # no local variables
    assert len(trace) <= MAX_TRACE_CHARS
    # Steps that did not fail carry none of it.
    [prepare] = done.executions_of("prepare")
    assert (prepare.error, prepare.error_type, prepare.stack_trace) == (None, None, None)


async def test_the_failure_event_carries_type_and_traceback(engine: LocalExecutionEngine) -> None:
    instance = await engine.start_workflow(payment(Charge(failures=1, retry_policy=None)))
    await finished(engine, instance.id)

    events: list[Any] = engine.event_bus.events  # type: ignore[union-attr]
    [failed] = [e for e in events if isinstance(e, WorkflowFailed) and e.instance_id == instance.id]
    assert failed.failed_step == "charge"
    assert failed.error_type == "RuntimeError"
    assert failed.stack_trace is not None
    assert "_open_connection_to_ledger" in failed.stack_trace
    [step_failed] = [e for e in events if isinstance(e, StepFailed) and e.instance_id == instance.id]
    assert (step_failed.error_type, step_failed.attempt, step_failed.will_retry) == ("RuntimeError", 1, False)


async def test_one_log_line_per_failed_attempt_retries_lower(
    engine: LocalExecutionEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=STEP_LOGGER)
    step = Charge(failures=5, retry_policy=RetryPolicy(max_attempts=2, **NO_DELAY))
    instance = await engine.start_workflow(payment(step, version="2.1"))
    await finished(engine, instance.id)

    retried, final = failure_records(caplog, instance.id)  # exactly two: one per attempt, none twice
    assert (retried.levelno, final.levelno) == (logging.WARNING, logging.ERROR)
    for record, attempt in ((retried, 1), (final, 2)):
        fields = {
            key: getattr(record, key)
            for key in (
                "workflow_name",
                "workflow_version",
                "instance_id",
                "step_name",
                "attempt",
                "error_type",
            )
        }
        assert fields == {
            "workflow_name": "payment",
            "workflow_version": "2.1",
            "instance_id": str(instance.id),
            "step_name": "charge",
            "attempt": attempt,
            "error_type": "RuntimeError",
        }
        message = record.getMessage()
        assert "\n" not in message
        for part in (
            "'charge'",
            "'payment'",
            "v2.1",
            str(instance.id),
            f"attempt {attempt}",
            "payment provider",
        ):
            assert part in message
    assert retried.will_retry is True  # type: ignore[attr-defined]
    assert final.will_retry is False  # type: ignore[attr-defined]
    assert "attempt 2 at" in retried.getMessage()


async def test_a_step_that_succeeds_on_retry_keeps_no_error(
    engine: LocalExecutionEngine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=STEP_LOGGER)
    step = Charge(failures=1, retry_policy=RetryPolicy(max_attempts=3, **NO_DELAY))
    instance = await engine.start_workflow(payment(step))
    done = await finished(engine, instance.id)

    assert done.status is WorkflowStatus.COMPLETED
    [run] = done.executions_of("charge")
    assert (run.status, run.attempt) == (StepStatus.SUCCEEDED, 2)
    assert (run.error, run.error_type, run.stack_trace) == (None, None, None)
    [retried] = failure_records(caplog, instance.id)
    assert retried.levelno == logging.WARNING


class Deep(BaseMachineStep):
    """Fails 200 calls deep with a long message: the stored traceback stays bounded."""

    async def execute(self, context: WorkflowContext) -> None:
        def down(depth: int) -> None:
            if depth == 0:
                raise ValueError("x" * 20_000 + " the end")
            down(depth - 1)

        down(200)


async def test_a_huge_traceback_is_cut_to_its_end(engine: LocalExecutionEngine) -> None:
    definition = WorkflowDefinition(name="deep", steps=[Deep("deep")], edges=[], initial_step="deep")
    instance = await engine.start_workflow(definition)
    done = await finished(engine, instance.id)

    [run] = done.executions_of("deep")
    assert run.error_type == "ValueError"
    assert run.stack_trace is not None
    assert len(run.stack_trace) <= MAX_TRACE_CHARS
    assert run.stack_trace.startswith("[... traceback cut")
    assert run.stack_trace.rstrip().endswith("the end")
