"""The engine in the reference package's call forms: execute_step, duck-typed persistence, module paths."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowInstanceData,
    WorkflowInstanceNotFoundError,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from step_kit import Fn


class Snapshots:
    """A persistence object of the reference's protocol: save_instance / load_instance."""

    def __init__(self, fail: bool = False) -> None:
        self.saved: list[tuple[WorkflowStatus, str | None]] = []
        self.instances: dict[UUID, WorkflowInstanceData] = {}
        self.fail = fail

    async def save_instance(self, instance: WorkflowInstanceData) -> None:
        if self.fail:
            raise ConnectionError("backend down")
        self.instances[instance.id] = instance
        self.saved.append((instance.status, instance.current_step))

    async def load_instance(self, instance_id: UUID) -> WorkflowInstanceData | None:
        return self.instances.get(instance_id)


def approval() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="approval",
        steps=[Fn("submit"), BaseHumanStep("approve"), Fn("done")],
        edges=[Edge("submit", "approve"), Edge("approve", "done")],
        initial_step="submit",
    )


async def test_execute_step_puts_the_previous_result_in_the_context() -> None:
    engine = LocalExecutionEngine(WorkflowRegistry())
    context = WorkflowContext(workflow_id="w", instance_id=uuid4())
    step = Fn("echo", lambda c: c.get("_previous_result"))
    assert await engine.execute_step(step, context, previous_result={"n": 1}) == {"n": 1}
    assert await engine.execute_step(Fn("plain", lambda c: "ok"), context) == "ok"


async def test_duck_typed_persistence_gets_every_transition() -> None:
    snapshots = Snapshots()
    async with LocalExecutionEngine(WorkflowRegistry(), persistence=snapshots) as engine:
        instance = await engine.start_workflow(approval())
        waiting = await engine.wait(instance.id)
        assert snapshots.instances[instance.id] is waiting
        assert (WorkflowStatus.WAITING, "approve") in snapshots.saved
        await engine.complete_human_task(instance.id, "approve", "ann", {"ok": True})
        done = await engine.wait(instance.id)
    assert done.status is WorkflowStatus.COMPLETED
    assert snapshots.saved[-1][0] is WorkflowStatus.COMPLETED
    assert len(snapshots.saved) >= 4  # started, submitted, waiting, approved, done


async def test_duck_typed_persistence_answers_for_instances_the_engine_does_not_know() -> None:
    snapshots = Snapshots()
    async with LocalExecutionEngine(WorkflowRegistry(), persistence=snapshots) as engine:
        elsewhere = await engine.start_workflow(approval())
        await engine.wait(elsewhere.id)
    async with LocalExecutionEngine(WorkflowRegistry(), persistence=snapshots) as fresh:
        assert (await fresh.get_instance(elsewhere.id)).id == elsewhere.id
        with pytest.raises(WorkflowInstanceNotFoundError):
            await fresh.get_instance(uuid4())


async def test_a_failing_persistence_object_never_breaks_the_workflow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with LocalExecutionEngine(WorkflowRegistry(), persistence=Snapshots(fail=True)) as engine:
        instance = await engine.start_workflow(
            WorkflowDefinition(name="solo", steps=[Fn("only")], initial_step="only")
        )
        done = await engine.wait(instance.id)
    assert done.status is WorkflowStatus.COMPLETED
    assert "failed to save instance" in caplog.text


async def test_an_object_that_is_neither_is_refused_clearly() -> None:
    with pytest.raises(TypeError, match="persistence must be"):
        LocalExecutionEngine(WorkflowRegistry(), persistence=object())


async def test_bare_name_conditions_route_a_running_instance() -> None:
    definition = WorkflowDefinition(
        name="route",
        steps=[Fn("review"), Fn("publish"), Fn("reject")],
        edges=[Edge("review", "publish", "approved"), Edge("review", "reject", "not approved")],
        initial_step="review",
    )
    async with LocalExecutionEngine(WorkflowRegistry()) as engine:
        yes = await engine.wait((await engine.start_workflow(definition, {"approved": True})).id)
        no = await engine.wait((await engine.start_workflow(definition, {})).id)
    assert [e.step_name for e in yes.step_history if e.status == "succeeded"] == ["review", "publish"]
    assert [e.step_name for e in no.step_history if e.status == "succeeded"] == ["review", "reject"]


async def test_an_invalid_definition_never_starts() -> None:
    invalid = WorkflowDefinition(name="bad", steps=[Fn("a")], edges=[Edge("a", "ghost")], initial_step="a")
    async with LocalExecutionEngine(WorkflowRegistry()) as engine:
        with pytest.raises(WorkflowValidationError, match="'ghost' not found"):
            await engine.start_workflow(invalid)
        assert engine.get_all_instances() == []


def test_reference_module_paths() -> None:
    from litestar_workflows.core.context import StepExecution
    from litestar_workflows.core.types import StepExecution as FromTypes
    from litestar_workflows.engine import WorkflowGraph, WorkflowInstance
    from litestar_workflows.engine.graph import WorkflowGraph as FromGraph
    from litestar_workflows.engine.instance import WorkflowInstanceData as FromInstance

    assert FromTypes is StepExecution
    assert WorkflowInstance is FromInstance is WorkflowInstanceData
    assert WorkflowGraph is FromGraph


async def test_start_workflow_takes_the_documented_keyword_spellings() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="keywords",
            steps={"copy": Fn("copy", lambda ctx: ctx.set("seen", ctx.get("user")))},
            edges=[],
            initial_step="copy",
        )
    )
    async with LocalExecutionEngine(registry) as engine:
        instance = await engine.start_workflow(workflow_name="keywords", data={"user": "alice"})
        done = await engine.wait(instance.id)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.context.get("seen") == "alice"
        with pytest.raises(TypeError, match="both workflow and workflow_name"):
            await engine.start_workflow("keywords", workflow_name="keywords")
        with pytest.raises(TypeError, match="both initial_data and data"):
            await engine.start_workflow("keywords", {"user": "a"}, data={"user": "b"})
        with pytest.raises(TypeError, match="needs the workflow to start"):
            await engine.start_workflow()
        assert len((await engine.find_instances()).items) == 1  # the refused calls stored nothing


async def test_a_bare_context_is_enough_to_test_a_step() -> None:
    first, second = WorkflowContext(), WorkflowContext()
    first.set("decision", "approve")
    assert first.get("decision") == "approve"
    assert second.data == {}  # no data shared between bare contexts
    assert first.instance_id != second.instance_id
