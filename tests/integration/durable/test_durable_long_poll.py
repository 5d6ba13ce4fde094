"""Waiters of one engine share one watcher: one store query per interval for all the instances they
wait on, reloading only those another process moved (SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from durable_support import counted_calls, running_engine
from sqlalchemy import event

from litestar_workflows import (
    BaseHumanStep,
    Edge,
    TimerStep,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import Set

if TYPE_CHECKING:
    from conftest import ScratchDatabase

N = 20
CHANGED = 3


class Review(BaseHumanStep):
    name = "review"
    title = "Review"
    form_schema = {"type": "object"}
    assignee_id = "ann"


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="reviewed",
            steps=[Set("begin", began=True), Review(), Set("end", ended=True)],
            edges=[Edge("begin", "review"), Edge("review", "end")],
            initial_step="begin",
        )
    )
    return reg


class StatementCounter:
    """Counts the SQL statements a store's database engine runs (a real listener, no mock)."""

    def __init__(self, engine: Any) -> None:
        self.statements: list[str] = []
        self.sync_engine = engine.store.db_engine.sync_engine
        event.listen(self.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _connection: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)

    def selects_of(self, table: str) -> list[str]:
        """The statements that read ``table`` (a connection's set-up statements do not count)."""
        return [s for s in self.statements if s.lstrip().upper().startswith("SELECT") and table in s]

    def close(self) -> None:
        event.remove(self.sync_engine, "before_cursor_execute", self._seen)


async def until(condition: Any) -> None:
    """Let the loop run until ``condition()`` holds: waits on observed state, not for a time.

    What the condition waits for may need database round trips, which a loaded machine makes
    slow, so the bound is a generous deadline, not a number of loop turns (a fixed number of
    turns ran out under a parallel test run). Once the quick turns are spent it checks every
    millisecond instead of spinning, leaving the CPU to the database.
    """
    try:
        async with asyncio.timeout(_UNTIL_SECONDS):
            turns = 0
            while not condition():
                turns += 1
                await asyncio.sleep(0 if turns < _QUICK_TURNS else 0.001)
    except TimeoutError:
        raise AssertionError(f"condition never held in {_UNTIL_SECONDS} s") from None


_QUICK_TURNS = 1_000
_UNTIL_SECONDS = 30.0


