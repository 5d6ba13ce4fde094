"""Task deadlines: a reminder and a due time fire once each, durably, and may escalate the task.

Time is a test clock that engines read and arm their timers on (``engine.timers``): a deadline
an hour away fires when the test moves the clock, and a restarted engine's sweep (``recover()``,
called here instead of waiting for its poll) finds what came due meanwhile.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import running_engine
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored

from deadline_kit import HOUR, START, Recorder, TestClock, registry_of, review, settled
from litestar_workflows import (
    BaseHumanStep,
    EventBus,
    HumanTaskOverdue,
    HumanTaskReassigned,
    HumanTaskReminder,
    WorkflowDefinition,
    WorkflowStatus,
    WorkflowValidationError,
)
from step_kit import FINISHED

if TYPE_CHECKING:
    from conftest import ScratchDatabase


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


async def test_reminder_then_overdue_escalates_to_a_group(database: ScratchDatabase | None) -> None:
    clock, bus = TestClock(), EventBus()
    seen = Recorder(bus)
    async with engine_for(database, registry_of(review()), clock=clock, event_bus=bus) as engine:
        instance = await engine.start_workflow("review")
        await engine.wait(instance.id)
        [task] = await engine.get_pending_tasks("bob")
        assert (task.reminder_at, task.due_at) == (START + HOUR, START + 2 * HOUR)

        clock.advance(HOUR)
        [reminder] = await seen.wait_for(HumanTaskReminder)
        assert (reminder.task_id, reminder.assignee_id, reminder.due_at) == (task.id, "bob", START + 2 * HOUR)
        assert seen.of(HumanTaskOverdue) == []

        clock.advance(HOUR)
        [overdue] = await seen.wait_for(HumanTaskOverdue)
        [moved] = await seen.wait_for(HumanTaskReassigned)
        assert (overdue.task_id, overdue.escalated_to) == (task.id, "group:finance")
        assert (moved.previous_assignee, moved.new_assignee) == ("bob", None)
        escalated = await engine.get_task(task.id)
        assert (escalated.assignee_id, escalated.assignee_group) == (None, "finance")
        assert [t.id for t in await engine.get_pending_tasks("cy", groups=["finance"])] == [task.id]

        clock.advance(24 * HOUR)
        await settled(engine)
        assert len(seen.of(HumanTaskReminder)) == len(seen.of(HumanTaskOverdue)) == 1
        assert clock.armed() == 0
        done = await engine.complete_human_task(instance.id, "approve", "cy", {"ok": True})
        assert (await engine.wait(done.id, until=FINISHED)).status is WorkflowStatus.COMPLETED


async def test_escalation_to_a_user_hands_the_task_over(database: ScratchDatabase | None) -> None:
    clock, bus = TestClock(), EventBus()
    seen = Recorder(bus)
    async with engine_for(database, registry_of(review("lead")), clock=clock, event_bus=bus) as engine:
        instance = await engine.start_workflow("review")
        await engine.wait(instance.id)
        clock.advance(3 * HOUR)  # both deadlines at once: reminder first
        await seen.wait_for(HumanTaskReassigned)
        assert [type(e) for e in seen.events] == [HumanTaskReminder, HumanTaskOverdue, HumanTaskReassigned]
        [task] = await engine.get_pending_tasks("lead")
        assert (task.assignee_id, task.assignee_group) == ("lead", "staff")
        assert await engine.get_pending_tasks("bob") == []
        await engine.complete_human_task(instance.id, "approve", "lead", {"ok": True})
        assert (await engine.wait(instance.id, until=FINISHED)).status is WorkflowStatus.COMPLETED


async def test_completion_before_the_reminder_fires_nothing(database: ScratchDatabase | None) -> None:
    clock, bus = TestClock(), EventBus()
    seen = Recorder(bus)
    async with engine_for(database, registry_of(review()), clock=clock, event_bus=bus) as engine:
        instance = await engine.start_workflow("review")
        await engine.wait(instance.id)
        assert clock.armed() == 1
        await engine.complete_human_task(instance.id, "approve", "bob", {"ok": True})
        assert (await engine.wait(instance.id, until=FINISHED)).status is WorkflowStatus.COMPLETED
        assert clock.armed() == 0  # completing the task disarmed its deadlines
        clock.advance(5 * HOUR)
        assert await engine.recover() == 0  # nothing due in the database either
        await settled(engine)
        assert seen.events == []
        run = (await stored(engine, instance.id)).executions_of("approve")[0]
        assert run.scheduled_for is None


async def test_cancel_disarms_the_deadlines(database: ScratchDatabase | None) -> None:
    clock, bus = TestClock(), EventBus()
    seen = Recorder(bus)
    async with engine_for(database, registry_of(review()), clock=clock, event_bus=bus) as engine:
        instance = await engine.start_workflow("review")
        await engine.wait(instance.id)
        await engine.cancel_workflow(instance.id, "no longer needed")
        assert clock.armed() == 0
        clock.advance(5 * HOUR)
        assert await engine.recover() == 0
        assert seen.events == []


def test_escalate_to_names_a_user_or_a_group() -> None:
    for bad in ("", "group:", "  "):
        with pytest.raises(WorkflowValidationError, match="escalate_to"):
            BaseHumanStep("approve", escalate_to=bad)


async def test_reference_date_hooks_set_the_deadlines() -> None:
    class Urgent(BaseHumanStep):
        name = "approve"

        async def get_due_date(self, context: Any) -> datetime:
            return datetime(2031, 3, 4, 9, 0)  # naive, as the reference's examples: local time

        async def get_reminder_date(self, context: Any) -> datetime:
            return START + 5 * HOUR

    definition = WorkflowDefinition(
        name="urgent", version="1", steps={"approve": Urgent()}, edges=[], initial_step="approve"
    )
    async with engine_for(None, registry_of(definition), clock=TestClock()) as engine:
        instance = await engine.start_workflow("urgent")
        await engine.wait(instance.id)
        [task] = await engine.get_pending_tasks()
        assert task.due_at == datetime(2031, 3, 4, 9, 0).astimezone(UTC)
        assert task.reminder_at == START + 5 * HOUR


# ---------------------------------------------------------------------------- restarts, two engines


@pytest.mark.timeout(60)
async def test_reminder_and_escalation_fire_once_across_restarts(scratch_database: ScratchDatabase) -> None:
    db, clock = scratch_database, TestClock()
    await db.migrate()
    registry = registry_of(review("lead"))
    bus_a = EventBus()
    seen_a = Recorder(bus_a)
    async with running_engine(db, registry, clock=clock, event_bus=bus_a, owner="a", poll_interval=3600) as a:
        instance = await a.start_workflow("review")
        await a.wait(instance.id)
        clock.advance(HOUR)
        await seen_a.wait_for(HumanTaskReminder)
    # A restart after the reminder fired: nothing is due until the due time, nothing fires again.
    bus_b = EventBus()
    seen_b = Recorder(bus_b)
    async with running_engine(db, registry, clock=clock, event_bus=bus_b, owner="b", poll_interval=3600) as b:
        assert await b.recover() == 0
        clock.advance(HOUR)  # b never loaded the instance: its sweep finds the due time
        assert await b.recover() == 1
        await seen_b.wait_for(HumanTaskReassigned)
        assert [type(e) for e in seen_b.events] == [HumanTaskOverdue, HumanTaskReassigned]
        assert (await b.get_task((await b.get_pending_tasks("lead"))[0].id)).assignee_id == "lead"
    # And after the escalation: a third engine finds nothing left to fire.
    bus_c = EventBus()
    seen_c = Recorder(bus_c)
    async with running_engine(db, registry, clock=clock, event_bus=bus_c, owner="c", poll_interval=3600) as c:
        clock.advance(48 * HOUR)
        assert await c.recover() == 0
        assert seen_c.events == []
        assert len(seen_a.events) == 1
        await c.complete_human_task(instance.id, "approve", "lead", {"ok": True})
        assert (await c.wait(instance.id, until=FINISHED, timeout=20)).status is WorkflowStatus.COMPLETED


@pytest.mark.timeout(60)
async def test_a_deadline_that_came_due_while_no_engine_ran_fires_on_start(
    scratch_database: ScratchDatabase,
) -> None:
    db, clock = scratch_database, TestClock()
    await db.migrate()
    registry = registry_of(review())
    async with running_engine(db, registry, clock=clock, owner="a", poll_interval=3600) as a:
        instance = await a.start_workflow("review")
        await a.wait(instance.id)
    clock.advance(90 * timedelta(minutes=1))  # past the reminder, before the due time
    bus = EventBus()
    seen = Recorder(bus)
    async with running_engine(db, registry, clock=clock, event_bus=bus, owner="b", poll_interval=3600):
        [reminder] = await seen.wait_for(HumanTaskReminder)  # start() recovers it
        assert reminder.instance_id == instance.id
        assert seen.of(HumanTaskOverdue) == []


@pytest.mark.timeout(60)
async def test_two_engines_on_one_database_fire_each_deadline_once(scratch_database: ScratchDatabase) -> None:
    db, clock, bus = scratch_database, TestClock(), EventBus()
    seen = Recorder(bus)
    await db.migrate()
    registry = registry_of(review("lead"))
    options: dict[str, Any] = {"clock": clock, "event_bus": bus, "poll_interval": 3600}
    async with (
        running_engine(db, registry, owner="a", **options) as a,
        running_engine(db, registry, owner="b", **options) as b,
    ):
        instance = await a.start_workflow("review")
        await a.wait(instance.id)
        for _ in range(2):  # the reminder, then the due time
            clock.advance(HOUR + timedelta(seconds=1))  # a's timer fires; both sweeps look too
            await asyncio.gather(a.recover(), b.recover())
            await settled(a, b)
        assert [type(e) for e in seen.events] == [HumanTaskReminder, HumanTaskOverdue, HumanTaskReassigned]
        clock.advance(HOUR)
        assert await a.recover() == await b.recover() == 0
        [task] = await b.get_pending_tasks("lead")
        assert task.instance_id == instance.id


async def test_an_engine_that_fired_a_deadline_sees_what_another_did_next(
    scratch_database: ScratchDatabase,
) -> None:
    """Firing a timer must not pin the instance's copy in the engine that fired it."""
    db, clock = scratch_database, TestClock()
    await db.migrate()
    registry = registry_of(review("lead"))
    options: dict[str, Any] = {"clock": clock, "poll_interval": 3600}
    async with (
        running_engine(db, registry, owner="a", **options) as a,
        running_engine(db, registry, owner="b", **options) as b,
    ):
        instance = await a.start_workflow("review")
        await a.wait(instance.id)
        clock.advance(HOUR + timedelta(seconds=1))  # a fires the reminder; the due time stays armed in a
        await settled(a)
        await b.complete_human_task(instance.id, "approve", "bob", {"ok": True})
        await b.wait(instance.id, until=FINISHED, timeout=10)
        seen_by_a = await a.get_instance(instance.id)
        assert (seen_by_a.status, seen_by_a.data.get("booked")) == (WorkflowStatus.COMPLETED, True)

        other = await a.start_workflow("review")
        await a.wait(other.id)
        for _ in range(2):  # the reminder, then the due time: escalated, nothing left armed
            clock.advance(HOUR + timedelta(seconds=1))
            await settled(a)
        assert other.id.int not in a._live  # not pinned in memory by the last timer it fired
        await b.complete_human_task(other.id, "approve", "lead", {"ok": True})
        await b.wait(other.id, until=FINISHED, timeout=10)
        assert (await a.get_instance(other.id)).status is WorkflowStatus.COMPLETED


async def test_escalation_happens_without_an_event_bus(database: ScratchDatabase | None) -> None:
    clock = TestClock()
    async with engine_for(database, registry_of(review("group:finance")), clock=clock) as engine:
        instance = await engine.start_workflow("review")
        await engine.wait(instance.id)
        clock.advance(2 * HOUR)
        await settled(engine)
        [task] = await engine.get_pending_tasks("cy", groups=["finance"])
        assert (task.instance_id, task.assignee_id) == (instance.id, None)
        run = (await stored(engine, instance.id)).executions_of("approve")[0]
        assert (run.assigned_to, run.scheduled_for) == (None, None)  # every deadline fired


async def test_a_far_deadline_does_not_keep_its_instance_in_memory(scratch_database: ScratchDatabase) -> None:
    await scratch_database.migrate()
    async with running_engine(scratch_database, registry_of(review())) as engine:  # a real clock
        instance = await engine.start_workflow("review")
        await engine.wait(instance.id, timeout=20)
        # Due in hours: left to the sweep (the row is leased here until then), not armed here.
        assert instance.id.int not in engine._live
        run = (await stored(engine, instance.id)).executions_of("approve")[0]
        assert run.scheduled_for is not None
        assert await engine.recover() == 0
