"""Repository finders, on SQLite and PostgreSQL: filters, pagination, totals and ordering."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy.exc
from advanced_alchemy.exceptions import DuplicateKeyError
from advanced_alchemy.exceptions import IntegrityError as RepositoryIntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from litestar_workflows.core.types import HumanTaskStatus, StepStatus, StepType, WorkflowStatus
from litestar_workflows.db import (
    HumanTaskModel,
    HumanTaskRepository,
    StepExecutionModel,
    StepExecutionRepository,
    WorkflowDefinitionModel,
    WorkflowDefinitionRepository,
    WorkflowInstanceModel,
    WorkflowInstanceRepository,
    upgrade_database_async,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from sqlalchemy.ext.asyncio import AsyncEngine

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def session(async_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    await upgrade_database_async(async_engine)
    async with AsyncSession(async_engine, expire_on_commit=False) as db_session:
        yield db_session


def _definition(name: str, version: str, *, active: bool = True) -> WorkflowDefinitionModel:
    return WorkflowDefinitionModel(
        name=name, version=version, definition_json={"name": name, "version": version}, is_active=active
    )


def _instance(
    name: str = "approval",
    *,
    status: WorkflowStatus = WorkflowStatus.RUNNING,
    started: datetime = T0,
    tenant: str | None = None,
    user: str | None = None,
) -> WorkflowInstanceModel:
    return WorkflowInstanceModel(
        workflow_name=name,
        workflow_version="1.0.0",
        status=status,
        started_at=started,
        tenant_id=tenant,
        created_by=user,
    )


def _names(models: list[Any]) -> list[str]:
    return [model.created_by for model in models]


# --- definitions --------------------------------------------------------------------------------


async def test_definition_get_by_name_picks_the_semantically_newest_version(session: AsyncSession) -> None:
    repo = WorkflowDefinitionRepository(session=session)
    for version in ("9.0.0", "10.0.0", "2.0.0", "10.1.0-rc.1"):
        await repo.add(_definition("flow", version))
    await repo.add(_definition("other", "99.0.0"))

    newest = await repo.get_by_name("flow")
    assert newest is not None
    assert newest.version == "10.1.0-rc.1"

    exact = await repo.get_by_name("flow", "9.0.0")
    assert exact is not None
    assert exact.version == "9.0.0"
    assert exact.definition_json == {"name": "flow", "version": "9.0.0"}
    assert await repo.get_by_name("flow", "3.0.0") is None
    assert await repo.get_by_name("missing") is None


async def test_definition_active_filters(session: AsyncSession) -> None:
    repo = WorkflowDefinitionRepository(session=session)
    await repo.add_many(
        [
            _definition("b-flow", "10.0.0"),
            _definition("b-flow", "9.0.0"),
            _definition("b-flow", "11.0.0", active=False),
            _definition("a-flow", "1.0.0"),
            _definition("c-flow", "1.0.0", active=False),
        ]
    )

    active = await repo.list_active()
    assert [(d.name, d.version) for d in active] == [
        ("a-flow", "1.0.0"),
        ("b-flow", "9.0.0"),
        ("b-flow", "10.0.0"),
    ]
    newest_any = await repo.get_by_name("b-flow", active_only=False)
    newest_active = await repo.get_by_name("b-flow", active_only=True)
    assert newest_any is not None
    assert newest_any.version == "11.0.0"
    assert newest_active is not None
    assert newest_active.version == "10.0.0"
    assert await repo.get_by_name("c-flow", active_only=True) is None


async def test_definition_name_and_version_are_unique(session: AsyncSession) -> None:
    repo = WorkflowDefinitionRepository(session=session)
    await repo.add(_definition("flow", "1.0.0"))
    await session.commit()

    with pytest.raises(RepositoryIntegrityError) as excinfo:
        await repo.add(_definition("flow", "1.0.0"))
    await session.rollback()
    # advanced-alchemy narrows this to DuplicateKeyError by matching the driver's message: that works for
    # SQLite but not for asyncpg, whose message lacks the DETAIL line its regex expects.
    if session.bind.dialect.name == "sqlite":
        assert isinstance(excinfo.value, DuplicateKeyError)
    cause = excinfo.value.__cause__
    assert isinstance(cause, sqlalchemy.exc.IntegrityError)
    assert "uq_workflow_definitions_name_version" in str(cause) or "UNIQUE constraint failed" in str(cause)

    await repo.add(_definition("flow", "1.0.1"))  # the session is usable again
    assert len(await repo.get_many()) == 2


# --- instances ----------------------------------------------------------------------------------


async def test_find_instances_filters_pages_and_counts(session: AsyncSession) -> None:
    repo = WorkflowInstanceRepository(session=session)
    hour = timedelta(hours=1)
    await repo.add_many(
        [
            _instance(started=T0 + 0 * hour, status=WorkflowStatus.COMPLETED, tenant="acme", user="u0"),
            _instance(started=T0 + 1 * hour, status=WorkflowStatus.RUNNING, tenant="acme", user="u1"),
            _instance(started=T0 + 2 * hour, status=WorkflowStatus.WAITING, tenant="acme", user="u2"),
            _instance(started=T0 + 3 * hour, status=WorkflowStatus.RUNNING, tenant="globex", user="u3"),
            _instance("onboarding", started=T0 + 4 * hour, status=WorkflowStatus.RUNNING, user="u4"),
            _instance(started=T0 + 5 * hour, status=WorkflowStatus.FAILED, tenant="acme", user="u5"),
        ]
    )

    everything, total = await repo.find_instances()
    assert total == 6
    assert _names(everything) == ["u5", "u4", "u3", "u2", "u1", "u0"]  # newest first

    page, total = await repo.find_instances(limit=2, offset=2)
    assert (_names(page), total) == (["u3", "u2"], 6)
    past_the_end, total = await repo.find_instances(limit=2, offset=10)
    assert (past_the_end, total) == ([], 6)

    running, total = await repo.find_instances(status=WorkflowStatus.RUNNING)
    assert (_names(running), total) == (["u4", "u3", "u1"], 3)
    active, total = await repo.find_instances(status=[WorkflowStatus.RUNNING, "waiting"], tenant_id="acme")
    assert (_names(active), total) == (["u2", "u1"], 2)
    by_name, total = await repo.find_instances(workflow_name="onboarding")
    assert (_names(by_name), total) == (["u4"], 1)
    by_user, total = await repo.find_instances(created_by="u3", tenant_id="globex")
    assert (_names(by_user), total) == (["u3"], 1)

    # started_after is inclusive, started_before exclusive: adjacent windows never overlap.
    window, total = await repo.find_instances(started_after=T0 + 1 * hour, started_before=T0 + 3 * hour)
    assert (_names(window), total) == (["u2", "u1"], 2)
    other_zone = datetime(2024, 5, 1, 19, 0, tzinfo=timezone(timedelta(hours=2)))  # 17:00 UTC
    late, total = await repo.find_instances(started_after=other_zone)
    assert (_names(late), total) == (["u5"], 1)
    first_page_of_filter, total = await repo.find_instances(tenant_id="acme", limit=1)
    assert (_names(first_page_of_filter), total) == (["u5"], 4)


async def test_find_instances_rejects_naive_datetimes_and_bad_pages(session: AsyncSession) -> None:
    repo = WorkflowInstanceRepository(session=session)
    with pytest.raises(ValueError, match="timezone-aware"):
        await repo.find_instances(started_after=datetime(2024, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="must not be negative"):
        await repo.find_instances(offset=-1)


async def test_get_running(session: AsyncSession) -> None:
    repo = WorkflowInstanceRepository(session=session)
    await repo.add_many(
        [
            _instance(started=T0 + timedelta(minutes=5), user="later"),
            _instance(started=T0, user="earlier"),
            _instance(status=WorkflowStatus.PAUSED, user="paused"),
            _instance(status=WorkflowStatus.COMPLETED, user="done"),
        ]
    )

    assert _names(await repo.get_running()) == ["earlier", "later"]


# --- step executions ----------------------------------------------------------------------------


async def test_step_history_is_chronological(session: AsyncSession) -> None:
    instance = await WorkflowInstanceRepository(session=session).add(_instance())
    other = await WorkflowInstanceRepository(session=session).add(_instance())
    repo = StepExecutionRepository(session=session)

    def step(
        name: str, *, started: datetime | None, created: datetime, attempt: int = 1
    ) -> StepExecutionModel:
        return StepExecutionModel(
            instance_id=instance.id,
            step_name=name,
            step_type=StepType.MACHINE,
            status=StepStatus.SUCCEEDED if started else StepStatus.PENDING,
            started_at=started,
            created_at=created,
            attempt=attempt,
        )

    minute = timedelta(minutes=1)
    await repo.add_many(
        [
            step("pending-last", started=None, created=T0 + 9 * minute),
            step("retry", started=T0 + 3 * minute, created=T0 + 3 * minute, attempt=2),
            step("first", started=T0 + 1 * minute, created=T0),
            step("retry", started=T0 + 2 * minute, created=T0 + 2 * minute, attempt=1),
            step("never-started", started=None, created=T0 + 150 * timedelta(seconds=1)),
        ]
    )
    await repo.add(
        StepExecutionModel(
            instance_id=other.id, step_name="elsewhere", step_type=StepType.MACHINE, status=StepStatus.PENDING
        )
    )

    history = await repo.get_history(instance.id)

    assert [(s.step_name, s.attempt) for s in history] == [
        ("first", 1),
        ("retry", 1),
        ("never-started", 1),
        ("retry", 2),
        ("pending-last", 1),
    ]
    assert await repo.get_history(uuid.uuid4()) == []


# --- human tasks --------------------------------------------------------------------------------


async def _seed_tasks(session: AsyncSession) -> dict[str, WorkflowInstanceModel]:
    instances = {
        "acme": _instance(tenant="acme", user="acme-owner"),
        "globex": _instance(tenant="globex", user="globex-owner"),
    }
    session.add_all(instances.values())
    await session.flush()
    specs: list[tuple[str, str, str | None, str | None, HumanTaskStatus, datetime | None]] = [
        # title, tenant, assignee, group, status, due
        ("t1-alice-due-late", "acme", "alice", None, HumanTaskStatus.PENDING, T0 + timedelta(days=3)),
        ("t2-managers-due-soon", "acme", None, "managers", HumanTaskStatus.PENDING, T0 + timedelta(days=1)),
        ("t3-alice-no-due", "acme", "alice", None, HumanTaskStatus.PENDING, None),
        ("t4-alice-done", "acme", "alice", None, HumanTaskStatus.COMPLETED, T0),
        ("t5-bob-globex", "globex", "bob", None, HumanTaskStatus.PENDING, T0 + timedelta(days=2)),
        ("t6-finance-globex", "globex", None, "finance", HumanTaskStatus.CANCELED, None),
    ]
    for title, tenant, assignee, group, status, due in specs:
        instance = instances[tenant]
        step = StepExecutionModel(
            instance_id=instance.id, step_name=title, step_type=StepType.HUMAN, status=StepStatus.WAITING
        )
        session.add(step)
        await session.flush()
        session.add(
            HumanTaskModel(
                instance_id=instance.id,
                step_execution_id=step.id,
                step_name=title,
                title=title,
                form_schema={"type": "object"},
                assignee_id=assignee,
                assignee_group=group,
                status=status,
                due_at=due,
            )
        )
    await session.flush()
    return instances


def _titles(tasks: list[HumanTaskModel]) -> list[str]:
    return [task.title for task in tasks]


async def test_find_tasks_filters_pages_and_counts(session: AsyncSession) -> None:
    instances = await _seed_tasks(session)
    repo = HumanTaskRepository(session=session)

    every, total = await repo.find_tasks()
    # Most urgent first; tasks without a due date last (then by creation).
    assert (_titles(every), total) == (
        [
            "t4-alice-done",
            "t2-managers-due-soon",
            "t5-bob-globex",
            "t1-alice-due-late",
            "t3-alice-no-due",
            "t6-finance-globex",
        ],
        6,
    )
    pending, total = await repo.find_tasks(status=HumanTaskStatus.PENDING, limit=2)
    assert (_titles(pending), total) == (["t2-managers-due-soon", "t5-bob-globex"], 4)
    pending_rest, total = await repo.find_tasks(status=HumanTaskStatus.PENDING, limit=2, offset=2)
    assert (_titles(pending_rest), total) == (["t1-alice-due-late", "t3-alice-no-due"], 4)

    alice, total = await repo.find_tasks(assignee_id="alice", status=["pending", "completed"])
    assert (_titles(alice), total) == (["t4-alice-done", "t1-alice-due-late", "t3-alice-no-due"], 3)
    managers, total = await repo.find_tasks(assignee_group="managers")
    assert (_titles(managers), total) == (["t2-managers-due-soon"], 1)
    due_soon, total = await repo.find_tasks(due_before=T0 + timedelta(days=2))
    assert (_titles(due_soon), total) == (["t4-alice-done", "t2-managers-due-soon"], 2)

    globex, total = await repo.find_tasks(tenant_id="globex")
    assert (_titles(globex), total) == (["t5-bob-globex", "t6-finance-globex"], 2)
    acme_pending, total = await repo.find_tasks(tenant_id="acme", status=HumanTaskStatus.PENDING, limit=1)
    assert (_titles(acme_pending), total) == (["t2-managers-due-soon"], 3)
    by_instance, total = await repo.find_tasks(instance_id=instances["globex"].id, assignee_id="bob")
    assert (_titles(by_instance), total) == (["t5-bob-globex"], 1)
    nothing, total = await repo.find_tasks(tenant_id="initech")
    assert (nothing, total) == ([], 0)

    with pytest.raises(ValueError, match="timezone-aware"):
        await repo.find_tasks(due_before=datetime(2024, 1, 1))  # noqa: DTZ001


async def test_get_pending_for_user(session: AsyncSession) -> None:
    await _seed_tasks(session)
    repo = HumanTaskRepository(session=session)

    assert _titles(await repo.get_pending_for_user("alice")) == ["t1-alice-due-late", "t3-alice-no-due"]
    assert _titles(await repo.get_pending_for_user("alice", groups=["managers", "finance"])) == [
        "t2-managers-due-soon",
        "t1-alice-due-late",
        "t3-alice-no-due",
    ]
    assert _titles(await repo.get_pending_for_user("carol", groups=("finance",))) == []  # t6 is canceled
    assert await repo.get_pending_for_user("nobody") == []
