"""The ``telemetry=`` option, the W3C ``traceparent`` helpers and the broker message's trace fields."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from uuid import UUID

import orjson
import pytest

from litestar_workflows import (
    Edge,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    observability,
)
from litestar_workflows.engine.messages import StepMessage
from litestar_workflows.observability import resolve_telemetry
from litestar_workflows.observability.otel import Telemetry, format_traceparent, parse_traceparent
from otel_kit import Recorder
from step_kit import Fn

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def registry() -> WorkflowRegistry:
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="two",
            steps={"a": Fn("a", lambda ctx: None), "b": Fn("b", lambda ctx: None)},
            edges=[Edge("a", "b")],
            initial_step="a",
        )
    )
    return registry


async def test_without_a_configured_provider_the_engine_records_nothing_and_stores_no_traceparent() -> None:
    engine = LocalExecutionEngine(registry())  # this test process never sets global providers
    assert engine.telemetry is None
    instance = await engine.start_workflow("two", {})
    assert (await engine.wait(instance.id)).status is WorkflowStatus.COMPLETED
    assert "traceparent" not in instance.context.metadata


async def test_telemetry_false_turns_it_off_even_with_providers() -> None:
    assert LocalExecutionEngine(registry(), telemetry=False).telemetry is None


async def test_telemetry_true_uses_the_global_providers_which_record_nothing_until_set() -> None:
    engine = LocalExecutionEngine(registry(), telemetry=True)
    assert isinstance(engine.telemetry, Telemetry)
    instance = await engine.start_workflow("two", {})
    assert (await engine.wait(instance.id)).status is WorkflowStatus.COMPLETED
    assert "traceparent" not in instance.context.metadata  # the API's no-op span has no valid context


async def test_an_explicit_telemetry_is_bound_to_its_engine() -> None:
    telemetry = Recorder().telemetry()
    engine = LocalExecutionEngine(registry(), telemetry=telemetry)
    assert engine.telemetry is telemetry
    instance = await engine.start_workflow("two", {})
    await engine.wait(instance.id)
    assert parse_traceparent(instance.context.metadata["traceparent"]) is not None


def test_without_the_api_true_says_what_to_install_and_the_default_stays_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(observability, "_api_state", [False])
    assert resolve_telemetry(None) is None
    assert resolve_telemetry(False) is None
    with pytest.raises(ImportError, match=r"litestar-workflows\[otel\]"):
        resolve_telemetry(True)
    with pytest.raises(ImportError, match="opentelemetry"):
        LocalExecutionEngine(registry(), telemetry=True)


def test_traceparent_round_trip_and_malformed_values() -> None:
    context = parse_traceparent(TRACEPARENT)
    assert context is not None
    assert context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert context.span_id == 0xB7AD6B7169203331
    assert context.is_remote
    assert format_traceparent(context) == TRACEPARENT
    for bad in (
        None,
        42,
        "",
        TRACEPARENT.upper().replace("0AF", "0xg"),
        "01" + TRACEPARENT[2:],  # an unknown version
        "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # all-zero trace id is invalid
        TRACEPARENT.replace("-", "_"),
        TRACEPARENT + "-00",
    ):
        assert parse_traceparent(bad) is None, bad


def test_a_step_message_carries_trace_fields_only_when_set() -> None:
    execution = UUID("01234567-89ab-7def-8123-456789abcdef")
    plain = StepMessage(execution, 2)
    assert orjson.loads(plain.to_json()) == {"execution": str(execution), "attempt": 2}
    when = datetime(2026, 12, 6, 17, 0, tzinfo=UTC)
    traced = StepMessage(execution, 2, TRACEPARENT, when)
    assert StepMessage.parse(traced.to_json()) == traced
    assert StepMessage.parse(plain.to_json()) == plain  # a message of an older publisher


def test_malformed_trace_fields_never_drop_the_step() -> None:
    execution = "01234567-89ab-7def-8123-456789abcdef"
    for extra in (
        {"traceparent": 7, "scheduled_at": "yesterday"},
        {"traceparent": None, "scheduled_at": 1733500000},
        {"scheduled_at": "2026-12-06T17:00:00"},  # no time zone: not a moment
    ):
        message = StepMessage.parse({"execution": execution, "attempt": 1, **extra})
        assert (message.execution_id, message.attempt) == (UUID(execution), 1)
        assert message.traceparent is None
        assert message.scheduled_at is None


async def test_gauges_false_reports_no_store_counts_but_still_counts_steps() -> None:
    recorder = Recorder()
    engine = LocalExecutionEngine(registry(), telemetry=recorder.telemetry(gauges=False))
    await engine.wait((await engine.start_workflow("two", {})).id)
    assert recorder.points("workflow.instances") == {}
    assert recorder.points("workflow.tasks.open") == {}
    assert recorder.by("workflow.steps.succeeded", "workflow.step.name") == {"a": 1, "b": 1}


def test_without_the_opentelemetry_package_engines_run_and_never_import_the_hooks() -> None:
    """A fresh interpreter in which ``import opentelemetry`` fails, as when the extra is not installed."""
    script = textwrap.dedent(
        """
        import asyncio, sys
        sys.modules["opentelemetry"] = None  # import opentelemetry... raises ImportError from here on
        from litestar_workflows import Edge, LocalExecutionEngine, WorkflowDefinition, WorkflowRegistry
        from litestar_workflows.steps.base import BaseMachineStep

        class Noop(BaseMachineStep):
            async def execute(self, context):
                return None

        async def main():
            registry = WorkflowRegistry()
            registry.register_definition(WorkflowDefinition(
                name="two", steps={"a": Noop("a"), "b": Noop("b")}, edges=[Edge("a", "b")], initial_step="a"
            ))
            engine = LocalExecutionEngine(registry)
            assert engine.telemetry is None
            instance = await engine.wait((await engine.start_workflow("two", {})).id)
            assert instance.status == "completed", instance.status
            try:
                LocalExecutionEngine(registry, telemetry=True)
            except ImportError as error:
                print("refused:", error)
            assert "litestar_workflows.observability.otel" not in sys.modules

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "refused: telemetry=True needs the OpenTelemetry API" in done.stdout


async def test_several_engines_on_one_meter_all_count() -> None:
    """OpenTelemetry keeps the first instrument of a name: every engine's Telemetry must feed it."""
    recorder = Recorder()
    first = LocalExecutionEngine(registry(), telemetry=recorder.telemetry())
    second = LocalExecutionEngine(registry(), telemetry=recorder.telemetry())
    for _ in range(3):
        await second.wait((await second.start_workflow("two", {})).id)
    started = recorder.by("workflow.steps.started", "workflow.step.name")
    assert started == {"a": 3, "b": 3}  # the first engine, which ran nothing, no longer hides them
    assert recorder.by("workflow.instances", "workflow.status")["completed"] == 3  # the newest engine's
    await first.wait((await first.start_workflow("two", {})).id)
    assert recorder.by("workflow.steps.succeeded", "workflow.step.name") == {"a": 4, "b": 4}
