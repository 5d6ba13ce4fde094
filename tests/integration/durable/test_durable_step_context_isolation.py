"""A step cannot change its instance's metadata or step history, on every store: the live copy, the
stored copy and a fresh engine's load agree. What ``on_failure`` writes is kept with the failure.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    StepStatus,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext, WorkflowInstanceData

TIMEOUT = 10.0
METADATA = {"correlation_id": "abc-123", "source_system": "web_app"}


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


class First(BaseMachineStep):
    name = "first"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("first", True)


class WriteMetadata(BaseMachineStep):
    """Writes the metadata (refused: the step fails)."""

    name = "write_metadata"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("partial", True)
        context.metadata["touched"] = True


class Wipe(BaseMachineStep):
    """Tries to clear metadata and history, swallows the refusals, then fails."""

    name = "wipe"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("partial", True)
        for clear in (context.metadata.clear, context.step_history.clear):
            with contextlib.suppress(TypeError):
                clear()
        raise RuntimeError("fails after trying to wipe")


class Tolerant(BaseMachineStep):
    """Tries to change metadata and history, swallows the refusals, and completes."""

    name = "tolerant"

    async def execute(self, context: WorkflowContext) -> None:
        for write in (lambda: context.metadata.pop("source_system"), context.step_history.clear):
            with contextlib.suppress(TypeError):
                write()
        context.set("tolerant", sorted(context.metadata))


class Review(BaseHumanStep):
    name = "review"
    title = "Review"


class Process(BaseMachineStep):
    """The guide's ProcessDocument: records failure state in ``on_failure``."""

    name = "process"

    async def execute(self, context: WorkflowContext) -> None:
        try:
            context.set("processed_content", context.get("document", {})["content"].upper())
        except Exception as error:
            context.set("processing_error", str(error))  # execute's write: discarded with the failure
            raise

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        context.set("failed_at", "process")
        context.set("failure_reason", str(error))


def registry_of(*steps: BaseMachineStep | BaseHumanStep, terminal: str) -> WorkflowRegistry:
    names = [step.name for step in steps]
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="isolation",
            version="1",
            steps={step.name: step for step in steps},
            edges=[Edge(a, b) for a, b in zip(names, names[1:], strict=False)],
            initial_step=names[0],
            terminal_steps={terminal},
        )
    )
    return registry


async def run(
    database: ScratchDatabase | None, registry: WorkflowRegistry, data: dict[str, Any] | None = None
) -> tuple[WorkflowInstanceData, WorkflowInstanceData, WorkflowInstanceData | None]:
    """Run an instance to its end: (live copy, stored copy, a fresh engine's load or ``None``)."""
    async with engine_for(database, registry, poll_interval=0.2) as engine:
        started = await engine.start_workflow("isolation", initial_data=data or {}, metadata=dict(METADATA))
        await engine.wait(started.id, until={WorkflowStatus.FAILED, WorkflowStatus.WAITING}, timeout=TIMEOUT)
        live = await engine.get_instance(started.id)
        kept = await stored(engine, started.id)
    if database is None:
        return live, kept, None
    async with engine_for(database, registry) as fresh_engine:
        fresh = await fresh_engine.get_instance(started.id)
    return live, kept, fresh


def history(instance: WorkflowInstanceData) -> list[tuple[str, StepStatus]]:
    return [(run.step_name, run.status) for run in instance.step_history]


async def test_a_step_writing_metadata_fails_and_every_copy_keeps_it(
    database: ScratchDatabase | None,
) -> None:
    copies = await run(database, registry_of(First(), WriteMetadata(), Review(), terminal="review"))

    for instance in filter(None, copies):
        assert instance.status is WorkflowStatus.FAILED
        assert "TypeError: a step cannot change the instance's metadata" in (instance.error or "")
        assert instance.context.metadata == METADATA
        assert instance.context.data == {"first": True}
        assert history(instance) == [("first", StepStatus.SUCCEEDED), ("write_metadata", StepStatus.FAILED)]


async def test_a_failing_step_cannot_wipe_metadata_or_history(database: ScratchDatabase | None) -> None:
    copies = await run(database, registry_of(First(), Wipe(), Review(), terminal="review"))

    for instance in filter(None, copies):
        assert instance.status is WorkflowStatus.FAILED
        assert instance.error == "step 'wipe' failed: RuntimeError: fails after trying to wipe"
        assert instance.context.metadata == METADATA
        assert instance.context.data == {"first": True}
        assert history(instance) == [("first", StepStatus.SUCCEEDED), ("wipe", StepStatus.FAILED)]


async def test_a_step_swallowing_the_refusals_completes_and_changes_nothing(
    database: ScratchDatabase | None,
) -> None:
    copies = await run(database, registry_of(First(), Tolerant(), Review(), terminal="review"))

    for instance in filter(None, copies):
        assert instance.status is WorkflowStatus.WAITING
        assert instance.context.metadata == METADATA
        assert instance.context.data == {"first": True, "tolerant": ["correlation_id", "source_system"]}
        assert [name for name, _ in history(instance)] == ["first", "tolerant", "review"]


async def test_what_on_failure_writes_is_kept_with_the_failure(database: ScratchDatabase | None) -> None:
    copies = await run(database, registry_of(Process(), Review(), terminal="review"), {"document": {}})

    for instance in filter(None, copies):
        assert instance.status is WorkflowStatus.FAILED
        assert instance.context.data == {
            "document": {},
            "failed_at": "process",
            "failure_reason": "'content'",
        }
        [failed] = instance.step_history
        assert failed.context_changes == {
            "set": {"failed_at": "process", "failure_reason": "'content'"},
            "deleted": [],
        }


async def test_the_engine_keeps_working_after_a_failure_with_on_failure_writes(
    database: ScratchDatabase | None,
) -> None:
    """Whether or not the interpreter applies them yet, the failure is recorded as before."""
    live, kept, fresh = await run(
        database, registry_of(Process(), Review(), terminal="review"), {"document": {}}
    )

    for instance in filter(None, (live, kept, fresh)):
        assert instance.status is WorkflowStatus.FAILED
        assert instance.error == "step 'process' failed: KeyError: 'content'"
        assert "processing_error" not in instance.context.data