async def test_waiters_share_one_query_per_round_and_reload_only_what_changed(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    # A poll interval of an hour: the test drives the watcher's rounds itself with poll_once().
    async with (
        running_engine(scratch_database, registry(), poll_interval=3600) as here,
        running_engine(scratch_database, registry(), poll_interval=3600) as elsewhere,
    ):
        started = [await here.start_workflow("reviewed") for _ in range(N)]
        for instance in started:
            assert (await here.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING

        waiters = [
            asyncio.create_task(here.wait(instance.id, until=WorkflowStatus.COMPLETED, timeout=60))
            for instance in started
        ]
        await until(lambda: len(here.watcher) == N)
        counter = StatementCounter(here)
        try:
            with (
                counted_calls(here.store, "instance_versions") as asked,
                counted_calls(here.store, "load_instance") as loads,
            ):
                assert await here.watcher.poll_once() == 0  # nothing moved: nothing reloaded
            assert [sorted(ids) for ids in asked] == [sorted(i.id for i in started)]  # one query for all
            assert loads == []
            assert not counter.selects_of("workflow_step_executions")  # nor through SQLAlchemy

            # Another process (engine) completes three of the reviews.
            for instance in started[:CHANGED]:
                await elsewhere.complete_human_task(instance.id, "review", "ann", {"ok": True})
                assert (await elsewhere.wait(instance.id, timeout=30)).status is WorkflowStatus.COMPLETED
            with counted_calls(here.store, "load_instance") as loads:
                assert await here.watcher.poll_once() == CHANGED  # only the three are reloaded
            assert sorted(loads) == sorted(instance.id for instance in started[:CHANGED])
        finally:
            counter.close()

        done = await asyncio.gather(*waiters[:CHANGED])
        assert [instance.status for instance in done] == [WorkflowStatus.COMPLETED] * CHANGED
        assert all(instance.data["ended"] for instance in done)
        assert not any(waiter.done() for waiter in waiters[CHANGED:])  # the others wait on
        assert len(here.watcher) == N - CHANGED

        for waiter in waiters[CHANGED:]:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
        assert len(here.watcher) == 0  # the last waiter of an instance stops its watching


async def test_the_watcher_polls_on_its_own_and_a_wait_times_out_cleanly(
    scratch_database: ScratchDatabase,
) -> None:
    await scratch_database.migrate()
    async with (
        running_engine(scratch_database, registry(), poll_interval=0.02) as here,
        running_engine(scratch_database, registry(), poll_interval=3600) as elsewhere,
    ):
        instance = await here.start_workflow("reviewed")
        await here.wait(instance.id, timeout=30)
        waiter = asyncio.create_task(here.wait(instance.id, until=WorkflowStatus.COMPLETED, timeout=60))
        await until(lambda: len(here.watcher) == 1)
        await elsewhere.complete_human_task(instance.id, "review", "ann", {})
        assert (await waiter).status is WorkflowStatus.COMPLETED  # the background rounds saw it

        other = await here.start_workflow("reviewed")
        await here.wait(other.id, timeout=30)
        try:
            await here.wait(other.id, until=WorkflowStatus.COMPLETED, timeout=0.05)
        except TimeoutError:
            pass
        else:
            raise AssertionError("the wait should have timed out")
        assert len(here.watcher) == 0


async def test_a_waiter_sees_another_process_cancel_an_instance_whose_timer_is_armed_here(
    scratch_database: ScratchDatabase,
) -> None:
    """An armed timer (a day away here) does not hide the instance from the watcher."""
    await scratch_database.migrate()
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="delayed",
            steps=[TimerStep("pause", timedelta(days=1)), Set("end", ended=True)],
            edges=[Edge("pause", "end")],
            initial_step="pause",
        )
    )
    async with (
        running_engine(scratch_database, reg, poll_interval=3600) as here,
        running_engine(scratch_database, reg, poll_interval=3600) as elsewhere,
    ):
        instance = await here.start_workflow("delayed")
        assert (await here.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
        live = here._live[instance.id.int]
        assert len(live.timers) == 1  # the day-long timer is armed in this process
        waiter = asyncio.create_task(here.wait(instance.id, until=WorkflowStatus.CANCELED, timeout=60))
        await until(lambda: len(here.watcher) == 1)

        await elsewhere.cancel_workflow(instance.id, "no longer needed")
        assert await here.watcher.poll_once() == 1
        assert (await waiter).status is WorkflowStatus.CANCELED
        assert not live.timers  # the timer of the canceled execution is disarmed, not left to fire


async def test_engines_of_one_process_wake_each_others_waiters_at_once(
    scratch_database: ScratchDatabase,
) -> None:
    """Engines built per request share the database's store engine: a waiter on one is woken by
    another's commit without waiting for its next poll (an hour here)."""
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from litestar_workflows.db import PersistentExecutionEngine

    await scratch_database.migrate()
    app_engine = scratch_database.create_engine()
    sessions = async_sessionmaker(app_engine, expire_on_commit=False)
    reg = registry()
    try:
        async with sessions() as first_session, sessions() as second_session:
            first = PersistentExecutionEngine(
                reg, session=first_session, poll_interval=3600, background=False
            )
            second = PersistentExecutionEngine(
                reg, session=second_session, poll_interval=3600, background=False
            )
            assert first.sql_store is not second.sql_store
            assert first.sql_store.db_engine is second.sql_store.db_engine
            instance = await first.start_workflow("reviewed")
            assert (await first.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
            waiter = asyncio.create_task(second.wait(instance.id, until=WorkflowStatus.COMPLETED, timeout=30))
            await until(lambda: len(second.watcher) == 1)
            await first.complete_human_task(instance.id, "review", "ann", {})
            done = await waiter  # an hour's poll interval: only the other store's signal wakes it
            assert (done.status, done.data["ended"]) == (WorkflowStatus.COMPLETED, True)
            for engine in (first, second):
                await engine.stop()
    finally:
        await app_engine.dispose()
