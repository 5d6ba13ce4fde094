"""Who may cancel, retry, pause and resume an instance, on every store: memory, SQLite file, PostgreSQL.

The engine checks the acting user only when a call names one (``user_id=``); calls without a user
come from trusted code and keep working as documented. A refusal leaves the instance untouched.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import running_engine
from engine_kinds import stored

from litestar_workflows import (
    BaseHumanStep,
    CreatorOrAdminAuthorizer,
    Edge,
    InstanceAuthorizer,
    InvalidTransitionError,
    LocalExecutionEngine,
    UnauthorizedInstanceError,
    WorkflowAlreadyCompletedError,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Collection

    from conftest import ScratchDatabase
    from litestar_workflows import InstanceAction, WorkflowInstanceData

ADMINS = {"root": ("admins",), "erik": ("staff",)}


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve"
    assignee = "maria"


def registry(failures: list[str]) -> WorkflowRegistry:
    """``approval`` waits for a person; ``fragile`` fails while ``failures`` has entries."""

    def work(context: Any) -> None:
        if failures:
            raise RuntimeError(failures.pop())

    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="approval",
            steps=[Fn("begin"), Approve()],
            edges=[Edge("begin", "approve")],
            initial_step="begin",
        )
    )
    reg.register(WorkflowDefinition(name="fragile", steps=[Fn("work", work)], edges=[], initial_step="work"))
    reg.register(
        WorkflowDefinition(
            name="gated",
            steps=[Fn("check", work), Approve(), Fn("book")],
            edges=[Edge("check", "approve"), Edge("approve", "book")],
            initial_step="check",
        )
    )
    return reg


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    """The store under test: ``None`` for memory, else a private scratch database."""
    if request.param == "memory":
        return None
    db: ScratchDatabase = request.getfixturevalue(
        {"sqlite": "scratch_sqlite", "postgresql": "scratch_postgres"}[request.param]
    )
    return db


@asynccontextmanager
async def engine_on(
    database: ScratchDatabase | None, failures: list[str] | None = None, **options: Any
) -> AsyncIterator[LocalExecutionEngine]:
    reg = registry(failures if failures is not None else [])
    if database is None:
        async with LocalExecutionEngine(reg, **options) as engine:
            yield engine
        return
    await database.migrate()
    async with running_engine(database, reg, **options) as engine:
        yield engine


async def waiting(engine: LocalExecutionEngine, created_by: str | None = "erik") -> WorkflowInstanceData:
    instance = await engine.start_workflow("approval", {}, created_by=created_by)
    settled = await engine.wait(instance.id, timeout=30)
    assert settled.status is WorkflowStatus.WAITING
    return settled


async def test_only_the_creator_may_cancel_and_a_refusal_changes_nothing(
    database: ScratchDatabase | None,
) -> None:
    async with engine_on(database) as engine:
        instance = await waiting(engine)

        with pytest.raises(UnauthorizedInstanceError) as refused:
            await engine.cancel_workflow(instance.id, "not mine", user_id="mallory")
        assert "'mallory' may not cancel" in str(refused.value)
        assert str(instance.id) in str(refused.value)
        assert "started by 'erik'" in str(refused.value)
        with pytest.raises(UnauthorizedInstanceError, match="user id is required"):
            await engine.cancel_workflow(instance.id, user_id="")

        untouched = await engine.store.load_instance(instance.id)
        assert untouched is not None
        assert untouched.status is WorkflowStatus.WAITING
        assert [t.step_name for t in untouched.runtime.pending_tasks.values()] == ["approve"]

        canceled = await engine.cancel_workflow(instance.id, "duplicate", user_id="erik")
        assert canceled.status is WorkflowStatus.CANCELED
        stored = await engine.store.load_instance(instance.id)
        assert stored is not None
        assert stored.status is WorkflowStatus.CANCELED


async def test_calls_without_a_user_are_trusted(database: ScratchDatabase | None) -> None:
    async with engine_on(database) as engine:
        nobody_s = await waiting(engine, created_by=None)
        assert (await engine.pause_workflow(nobody_s.id)).status is WorkflowStatus.PAUSED
        assert (await engine.resume_workflow(nobody_s.id)).status is WorkflowStatus.WAITING
        assert (await engine.cancel_workflow(nobody_s.id, "by an operator")).status is WorkflowStatus.CANCELED


async def test_a_refusal_comes_before_the_state_check(database: ScratchDatabase | None) -> None:
    """A stranger learns nothing about an instance's state: finished or not, the answer is a refusal."""
    async with engine_on(database) as engine:
        instance = await waiting(engine)
        await engine.cancel_workflow(instance.id, user_id="erik")
        with pytest.raises(UnauthorizedInstanceError):
            await engine.cancel_workflow(instance.id, user_id="mallory")
        with pytest.raises(UnauthorizedInstanceError):
            await engine.retry(instance.id, user_id="mallory")


