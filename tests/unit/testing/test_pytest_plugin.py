"""The pytest plugin's fixtures, used as a project's tests use them: by name, from the entry point."""

from __future__ import annotations

from datetime import timedelta

import pytest

from litestar_workflows import BaseHumanStep, Edge, TimerStep, WorkflowDefinition, WorkflowStatus

pytest_plugins = ["pytester"]


class Sign(BaseHumanStep):
    title = "Sign the contract"
    assignee_group = "legal"
    form_schema = {"type": "object", "properties": {"signed": {"type": "boolean"}}, "required": ["signed"]}


CONTRACT = WorkflowDefinition(
    name="contract",
    steps={"sign": Sign("sign"), "cool_off": TimerStep("cool_off", timedelta(days=14))},
    edges=[Edge("sign", "cool_off")],
    initial_step="sign",
)


@pytest.fixture
def workflows():
    """What the plugin's fixtures register for the tests of this module."""
    return [CONTRACT]


async def test_workflow_env_registers_the_overridden_workflows_and_skips_time(workflow_env) -> None:
    instance = await workflow_env.start_workflow("contract")
    await workflow_env.complete_task(instance, "sign", user="lee", data={"signed": True})
    assert (await workflow_env.run_until_settled(instance)).current_step == "cool_off"

    await workflow_env.advance(timedelta(days=14))

    assert (await workflow_env.run_until_settled(instance)).status is WorkflowStatus.COMPLETED


async def test_workflow_sqlite_env_keeps_instances_in_a_temporary_database(workflow_sqlite_env) -> None:
    assert workflow_sqlite_env.database_url.startswith("sqlite+aiosqlite:///")
    instance = await workflow_sqlite_env.start_workflow("contract")
    await workflow_sqlite_env.restart()  # only the database remembers the instance now
    await workflow_sqlite_env.complete_task(instance, "sign", user="lee", data={"signed": True})

    done = await workflow_sqlite_env.run_until_settled(instance, skip_time=True)

    assert done.status is WorkflowStatus.COMPLETED
    assert [e.step_name for e in done.step_history] == ["sign", "cool_off"]


async def test_workflow_client_serves_the_environment_through_the_plugin(
    workflow_client, workflow_env
) -> None:
    started = await workflow_client.post(
        "/workflows/instances", json={"definition_name": "contract"}, headers={"X-Workflows-User": "pat"}
    )
    assert started.status_code == 201, started.text
    instance_id = started.json()["id"]

    legal = {"X-Workflows-User": "lee", "X-Workflows-Groups": "legal, hr"}
    (task,) = (await workflow_client.get("/workflows/tasks", headers=legal)).json()
    nobody = await workflow_client.post(
        f"/workflows/tasks/{task['id']}/complete", json={"output_data": {"signed": True}}
    )
    assert nobody.status_code in (401, 403), nobody.text
    done = await workflow_client.post(
        f"/workflows/tasks/{task['id']}/complete", json={"output_data": {"signed": True}}, headers=legal
    )
    assert done.status_code == 200, done.text

    await workflow_env.advance(timedelta(days=14))
    shown = await workflow_client.get(f"/workflows/instances/{instance_id}", headers=legal)
    assert shown.json()["status"] == "completed"


def test_the_fixtures_come_from_the_installed_entry_point(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from datetime import timedelta
        from litestar_workflows import Edge, TimerStep, WorkflowDefinition, WorkflowStatus
        import pytest

        @pytest.fixture
        def workflows():
            return [WorkflowDefinition(name="nap", steps={"nap": TimerStep("nap", timedelta(days=3))},
                                       initial_step="nap")]

        async def test_nap(workflow_env):
            instance = await workflow_env.start_workflow("nap")
            await workflow_env.advance(timedelta(days=3))
            assert (await workflow_env.run_until_settled(instance)).status is WorkflowStatus.COMPLETED
        """
    )
    # No conftest and no -p option: the fixtures can only come from the pytest11 entry point.
    result = pytester.runpytest(
        "-o", "asyncio_mode=auto", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(passed=1)
