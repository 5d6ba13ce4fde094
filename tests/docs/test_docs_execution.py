"""Every code example of the Execution documentation page, run as written.

Where the page elides code (``...``) or names something it never defines (``my_workflow``,
``event_store``, ``payment_exists``...), the smallest real definition is filled in; the
documented lines themselves are unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    EventBus,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)

# ----------------------------------------------------------------------------- filled-in pieces


class Noop(BaseMachineStep):
    async def execute(self, context: Any) -> None:
        context.set(f"ran_{self.name}", True)


class ManagerApproval(BaseHumanStep):
    name = "manager_approval"
    title = "Approve"


class ProcessPayment(BaseMachineStep):
    name = "process_payment"

    async def execute(self, context: Any) -> None:
        if not context.get("card_ok"):
            raise RuntimeError("card declined")
        context.set("paid", True)


def simple(name: str, version: str = "1.0.0", *steps: Any) -> WorkflowDefinition:
    steps = steps or (Noop("only"),)
    names = [s.name for s in steps]
    return WorkflowDefinition(
        name=name,
        version=version,
        description="",
        steps={s.name: s for s in steps},
        edges=[Edge(a, b) for a, b in zip(names, names[1:], strict=False)],
        initial_step=names[0],
    )


my_workflow = simple("my_workflow")


@pytest.fixture
def registry() -> WorkflowRegistry:
    return WorkflowRegistry()


# ----------------------------------------------------------------------------- The Local Engine


async def test_the_local_engine() -> None:
    from litestar_workflows import LocalExecutionEngine, WorkflowRegistry

    # Create registry with workflow definitions
    registry = WorkflowRegistry()
    registry.register_definition(my_workflow)

    # Create engine
    engine = LocalExecutionEngine(registry)

    # Start a workflow
    instance = await engine.start_workflow("my_workflow", initial_data={"key": "value"})

    await engine.wait(instance.id)
    assert instance.status == WorkflowStatus.COMPLETED
    assert instance.context.get("key") == "value"
    assert instance.context.get("ran_only") is True


async def test_engine_configuration(registry: WorkflowRegistry, tmp_path: Path) -> None:
    from litestar_workflows.db import WorkflowInstanceRepository, upgrade_database_async
    from litestar_workflows.db.store import create_store_engine

    db_engine = create_store_engine(f"sqlite+aiosqlite:///{tmp_path / 'wf.db'}")
    await upgrade_database_async(db_engine)
    registry.register_definition(my_workflow)
    events: list[str] = []

    class Collect(EventBus):
        async def emit(self, event: Any) -> None:
            events.append(event.type)

    event_bus = Collect()
    async with AsyncSession(db_engine) as session:
        database_repository = WorkflowInstanceRepository(session=session)

        engine = LocalExecutionEngine(
            registry=registry,
            persistence=database_repository,  # Optional: persist state
            event_bus=event_bus,  # Optional: emit events
        )

        instance = await engine.start_workflow("my_workflow")
        await engine.wait(instance.id, timeout=10)
        stored = await database_repository.get(instance.id)
        assert stored.status == "completed"
    assert events[0] == "WorkflowStarted" and events[-1] == "WorkflowCompleted"
    await db_engine.dispose()


# ----------------------------------------------------------------------------- Starting Workflows


async def test_starting_workflows(registry: WorkflowRegistry) -> None:
    registry.register_definition(simple("workflow_name", "1.0.0"))
    registry.register_definition(simple("workflow_name", "2.0.0", Noop("first"), Noop("second")))
    engine = LocalExecutionEngine(registry)

    # Basic start
    instance = await engine.start_workflow("workflow_name")
    assert instance.workflow_version == "2.0.0"  # the newest version

    # With initial data
    instance = await engine.start_workflow(
        "workflow_name",
        initial_data={
            "customer_id": "cust-123",
            "amount": 500.00,
        },
    )
    assert instance.context.get("amount") == 500.0

    # With specific version
    instance = await engine.start_workflow(
        "workflow_name", version="2.0.0", initial_data={"customer_id": "c-9"}
    )

    # The returned instance contains:
    assert instance.id  # Unique instance identifier
    # Current status: two steps that never wait have run by the time start_workflow returns.
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.has_step_executed("first")  # (current_step: where it got to)
    assert instance.context.get("customer_id") == "c-9"  # WorkflowContext with data
    assert instance.context.has_step_executed("second")


# ----------------------------------------------------------------------------- Human Task Completion


async def test_human_task_completion(registry: WorkflowRegistry) -> None:
    registry.register_definition(simple("expense", "1.0.0", Noop("submit"), ManagerApproval(), Noop("pay")))
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("expense", initial_data={"amount": 120})
    instance = await engine.wait(instance.id)

    # Workflow is now WAITING at "manager_approval"
    assert instance.status == WorkflowStatus.WAITING
    assert instance.current_step == "manager_approval"

    # Complete the human task
    await engine.complete_human_task(
        instance_id=instance.id,
        step_name="manager_approval",
        user_id="manager@example.com",
        data={
            "approved": True,
            "comments": "Approved for Q4 budget",
        },
    )

    # Workflow continues execution
    await engine.wait(instance.id)
    assert instance.status == WorkflowStatus.COMPLETED
    assert instance.context.get("comments") == "Approved for Q4 budget"
    assert instance.context.get("ran_pay") is True


# ----------------------------------------------------------------------------- Cancellation


async def test_cancellation(registry: WorkflowRegistry) -> None:
    registry.register_definition(simple("expense", "1.0.0", Noop("submit"), ManagerApproval()))
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("expense")
    await engine.wait(instance.id)

    await engine.cancel_workflow(instance_id=instance.id, reason="Customer requested cancellation")

    # Instance is now CANCELED
    assert instance.status == WorkflowStatus.CANCELED


# ----------------------------------------------------------------------------- Retry Failed Workflows


async def test_retry_failed_workflows(registry: WorkflowRegistry) -> None:
    registry.register_definition(simple("order", "1.0.0", Noop("reserve"), ProcessPayment(), Noop("ship")))
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("order", {"card_ok": False})
    await engine.wait(instance.id)
    instance.context.set("card_ok", True)  # the customer fixed their card

    # Workflow failed at "process_payment"
    assert instance.status == WorkflowStatus.FAILED

    # Retry from the failed step
    await engine.retry(
        instance_id=instance.id,
        from_step="process_payment",  # Optional: defaults to failed step
    )

    await engine.wait(instance.id)
    assert instance.status == WorkflowStatus.COMPLETED
    assert instance.context.get("paid") is True


# ----------------------------------------------------------------------------- Parallel Execution


async def test_parallel_execution(registry: WorkflowRegistry) -> None:
    order: list[str] = []
    both_running = asyncio.Event()
    started: set[str] = set()

    class Step(BaseMachineStep):
        async def execute(self, context: Any) -> None:
            order.append(f"begin {self.name}")
            if self.name.startswith("notify"):
                started.add(self.name)
                if len(started) == 3:
                    both_running.set()
                await both_running.wait()  # all three run at the same time, or this never ends
            order.append(f"end {self.name}")

    class StartStep(Step):
        name = "start"

    class NotifyEmail(Step):
        name = "notify_email"

    class NotifySlack(Step):
        name = "notify_slack"

    class NotifySMS(Step):
        name = "notify_sms"

    class CompleteStep(Step):
        name = "complete"

    definition = WorkflowDefinition(
        steps={
            "start": StartStep(),
            "notify_email": NotifyEmail(),
            "notify_slack": NotifySlack(),
            "notify_sms": NotifySMS(),
            "complete": CompleteStep(),
        },
        edges=[
            Edge("start", "notify_email"),
            Edge("start", "notify_slack"),
            Edge("start", "notify_sms"),
            Edge("notify_email", "complete"),
            Edge("notify_slack", "complete"),
            Edge("notify_sms", "complete"),
        ],
        name="notify",
        version="1.0.0",
        description="",
        initial_step="start",
    )

    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow(definition)
    await engine.wait(instance.id, timeout=5)
    assert instance.status == WorkflowStatus.COMPLETED
    # 1. start  2. the three notifications in parallel  3. wait for all three  4. complete
    assert order[:2] == ["begin start", "end start"]
    assert order[-2:] == ["begin complete", "end complete"]
    assert sum(1 for entry in order if entry == "begin complete") == 1


# ----------------------------------------------------------------------------- Conditional Execution


@pytest.mark.parametrize(
    ("score", "taken", "skipped"), [(91, "approve", "reject"), (42, "reject", "approve")]
)
async def test_conditional_execution(
    registry: WorkflowRegistry, score: int, taken: str, skipped: str
) -> None:
    edges = [
        Edge("review", "approve", condition="context.get('score') >= 80"),
        Edge("review", "reject", condition="context.get('score') < 80"),
    ]
    definition = WorkflowDefinition(
        name="review",
        steps={"review": Noop("review"), "approve": Noop("approve"), "reject": Noop("reject")},
        edges=edges,
        initial_step="review",
    )
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow(definition, {"score": score})
    await engine.wait(instance.id)
    assert instance.context.get(f"ran_{taken}") is True
    assert instance.context.get(f"ran_{skipped}") is None


# ----------------------------------------------------------------------------- Event Emission


class EventStore:
    def __init__(self) -> None:
        self.saved: list[Any] = []

    async def save(self, event: Any) -> None:
        self.saved.append(event)


event_store = EventStore()


async def test_event_emission(registry: WorkflowRegistry, capsys: pytest.CaptureFixture[str]) -> None:
    registry.register_definition(simple("expense", "1.0.0", Noop("submit"), ManagerApproval()))

    from litestar_workflows import EventBus

    class MyEventBus(EventBus):
        async def emit(self, event):  # type: ignore[no-untyped-def]
            print(f"Event: {event}")
            await event_store.save(event)

    engine = LocalExecutionEngine(registry=registry, event_bus=MyEventBus())

    instance = await engine.start_workflow("expense")
    await engine.wait(instance.id)
    await engine.complete_human_task(instance.id, "manager_approval", "ann", {"ok": True})
    await engine.wait(instance.id)
    types = [event.type for event in event_store.saved if event.instance_id == instance.id]
    for expected in (
        "WorkflowStarted",
        "StepExecuted",
        "HumanTaskCreated",
        "HumanTaskCompleted",
        "WorkflowCompleted",
    ):
        wanted = "StepCompleted" if expected == "StepExecuted" else expected
        assert wanted in types
    assert "Event: HumanTaskCreated(" in capsys.readouterr().out


# ----------------------------------------------------------------------------- Persistence


async def test_persistence(registry: WorkflowRegistry, tmp_path: Path) -> None:
    from litestar_workflows.db import upgrade_database_async
    from litestar_workflows.db.store import create_store_engine

    url = f"sqlite+aiosqlite:///{tmp_path / 'wf.db'}"
    db_engine = create_store_engine(url)
    await upgrade_database_async(db_engine)
    registry.register_definition(simple("expense", "1.0.0", Noop("submit"), ManagerApproval()))
    session = AsyncSession(db_engine)

    from litestar_workflows.db import WorkflowInstanceRepository

    # With SQLAlchemy persistence
    engine = LocalExecutionEngine(
        registry=registry,
        persistence=WorkflowInstanceRepository(session),
    )

    instance = await engine.start_workflow("expense", {"amount": 5})
    await engine.wait(instance.id, timeout=10)
    # State survives: a new engine on the same database sees the waiting instance and its task.
    other = LocalExecutionEngine(registry, persistence=WorkflowInstanceRepository(session=session))
    tasks = await other.find_tasks(instance_id=instance.id)
    assert [task.step_name for task in tasks] == ["manager_approval"]
    await other.complete_human_task(instance.id, "manager_approval", "ann", {"ok": True})
    done = await other.wait(instance.id, timeout=10)
    assert done.status == WorkflowStatus.COMPLETED
    assert [e.step_name for e in done.step_history] == ["submit", "manager_approval"]
    await session.close()
    await db_engine.dispose()


# ----------------------------------------------------------------------------- Distributed Execution


async def test_celery_engine_as_documented(tmp_path: Path) -> None:
    from celery import Celery

    from litestar_workflows.contrib.celery import TASK_NAME, CeleryExecutionEngine

    celery_app = Celery("workflows", broker="redis://localhost:6379/0")
    persistence = f"sqlite+aiosqlite:///{tmp_path / 'workflows.db'}"  # any database URL, engine or session

    engine = CeleryExecutionEngine(
        celery_app=celery_app,
        persistence=persistence,
    )
    # Building it registered the step task, with the settings that keep Celery out of the way.
    task = celery_app.tasks[TASK_NAME]
    assert (task.acks_late, task.reject_on_worker_lost, task.ignore_result) == (True, True, True)
    assert celery_app.conf.worker_prefetch_multiplier == 1
    assert len(engine.registry.list_definitions()) == 0  # register workflows on engine.registry
    await engine.sql_store.close()


async def test_saq_engine_as_documented(tmp_path: Path) -> None:
    from saq import Queue

    from litestar_workflows.contrib.saq import SAQExecutionEngine

    persistence = f"sqlite+aiosqlite:///{tmp_path / 'workflows.db'}"  # any database URL, engine or session
    queue = Queue.from_url("redis://localhost:6379/0")

    engine = SAQExecutionEngine(
        queue=queue,
        persistence=persistence,
    )

    # Without ``registry=`` the engine has its own, empty: workflows are registered on it in a
    # module that the web app and the workers both import (the README's worker module).
    assert engine.registry.list_definitions() == []
    assert engine.worker_settings()["queue"] is queue
    await engine.sql_store.close()


# ----------------------------------------------------------------------------- Execution Guarantees

payments: dict[str, int] = {}
orders_created: list[str] = []


async def payment_exists(payment_id: str) -> bool:
    return payment_id in payments


async def create_payment(payment_id: str) -> None:
    payments[payment_id] = payments.get(payment_id, 0) + 1


async def test_idempotent_step(registry: WorkflowRegistry) -> None:
    # Step might run multiple times in retry scenarios
    class IdempotentStep(BaseMachineStep):
        async def execute(self, context):  # type: ignore[no-untyped-def]
            # Make operations idempotent
            if not await payment_exists(context.get("payment_id")):
                await create_payment(context.get("payment_id"))

    step = IdempotentStep("pay")
    engine = LocalExecutionEngine(registry)
    for _ in range(3):  # run it again and again: one payment
        instance = await engine.start_workflow(simple("pay", "1.0.0", step), {"payment_id": "p-1"})
        await engine.wait(instance.id)
    assert payments == {"p-1": 1}


class Orders:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def get(self, order_id: str) -> dict[str, Any] | None:
        return self.rows.get(order_id)

    async def create(self, order_id: str, **fields: Any) -> dict[str, Any]:
        self.rows[order_id] = {"id": order_id, **fields}
        orders_created.append(order_id)
        return self.rows[order_id]


orders = Orders()


async def test_make_steps_idempotent(registry: WorkflowRegistry) -> None:
    class CreateOrder(BaseMachineStep):
        async def execute(self, context):  # type: ignore[no-untyped-def]
            order_id = context.get("order_id")

            # Check if already created
            existing = await orders.get(order_id)
            if existing:
                context.set("order", existing)
                return

            # Create new order
            order = await orders.create(order_id, total=10)
            context.set("order", order)

    engine = LocalExecutionEngine(registry)
    definition = simple("order", "1.0.0", CreateOrder("create_order"))
    for _ in range(2):
        instance = await engine.start_workflow(definition, {"order_id": "o-1"})
        await engine.wait(instance.id)
        assert instance.context.get("order") == {"id": "o-1", "total": 10}
    assert orders_created == ["o-1"]


async def test_handle_timeouts(registry: WorkflowRegistry) -> None:
    async def slow_operation() -> str:
        await asyncio.Event().wait()  # never finishes
        return "done"

    import asyncio

    class LongRunningStep(BaseMachineStep):
        async def execute(self, context):  # type: ignore[no-untyped-def]
            try:
                result = await asyncio.wait_for(
                    slow_operation(),
                    timeout=0.05,  # 5 minutes in the documentation; shortened for the test
                )
                context.set("result", result)
            except TimeoutError:
                context.set("timeout", True)
                raise

    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow(simple("long", "1.0.0", LongRunningStep("long")))
    await engine.wait(instance.id, timeout=5)
    assert instance.status == WorkflowStatus.FAILED
    assert "TimeoutError" in (instance.error or "")
    # the failed step's context change is not applied: a failing step leaves nothing behind
    assert instance.context.get("timeout") is None


# ----------------------------------------------------------------------------- Workflow Registry


def test_workflow_registry() -> None:
    workflow_v1 = simple("my_workflow", "1.0.0")
    workflow_v2 = simple("my_workflow", "2.0.0")

    from litestar_workflows import WorkflowRegistry

    registry = WorkflowRegistry()

    # Register definitions
    registry.register_definition(workflow_v1)
    registry.register_definition(workflow_v2)

    # Get definition
    definition = registry.get_definition("my_workflow")
    assert definition is workflow_v2
    definition = registry.get_definition("my_workflow", version="1.0.0")
    assert definition is workflow_v1

    # List all workflows
    all_workflows = registry.list_definitions()
    assert all_workflows == [workflow_v2]

    # Check if workflow exists
    found = False
    if registry.has_definition("my_workflow"):
        found = True
    assert found


# ----------------------------------------------------------------------------- Best Practices


async def test_use_persistence_in_production(registry: WorkflowRegistry, tmp_path: Path) -> None:
    from litestar_workflows.db import SQLAlchemyStore, upgrade_database_async

    database_persistence = SQLAlchemyStore.from_url(f"sqlite+aiosqlite:///{tmp_path / 'prod.db'}")
    await upgrade_database_async(database_persistence.db_engine)
    registry.register_definition(my_workflow)

    # Development - in-memory is fine
    engine = LocalExecutionEngine(registry)
    assert (
        await engine.wait((await engine.start_workflow("my_workflow")).id)
    ).status == WorkflowStatus.COMPLETED

    # Production - use persistence
    engine = LocalExecutionEngine(
        registry=registry,
        persistence=database_persistence,
    )
    instance = await engine.start_workflow("my_workflow")
    assert (await engine.wait(instance.id, timeout=10)).status == WorkflowStatus.COMPLETED
    assert (await database_persistence.load_instance(instance.id)).status == WorkflowStatus.COMPLETED  # type: ignore[union-attr]
    await database_persistence.close()


class Metrics:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def increment(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


class Alerting:
    def __init__(self) -> None:
        self.messages: list[str] = []

    async def notify(self, message: str) -> None:
        self.messages.append(message)


metrics = Metrics()
alerting = Alerting()
logger = logging.getLogger("docs.monitoring")


async def test_monitor_execution(registry: WorkflowRegistry, caplog: pytest.LogCaptureFixture) -> None:
    class MonitoringEventBus(EventBus):
        async def emit(self, event):  # type: ignore[no-untyped-def]
            # Record metrics
            metrics.increment(f"workflow.{event.type}")

            # Log for debugging
            logger.info(f"Workflow event: {event}")

            # Alert on failures
            if event.type == "WorkflowFailed":
                await alerting.notify(f"Workflow failed: {event.instance_id}")

    caplog.set_level(logging.INFO, logger="docs.monitoring")
    engine = LocalExecutionEngine(registry, event_bus=MonitoringEventBus())
    instance = await engine.start_workflow(simple("order", "1.0.0", ProcessPayment()), {"card_ok": False})
    await engine.wait(instance.id)
    assert metrics.counts["workflow.WorkflowFailed"] == 1
    assert alerting.messages == [f"Workflow failed: {instance.id}"]
    assert any("Workflow event: WorkflowStarted(" in message for message in caplog.messages)
