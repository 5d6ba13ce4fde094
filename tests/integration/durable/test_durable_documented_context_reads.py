"""What the documentation reads from a step's context, on every store.

- The parallel approvals of the parallel-execution guide read ``"legal_approval.approved"``: a
  ``"<step>.<field>"`` key reads what that step returned (a task's form) when the data has no
  such key, so three approvers with the same field name are told apart.
- The integration cookbook reads ``"_workflow_name"``, ``"_instance_id"`` and ``"_current_step"``.
- ``context.user_id`` stays the instance's creator after tasks (who completed a task is that
  execution's ``completed_by``), and a fresh load from the database agrees.
- ``get_last_execution()`` asked by a running step is the step before it, not itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    ParallelGroup,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)

if TYPE_CHECKING:
    from conftest import ScratchDatabase
    from litestar_workflows import WorkflowContext

TIMEOUT = 10.0


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


def approval(step_name: str) -> BaseHumanStep:
    step = BaseHumanStep(step_name, title=f"{step_name} review")
    step.form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}},
        "required": ["approved"],
    }
    return step


class CheckAllApprovals(BaseMachineStep):
    """The guide's callback, plus what the cookbook and the context page read."""

    name = "check_approvals"

    async def execute(self, context: WorkflowContext) -> None:
        context.set(
            "verdicts",
            [context.get(f"{name}.approved", "absent") for name in ("legal", "finance", "security")],
        )
        context.set("unknown", context.get("legal.comment", "absent"))
        context.set("who", context.user_id)
        context.set("security_by", context.get_last_execution("security").completed_by)
        context.set(
            "names",
            [context.get("_workflow_name"), context.get("_instance_id"), context.get("_current_step")],
        )
        last = context.get_last_execution()
        context.set("last", None if last is None else last.step_name)


class Before(BaseMachineStep):
    name = "before"

    async def execute(self, context: WorkflowContext) -> dict[str, Any]:
        context.set("who_before", context.user_id)
        return {"approved": "from a machine step"}


def definition() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="parallel_approvals",
        version="1.0.0",
        steps={
            "before": Before(),
            "approvals": ParallelGroup(
                "approvals", [approval("legal"), approval("finance"), approval("security")]
            ),
            "check": CheckAllApprovals(),
        },
        edges=[Edge("before", "approvals"), Edge("approvals", "check")],
        initial_step="before",
        terminal_steps={"check"},
    )


async def test_the_guides_parallel_approvals_read_each_approvers_answer(
    database: ScratchDatabase | None,
) -> None:
    registry = WorkflowRegistry()
    registry.register_definition(definition())
    async with engine_for(database, registry) as engine:
        started = await engine.start_workflow("parallel_approvals", {"amount": 5}, created_by="carol")
        waiting = await engine.wait(started.id, timeout=TIMEOUT)
        assert waiting.status is WorkflowStatus.WAITING
        for step_name, user, answer in (
            ("legal", "ann", True),
            ("finance", "bob", False),
            ("security", "dan", True),
        ):
            await engine.complete_human_task(started.id, step_name, user, {"approved": answer})
        done = await engine.wait(started.id, timeout=TIMEOUT)
        assert done.status is WorkflowStatus.COMPLETED, done.error
        data = (await stored(engine, started.id)).context.data
        assert data["verdicts"] == [True, False, True]  # each approver's own answer, not the last one's
        assert data["approved"] is True  # the flat merge is still there, the last completion's
        assert data["unknown"] == "absent"
        assert data["who_before"] == data["who"] == "carol"  # the creator, before and after the tasks
        assert data["security_by"] == "dan"
        assert data["names"] == ["parallel_approvals", str(started.id), "check"]
        assert data["last"] == "approvals"  # the step before, not check itself (running)
        reloaded = await stored(engine, started.id)
        assert reloaded.context.user_id == reloaded.created_by == "carol"


def test_a_key_the_data_holds_wins_and_odd_keys_answer_the_default() -> None:
    from litestar_workflows import StepExecution, StepStatus
    from litestar_workflows import WorkflowContext as Context

    history = [StepExecution("legal", StepStatus.SUCCEEDED, result={"approved": True})]
    context = Context(workflow_id="wf", data={"legal.approved": "mine"}, step_history=history)
    assert context.get("legal.approved") == "mine"
    assert Context(step_history=history).get("legal.approved") is True
    for key in ("legal.", ".approved", "legal.approved.deep", "other.approved", "_other"):
        assert Context(step_history=history).get(key, "default") == "default", key
    running = [*history, StepExecution("legal", StepStatus.RUNNING, result={"approved": False})]
    assert Context(step_history=running).get("legal.approved") is True  # the last that succeeded
    assert Context(step_history=running).get_last_execution("legal") is history[0]
    assert Context().get("_current_step", "none yet") == "none yet"


def test_the_view_engines_hand_steps_answers_dotted_keys_from_an_index_that_follows_the_history() -> None:
    from litestar_workflows import StepExecution, StepStatus
    from litestar_workflows import WorkflowContext as Context
    from litestar_workflows.core.context import ReadOnlyHistory

    history = [StepExecution("settings", StepStatus.SUCCEEDED, result={"limit": 7})]
    history += [StepExecution("loop", StepStatus.SUCCEEDED, result={"round": n}) for n in range(1000)]
    context = Context(step_history=ReadOnlyHistory(history))  # type: ignore[arg-type]
    assert (context.get("settings.limit"), context.get("loop.round"), context.get("other.x", "no")) == (
        7,
        999,
        "no",
    )
    running = StepExecution("settings", StepStatus.RUNNING, result=None)
    history.append(running)  # the engine appends; the index follows
    assert context.get("settings.limit") == 7  # the last that succeeded, found by the scan
    running.status, running.result = StepStatus.SUCCEEDED, {"limit": 8}
    assert context.get("settings.limit") == 8
    history.append(StepExecution("other", StepStatus.SUCCEEDED, result={"x": 1}))
    assert context.get("other.x", "no") == 1
