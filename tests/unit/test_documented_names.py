"""Names and call forms the documentation uses, which must work as written.

* ``from litestar_workflows import Step, StepType`` (concepts/steps.rst, "Creating Custom Steps");
* the cookbook's event names (``WorkflowStartedEvent``... in ``litestar_workflows.core.events``)
  and its ``event.task_title`` (cookbook/integration-patterns.rst, "Workflow Event Handlers");
* ``WorkflowInstanceRepository(session)``, positional (execution.rst, "Persistence");
* a step class given where a step instance belongs is a definition problem, not a failed instance.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

import litestar_workflows
from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)
from litestar_workflows.core import events
from litestar_workflows.core.protocols import Step as ProtocolStep
from litestar_workflows.core.types import StepType as TypesStepType

# ----------------------------------------------------------------------------- helpers


class Mark(BaseMachineStep):
    async def execute(self, context: Any) -> None:
        context.set(f"ran_{self.name}", True)


class Fail(BaseMachineStep):
    name = "fail"

    async def execute(self, context: Any) -> None:
        raise RuntimeError("boom")


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve the expense"


def chain(name: str, *steps: Any) -> WorkflowDefinition:
    names = [s.name for s in steps]
    return WorkflowDefinition(
        name=name,
        version="1.0.0",
        description="",
        steps={s.name: s for s in steps},
        edges=[Edge(a, b) for a, b in zip(names, names[1:], strict=False)],
        initial_step=names[0],
        terminal_steps={names[-1]},
    )


# ----------------------------------------------------------------------------- 1. Step, StepType


def test_step_and_step_type_import_from_the_package_root() -> None:
    from litestar_workflows import Step, StepType

    assert Step is ProtocolStep
    assert StepType is TypesStepType
    assert "Step" in litestar_workflows.__all__
    assert "StepType" in litestar_workflows.__all__
    core = [name for name in litestar_workflows.__all__ if name not in litestar_workflows._WEB_EXPORTS]
    assert core == sorted(core)
    assert isinstance(Mark("a"), Step)  # still the runtime-checkable protocol


async def test_the_documented_custom_step_subclassing_step_runs() -> None:
    from litestar_workflows import Step, StepType, WorkflowContext

    class BatchProcessingStep(Step):
        """Custom step for batch operations (as in concepts/steps.rst)."""

        name: str
        step_type = StepType.MACHINE
        batch_size: int = 100

        async def execute(self, context: WorkflowContext) -> None:
            items = context.get("items", [])
            context.set("processed_count", len(items))

    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(
            name="batch",
            version="1.0.0",
            description="",
            steps={"batch": BatchProcessingStep()},
            edges=[],
            initial_step="batch",
            terminal_steps={"batch"},
        )
    )
    engine = LocalExecutionEngine(registry=registry)
    instance = await engine.start_workflow("batch", initial_data={"items": [1, 2, 3]})
    done = await engine.wait(instance.id, timeout=10)
    assert done.context.get("processed_count") == 3


# ----------------------------------------------------------------------------- 2. cookbook events

COOKBOOK_ALIASES = {
    "WorkflowStartedEvent": events.WorkflowStarted,
    "WorkflowCompletedEvent": events.WorkflowCompleted,
    "WorkflowFailedEvent": events.WorkflowFailed,
    "StepCompletedEvent": events.StepCompleted,
    "HumanTaskCreatedEvent": events.HumanTaskCreated,
}


def test_the_cookbook_event_names_are_the_event_classes() -> None:
    from litestar_workflows.core.events import (  # the cookbook's import, as written
        HumanTaskCreatedEvent,
        StepCompletedEvent,
        WorkflowCompletedEvent,
        WorkflowEvent,
        WorkflowFailedEvent,
        WorkflowStartedEvent,
    )

    imported = {
        "WorkflowStartedEvent": WorkflowStartedEvent,
        "WorkflowCompletedEvent": WorkflowCompletedEvent,
        "WorkflowFailedEvent": WorkflowFailedEvent,
        "StepCompletedEvent": StepCompletedEvent,
        "HumanTaskCreatedEvent": HumanTaskCreatedEvent,
    }
    for alias, cls in COOKBOOK_ALIASES.items():
        assert imported[alias] is cls, alias
        assert alias in events.__all__
        assert issubclass(cls, WorkflowEvent)
        # An alias is a second name, not a class: the event's type stays the class name.
        assert cls(uuid.uuid4()).type == cls.__name__
    assert list(events.__all__) == sorted(events.__all__)


def test_task_title_reads_the_title_and_leaves_the_event_fields_as_they_were() -> None:
    event = events.HumanTaskCreatedEvent(
        uuid.uuid4(), step_name="approve", title="Approve it", assignee="ann"
    )
    assert event.task_title == "Approve it"
    event.title = "Changed"
    assert event.task_title == "Changed"
    with pytest.raises(AttributeError):
        event.task_title = "no"  # type: ignore[misc]
    names = [f.name for f in dataclasses.fields(event)]
    assert "task_title" not in names
    as_dict = dataclasses.asdict(event)
    assert "task_title" not in as_dict
    assert as_dict["title"] == "Changed"
    assert as_dict["assignee"] == as_dict["assignee_id"] == "ann"
    as_json = msgspec.json.decode(msgspec.json.encode(event))
    assert "task_title" not in as_json
    assert set(as_json) == set(as_dict)
    with pytest.raises(TypeError):
        events.HumanTaskCreated(uuid.uuid4(), task_title="x")  # type: ignore[call-arg]


async def test_the_cookbook_notification_handler_sees_every_event_it_routes() -> None:
    from litestar_workflows.core.events import (
        HumanTaskCreatedEvent,
        StepCompletedEvent,
        WorkflowCompletedEvent,
        WorkflowEvent,
        WorkflowFailedEvent,
        WorkflowStartedEvent,
    )

    seen: list[str] = []

    class NotificationHandler:
        async def handle_event(self, event: WorkflowEvent) -> None:
            if isinstance(event, WorkflowStartedEvent):
                seen.append(f"started {event.workflow_name}")
            elif isinstance(event, WorkflowCompletedEvent):
                seen.append(f"completed {event.workflow_name}")
            elif isinstance(event, WorkflowFailedEvent):
                seen.append(f"failed {event.workflow_name}: {event.error}")
            elif isinstance(event, HumanTaskCreatedEvent):
                seen.append(f"task {event.task_title} for {event.assignee}")
            elif isinstance(event, StepCompletedEvent):
                seen.append(f"step {event.step_name}")

    bus = events.EventBus()
    bus.subscribe(NotificationHandler().handle_event)
    registry = WorkflowRegistry()
    registry.register_definition(chain("expense", Mark("submit"), Approve()))
    registry.register_definition(chain("broken", Fail()))
    engine = LocalExecutionEngine(registry=registry, event_bus=bus)

    instance = await engine.start_workflow("expense")
    await engine.wait(instance.id, timeout=10)
    await engine.complete_human_task(instance.id, "approve", "ann", {"ok": True})
    assert (await engine.wait(instance.id, timeout=10)).status == WorkflowStatus.COMPLETED
    broken = await engine.start_workflow("broken")
    assert (await engine.wait(broken.id, timeout=10)).status == WorkflowStatus.FAILED

    assert seen[:2] == ["started expense", "step submit"]
    assert "task Approve the expense for None" in seen
    assert "completed expense" in seen
    assert "started broken" in seen
    assert any(line.startswith("failed broken: ") and "boom" in line for line in seen)


# ----------------------------------------------------------------------------- 3. positional session


def test_every_repository_takes_the_session_positionally_or_by_keyword() -> None:
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from litestar_workflows.db import (
        HumanTaskRepository,
        StepExecutionRepository,
        WorkflowDefinitionRepository,
        WorkflowInstanceRepository,
    )

    session = AsyncSession(create_async_engine("sqlite+aiosqlite://"))
    for repository in (
        WorkflowDefinitionRepository,
        WorkflowInstanceRepository,
        StepExecutionRepository,
        HumanTaskRepository,
    ):
        assert repository(session).session is session
        assert repository(session=session).session is session
        # advanced-alchemy's own keywords still reach it, with either form.
        assert repository(session, auto_expunge=True, auto_commit=True).auto_expunge is True
        assert repository(session=session, auto_commit=True).auto_commit is True
        with pytest.raises(TypeError, match="both positionally and as session="):
            repository(session, session=session)
        with pytest.raises(TypeError, match="session"):
            repository()


async def test_the_documented_persistence_line_runs_a_workflow_on_a_sqlite_file(tmp_path: Path) -> None:
    from sqlalchemy.ext.asyncio import AsyncSession

    from litestar_workflows.db import WorkflowInstanceRepository, upgrade_database_async
    from litestar_workflows.db.store import create_store_engine

    db_file = tmp_path / "workflows.db"
    db_engine = create_store_engine(f"sqlite+aiosqlite:///{db_file}")
    await upgrade_database_async(db_engine)
    registry = WorkflowRegistry()
    registry.register_definition(chain("expense", Mark("submit"), Approve()))
    session = AsyncSession(db_engine)
    try:
        # As execution.rst writes it ("Persistence"):
        engine = LocalExecutionEngine(
            registry=registry,
            persistence=WorkflowInstanceRepository(session),
        )

        instance = await engine.start_workflow("expense", {"amount": 5})
        waiting = await engine.wait(instance.id, timeout=10)
        assert waiting.status == WorkflowStatus.WAITING
        fetched = await engine.get_instance(instance.id)
        assert fetched.id == instance.id
        assert fetched.status == WorkflowStatus.WAITING
        assert fetched.context.get("amount") == 5
        assert fetched.context.get("ran_submit") is True

        # It is in the file: a repository reads the row, and a new engine on it carries on.
        row = await WorkflowInstanceRepository(session).get(instance.id)
        assert row.workflow_name == "expense"
        assert row.status == "waiting"
        other = LocalExecutionEngine(registry=registry, persistence=WorkflowInstanceRepository(session))
        assert (await other.get_instance(instance.id)).status == WorkflowStatus.WAITING
        await other.complete_human_task(instance.id, "approve", "ann", {"ok": True})
        done = await other.wait(instance.id, timeout=10)
        assert done.status == WorkflowStatus.COMPLETED
        assert (await engine.get_instance(instance.id)).status == WorkflowStatus.COMPLETED
        assert [run.step_name for run in done.step_history] == ["submit", "approve"]
    finally:
        await session.close()
        await db_engine.dispose()
    assert db_file.stat().st_size > 0


# ----------------------------------------------------------------------------- 4. a class for a step


class A(BaseMachineStep):
    name = "a"

    async def execute(self, context: Any) -> None:
        context.set("a", True)


class B(BaseMachineStep):
    name = "b"

    async def execute(self, context: Any) -> None:
        context.set("b", True)


def test_a_step_class_in_steps_is_a_definition_problem_naming_the_key() -> None:
    definition = WorkflowDefinition(
        name="w",
        version="1.0.0",
        description="",
        steps={"a": A, "b": B()},  # type: ignore[dict-item]
        edges=[Edge("a", "b")],
        initial_step="a",
        terminal_steps={"b"},
    )
    assert definition.validate() == ["step 'a' is the class A, not a step: give an instance, A()"]
    with pytest.raises(
        WorkflowValidationError, match=r"step 'a' is the class A, not a step: give an instance, A\(\)"
    ):
        WorkflowRegistry().register_definition(definition)


def test_each_step_class_is_reported_once_and_a_non_step_keeps_its_message() -> None:
    definition = WorkflowDefinition(
        name="w",
        version="1.0.0",
        description="",
        steps={"a": A, "b": B, "c": object()},  # type: ignore[dict-item]
        edges=[Edge("a", "b"), Edge("b", "c")],
        initial_step="a",
        terminal_steps={"c"},
    )
    assert definition.validate() == [
        "step 'a' is the class A, not a step: give an instance, A()",
        "step 'b' is the class B, not a step: give an instance, B()",
        "step 'c' is not a step (needs execute() and a step_type)",
    ]


def test_a_step_class_in_a_list_of_steps_is_reported_too() -> None:
    definition = WorkflowDefinition(
        name="w",
        version="1.0.0",
        description="",
        steps=[A, B()],  # type: ignore[list-item]
        edges=[Edge("a", "b")],
        initial_step="a",
        terminal_steps={"b"},
    )
    with pytest.raises(WorkflowValidationError, match=r"step 'a' is the class A.*give an instance, A\(\)"):
        WorkflowRegistry().register_definition(definition)


async def test_instances_of_the_same_classes_register_and_run() -> None:
    registry = WorkflowRegistry()
    registry.register_definition(chain("w", A(), B()))
    engine = LocalExecutionEngine(registry=registry)
    instance = await engine.start_workflow("w")
    done = await engine.wait(instance.id, timeout=10)
    assert done.status == WorkflowStatus.COMPLETED
    assert done.context.get("a") is True
    assert done.context.get("b") is True


def test_race_group_imports_and_says_why_it_is_not_supported() -> None:
    """The Parallel Execution guide imports it from the root: the import works, building it explains."""
    from litestar_workflows import RaceGroup

    with pytest.raises(NotImplementedError, match="RaceGroup is not supported: .* ParallelGateway"):
        RaceGroup(BaseMachineStep("fast_source"), BaseMachineStep("reliable_source"))