async def test_retry_pause_and_resume_are_checked_too(database: ScratchDatabase | None) -> None:
    failures = ["disk full"]
    async with engine_on(database, failures) as engine:
        started = await engine.start_workflow("fragile", {}, created_by="erik")
        failed = await engine.wait(started.id, timeout=30, until=FINISHED)
        assert failed.status is WorkflowStatus.FAILED

        with pytest.raises(UnauthorizedInstanceError, match="'mallory' may not retry"):
            await engine.retry(started.id, user_id="mallory")
        assert (await engine.get_instance(started.id)).status is WorkflowStatus.FAILED
        await engine.retry(started.id, user_id="erik")
        assert (await engine.wait(started.id, timeout=30, until=FINISHED)).status is WorkflowStatus.COMPLETED

        instance = await waiting(engine)
        with pytest.raises(UnauthorizedInstanceError, match="'mallory' may not pause"):
            await engine.pause_workflow(instance.id, user_id="mallory")
        assert (await engine.pause_workflow(instance.id, user_id="erik")).status is WorkflowStatus.PAUSED
        with pytest.raises(UnauthorizedInstanceError, match="'mallory' may not resume"):
            await engine.resume_workflow(instance.id, user_id="mallory")
        assert (await engine.get_instance(instance.id)).status is WorkflowStatus.PAUSED
        assert (await engine.resume_workflow(instance.id, user_id="erik")).status is WorkflowStatus.WAITING


async def test_a_restart_further_on_is_for_administrators(database: ScratchDatabase | None) -> None:
    """Retrying from a step other than the failed or the first one could skip an approval between.

    The creator may retry from the failed step or start over; a step of one's choosing is the
    ``retry_from`` action, which the default authorizer allows administrators only (trusted code,
    without a user, may jump anywhere).
    """
    authorizer = CreatorOrAdminAuthorizer(["admins"], groups_of=lambda user: ADMINS.get(user, ()))
    async with engine_on(database, ["bad request", "bad request"], instance_authorizer=authorizer) as engine:
        started = await engine.start_workflow("gated", {}, created_by="erik")
        assert (await engine.wait(started.id, timeout=30, until=FINISHED)).status is WorkflowStatus.FAILED
        for step in ("book", "approve"):
            with pytest.raises(
                UnauthorizedInstanceError,
                match="'erik' may not retry workflow instance .* from a step of their choosing .*administrators",
            ):
                await engine.retry(started.id, step, user_id="erik")
        kept = await engine.get_instance(started.id)
        assert kept.status is WorkflowStatus.FAILED
        assert [run.step_name for run in kept.step_history] == ["check"]
        await engine.retry(started.id, "check", user_id="erik")  # the failed (and first) step: allowed
        assert (await engine.wait(started.id, timeout=30, until=FINISHED)).status is WorkflowStatus.FAILED
        await engine.retry(started.id, "book", user_id="root")  # an administrator may choose
        done = await engine.wait(started.id, timeout=30, until=FINISHED)
        assert done.status is WorkflowStatus.COMPLETED
        assert "approve" not in {run.step_name for run in done.step_history}


