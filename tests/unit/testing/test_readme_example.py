"""The README's "Testing your workflows" example, verbatim (keep the two in step)."""

from datetime import timedelta

from litestar_workflows import BaseHumanStep, Edge, TimerStep, WorkflowDefinition, WorkflowStatus
from litestar_workflows.testing import WorkflowTestEnvironment


class Approve(BaseHumanStep):
    title = "Approve the refund"
    assignee = "ann"


refund = WorkflowDefinition(
    name="refund",
    steps={"cool_off": TimerStep("cool_off", timedelta(days=3)), "approve": Approve("approve")},
    edges=[Edge("cool_off", "approve")],
    initial_step="cool_off",
)


async def test_a_refund_cools_off_for_three_days_then_ann_approves_it():
    async with await WorkflowTestEnvironment.start(refund) as env:
        instance = await env.start_workflow("refund", {"amount": 40})
        assert instance.current_step == "cool_off"
        await env.advance(timedelta(days=3))  # the timer fires now: no sleeping
        assert (await env.run_until_settled(instance)).current_step == "approve"
        instance = await env.complete_task(instance, "approve", data={"ok": True})  # as ann
        assert instance.status is WorkflowStatus.COMPLETED
        assert instance.data == {"amount": 40, "ok": True}


# ---------------------------------------------------------------- end of the README example


def test_the_readme_shows_this_example_verbatim():
    from pathlib import Path

    here = Path(__file__).read_text()
    example = here.split('"""\n', 1)[1].split("\n\n\n# ----", 1)[0].strip()
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    assert example in readme
    assert len(example.splitlines()) > 20
