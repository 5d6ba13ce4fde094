"""The testing kit: an engine on a manual clock skips timers and back-offs, on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    RetryPolicy,
    TimerStep,
    WorkflowDefinition,
    WorkflowStatus,
)
from litestar_workflows.core.errors import TaskNotFoundError
from litestar_workflows.core.types import StepStatus
from litestar_workflows.testing import WorkflowTestEnvironment

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


class Stamp(BaseMachineStep):
    """Writes the engine clock's time (passed in by the test through a closure)."""

    def __init__(self, name: str, clock) -> None:
        super().__init__(name)
        self.clock = clock

    async def execute(self, context):
        context.set(f"{self.name}_at", self.clock().isoformat())


class Flaky(BaseMachineStep):
    """Fails the first ``failures`` attempts, then succeeds."""

    def __init__(self, name: str, failures: int, policy: RetryPolicy) -> None:
        super().__init__(name, retry_policy=policy)
        self.failures = failures
        self.attempts = 0

    async def execute(self, context):
        self.attempts += 1
        if self.attempts <= self.failures:
            raise ConnectionError(f"attempt {self.attempts} failed")
        context.set("delivered_after", self.attempts)


class Approve(BaseHumanStep):
    title = "Approve"
    assignee = "ann"
    form_schema = {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"]}


class GroupApprove(BaseHumanStep):
    title = "Approve (team)"
    assignee_group = "finance"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def where(request: pytest.FixtureRequest) -> dict[str, Any]:
    """How the environment is started: memory, a temporary SQLite file, or a PostgreSQL server."""
    if request.param == "postgresql":
        # The scratch fixture skips when the server is down; the environment makes its own schema.
        return {"database_url": request.getfixturevalue("scratch_postgres").url}
    return {"sqlite": request.param == "sqlite"}


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def durable(request: pytest.FixtureRequest) -> dict[str, Any]:
    """How a persistent environment is started: a temporary SQLite file, or a PostgreSQL server."""
    if request.param == "postgresql":
        return {"database_url": request.getfixturevalue("scratch_postgres").url}
    return {"sqlite": True}


@pytest.fixture
async def env(where: dict[str, Any]) -> AsyncIterator[WorkflowTestEnvironment]:
    environment = await WorkflowTestEnvironment.start(**where, start_time=T0)
    async with environment:
        yield environment


def cooling_off(env: WorkflowTestEnvironment) -> WorkflowDefinition:
    definition = WorkflowDefinition(
        name="cooling-off",
        steps={
            "sign": Stamp("sign", env.clock),
            "wait": TimerStep("wait", timedelta(days=3)),
            "ship": Stamp("ship", env.clock),
        },
        edges=[Edge("sign", "wait"), Edge("wait", "ship")],
        initial_step="sign",
    )
    env.register(definition)
    return definition


async def test_a_three_day_timer_passes_when_the_test_advances_three_days(
    env: WorkflowTestEnvironment,
) -> None:
    cooling_off(env)
    instance = await env.start_workflow("cooling-off")
    assert instance.status is WorkflowStatus.WAITING
    assert instance.current_step == "wait"

    await env.advance(timedelta(days=2, hours=23, minutes=59))
    assert (await env.run_until_settled(instance)).status is WorkflowStatus.WAITING

    assert await env.advance(timedelta(minutes=1)) == T0 + timedelta(days=3)
    done = await env.run_until_settled(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data["sign_at"] == T0.isoformat()
    assert done.data["ship_at"] == (T0 + timedelta(days=3)).isoformat()  # fired at its due time


async def test_timers_fire_in_due_order_at_their_own_time_within_one_advance(
    env: WorkflowTestEnvironment,
) -> None:
    cooling_off(env)
    first = await env.start_workflow("cooling-off")
    await env.advance(timedelta(days=1))
    second = await env.start_workflow("cooling-off")

    await env.advance(timedelta(days=30))

    first, second = await env.run_until_settled(first), await env.run_until_settled(second)
    assert first.data["ship_at"] == (T0 + timedelta(days=3)).isoformat()
    assert second.data["ship_at"] == (T0 + timedelta(days=4)).isoformat()
    assert env.clock() == T0 + timedelta(days=31)


async def test_a_retry_back_off_is_skipped_by_advancing_past_it(env: WorkflowTestEnvironment) -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay=600, backoff=2, max_delay=3600, jitter=0)
    flaky = Flaky("deliver", failures=2, policy=policy)
    env.register(WorkflowDefinition(name="delivery", steps={"deliver": flaky}, initial_step="deliver"))

    instance = await env.start_workflow("delivery")
    assert instance.status is WorkflowStatus.RUNNING  # the second attempt waits ten minutes
    assert flaky.attempts == 1

    await env.advance(timedelta(minutes=9))
    assert flaky.attempts == 1
    await env.advance(timedelta(minutes=1))
    assert flaky.attempts == 2  # the back-off doubles: twenty more minutes
    await env.advance(timedelta(minutes=20))

    done = await env.run_until_settled(instance)
    assert done.status is WorkflowStatus.COMPLETED
    assert done.data["delivered_after"] == 3
    (execution,) = done.step_history
    assert (execution.status, execution.attempt) == (StepStatus.SUCCEEDED, 3)
    assert execution.completed_at == T0 + timedelta(minutes=30)  # ten, then twenty minutes later


async def test_skip_time_runs_through_every_timer_until_a_person_must_act(
    env: WorkflowTestEnvironment,
) -> None:
    env.register(
        WorkflowDefinition(
            name="notice",
            steps={
                "wait": TimerStep("wait", timedelta(days=14)),
                "approve": Approve("approve"),
                "after": TimerStep("after", timedelta(hours=1)),
            },
            edges=[Edge("wait", "approve"), Edge("approve", "after")],
            initial_step="wait",
        )
    )
    instance = await env.start_workflow("notice")

    waiting = await env.run_until_settled(instance, skip_time=True)
    assert waiting.status is WorkflowStatus.WAITING
    assert waiting.current_step == "approve"
    assert env.clock() == T0 + timedelta(days=14)

    await env.complete_task(instance, "approve", data={"ok": True})  # ann: the step's assignee
    done = await env.run_until_settled(instance, skip_time=True)
    assert done.status is WorkflowStatus.COMPLETED
    assert env.clock() == T0 + timedelta(days=14, hours=1)


async def test_complete_task_names_a_missing_task_and_a_group_task_without_a_user(
    env: WorkflowTestEnvironment,
) -> None:
    env.register(
        WorkflowDefinition(name="team", steps={"approve": GroupApprove("approve")}, initial_step="approve")
    )
    instance = await env.start_workflow("team")

    with pytest.raises(ValueError, match="group 'finance'.*user="):
        await env.complete_task(instance, "approve")
    with pytest.raises(TaskNotFoundError, match="no pending task at step 'nope'"):
        await env.complete_task(instance, "nope")
    assert [task.step_name for task in await env.pending_tasks(instance)] == ["approve"]

    done = await env.complete_task(instance, "approve", user="bob")
    assert done.status is WorkflowStatus.COMPLETED
    assert await env.pending_tasks() == []


async def test_a_timer_armed_before_a_restart_fires_when_time_advances_after_it(
    durable: dict[str, Any],
) -> None:
    async with await WorkflowTestEnvironment.start(**durable, start_time=T0) as env:
        cooling_off(env)
        instance = await env.start_workflow("cooling-off")
        await env.restart()
        assert (await env.engine.get_instance(instance.id)).status is WorkflowStatus.WAITING

        await env.advance(timedelta(days=3))
        done = await env.run_until_settled(instance)
        assert done.status is WorkflowStatus.COMPLETED
        assert "ship_at" in done.data


async def test_restart_refuses_the_memory_store() -> None:
    async with await WorkflowTestEnvironment.start() as env:
        with pytest.raises(RuntimeError, match="sqlite=True"):
            await env.restart()


def _exists(path: Path) -> bool:
    return path.exists()


async def test_a_temporary_database_is_removed_when_the_environment_stops() -> None:
    env = await WorkflowTestEnvironment.start(sqlite=True)
    url = env.database_url
    assert url is not None
    path = Path(url.split("///", 1)[1])
    assert _exists(path)
    await env.stop()
    assert not _exists(path.parent)


async def schemas_of(url: str) -> set[str]:
    """The schemas on the PostgreSQL server, as another connection sees them."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT table_schema FROM information_schema.tables WHERE table_name = 'workflow_instances'"
                )
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_on_postgresql_the_environment_keeps_its_rows_in_a_schema_it_drops_when_it_stops(
    scratch_postgres: Any,
) -> None:
    url = scratch_postgres.url
    env = await WorkflowTestEnvironment.start(database_url=url, start_time=T0)
    try:
        assert env.database_url == url
        schema = env.schema
        assert schema is not None
        assert schema.startswith("workflows_test_")
        assert schema in await schemas_of(url)
        cooling_off(env)
        instance = await env.start_workflow("cooling-off")
        async with await WorkflowTestEnvironment.start(database_url=url) as neighbour:
            assert neighbour.schema not in (None, schema)
            assert (await neighbour.engine.find_instances()).total == 0  # the other test's rows are apart
        assert await env.advance(timedelta(days=3)) == T0 + timedelta(days=3)  # no sleeping
        done = await env.run_until_settled(instance)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data["ship_at"] == (T0 + timedelta(days=3)).isoformat()
    finally:
        await env.stop()
    assert schema not in await schemas_of(url)
    await env.stop()  # twice: nothing left to drop, no error


async def test_sqlite_and_a_database_url_are_one_choice() -> None:
    with pytest.raises(ValueError, match="not both"):
        await WorkflowTestEnvironment.start(sqlite=True, database_url="sqlite+aiosqlite:///x.db")


class Sign(BaseHumanStep):
    title = "Sign"
    assignee = "ann"
    reminder_in = timedelta(days=1)
    due_in = timedelta(days=2)
    escalate_to = "bob"


async def test_a_task_reminder_and_due_date_fire_as_time_advances(where: dict[str, Any]) -> None:
    from litestar_workflows import EventBus, HumanTaskOverdue, HumanTaskReminder

    definition = WorkflowDefinition(name="sign", steps={"sign": Sign("sign")}, initial_step="sign")
    seen: list[tuple[str, datetime]] = []
    bus = EventBus()
    env = await WorkflowTestEnvironment.start(definition, **where, start_time=T0, event_bus=bus)

    async def record(event) -> None:
        seen.append((type(event).__name__, env.clock()))

    bus.subscribe(record, (HumanTaskReminder, HumanTaskOverdue))
    async with env:
        instance = await env.start_workflow("sign")
        (task,) = await env.pending_tasks(instance)
        assert (task.assignee_id, task.due_at) == ("ann", T0 + timedelta(days=2))

        await env.advance(timedelta(days=1))
        assert seen == [("HumanTaskReminder", T0 + timedelta(days=1))]
        await env.advance(timedelta(days=5))
        assert seen[1:] == [("HumanTaskOverdue", T0 + timedelta(days=2))]  # once, at its due time
        (task,) = await env.pending_tasks(instance)
        assert task.assignee_id == "bob"  # escalated

        done = await env.complete_task(instance, "sign")  # as bob, the assignee now
        assert done.status is WorkflowStatus.COMPLETED