async def test_a_failed_instance_is_given_up_by_canceling_it(database: ScratchDatabase | None) -> None:
    """Canceling a failed instance closes it: stored as canceled, the failure kept, no retry any more."""
    async with engine_on(database, ["disk full"]) as engine:
        started = await engine.start_workflow("fragile", {}, created_by="erik")
        assert (await engine.wait(started.id, timeout=30, until=FINISHED)).status is WorkflowStatus.FAILED
        with pytest.raises(UnauthorizedInstanceError, match="'mallory' may not cancel"):
            await engine.cancel_workflow(started.id, "not mine", user_id="mallory")
        assert (await engine.get_instance(started.id)).status is WorkflowStatus.FAILED
        canceled = await engine.cancel_workflow(started.id, "the order was withdrawn", user_id="erik")
        assert canceled.status is WorkflowStatus.CANCELED
        expected = "the order was withdrawn (it had failed: step 'work' failed: RuntimeError: disk full)"
        assert canceled.error == expected
        kept = await stored(engine, started.id)
        assert (kept.status, kept.error) == (WorkflowStatus.CANCELED, expected)
        assert [run.error for run in kept.step_history] == ["RuntimeError: disk full"]
        with pytest.raises(InvalidTransitionError, match="only a failed instance can be retried"):
            await engine.retry(started.id)
        with pytest.raises(WorkflowAlreadyCompletedError, match="it is already canceled"):
            await engine.cancel_workflow(started.id, "twice")


async def test_administrators_act_on_every_instance(database: ScratchDatabase | None) -> None:
    async def is_admin(user: str) -> bool:
        return user == "ops"

    authorizer = CreatorOrAdminAuthorizer(
        ["admins"], is_admin=is_admin, groups_of=lambda user: ADMINS.get(user, ())
    )
    async with engine_on(database, instance_authorizer=authorizer) as engine:
        by_group_of = await waiting(engine)
        by_given_group = await waiting(engine)
        by_predicate = await waiting(engine)
        without_creator = await waiting(engine, created_by=None)

        with pytest.raises(UnauthorizedInstanceError):  # a group that is not an admin group
            await engine.cancel_workflow(by_group_of.id, user_id="maria", groups=["staff"])
        with pytest.raises(UnauthorizedInstanceError, match="no creator recorded"):
            await engine.cancel_workflow(without_creator.id, user_id="erik")

        await engine.cancel_workflow(by_group_of.id, user_id="root")  # groups_of says admins
        await engine.cancel_workflow(
            by_given_group.id, user_id="maria", groups=["admins"]
        )  # the caller says so
        await engine.cancel_workflow(by_predicate.id, user_id="ops")
        await engine.cancel_workflow(without_creator.id, user_id="ops")
        for instance in (by_group_of, by_given_group, by_predicate, without_creator):
            assert (await engine.get_instance(instance.id)).status is WorkflowStatus.CANCELED


class Recording:
    """An authorizer of the app's own: allows only what it is told to, and records every question."""

    def __init__(self, allowed: set[InstanceAction]) -> None:
        self.allowed = allowed
        self.asked: list[tuple[str, str, tuple[str, ...]]] = []

    async def can_act(
        self,
        instance: WorkflowInstanceData,
        user_id: str,
        action: InstanceAction,
        groups: Collection[str] = (),
    ) -> bool:
        self.asked.append((user_id, action, tuple(groups)))
        return action in self.allowed


async def test_a_custom_authorizer_decides(database: ScratchDatabase | None) -> None:
    custom = Recording({"pause"})
    assert isinstance(custom, InstanceAuthorizer)
    async with engine_on(database, instance_authorizer=custom) as engine:
        instance = await waiting(engine)
        await engine.pause_workflow(instance.id, user_id="bob", groups=("ops",))
        with pytest.raises(UnauthorizedInstanceError):
            await engine.cancel_workflow(instance.id, user_id="erik")  # even the creator: the app decides
        assert custom.asked == [("bob", "pause", ("ops",)), ("erik", "cancel", ())]
        assert (await engine.get_instance(instance.id)).status is WorkflowStatus.PAUSED


def test_admin_groups_must_be_a_collection_of_names() -> None:
    with pytest.raises(TypeError, match="not one string"):
        CreatorOrAdminAuthorizer("admins")
