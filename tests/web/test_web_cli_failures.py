"""``litestar workflows instance`` shows where a failed step failed: its traceback under the history,
and ``error_type``/``stack_trace`` in the JSON output."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result
from litestar import Litestar
from litestar.cli._utils import LitestarEnv
from litestar.cli.main import litestar_group

from litestar_workflows import BaseMachineStep, WorkflowDefinition
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

if TYPE_CHECKING:
    from pathlib import Path

    from litestar_workflows import WorkflowContext


def _reach_ledger() -> None:
    raise ConnectionError("ledger.internal refused the connection")


class Charge(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> None:
        _reach_ledger()


def failing_app(url: str) -> Litestar:
    definition = WorkflowDefinition(name="payment", steps=[Charge("charge")], edges=[], initial_step="charge")
    config = WorkflowPluginConfig(database_url=url, auto_register_workflows=[definition])
    return Litestar(plugins=[WorkflowPlugin(config)])


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    runner = CliRunner()
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    def invoke(*args: str) -> Result:
        env = LitestarEnv(app_path="tests:failing_app", app=failing_app(url), cwd=tmp_path)
        result = runner.invoke(litestar_group, ["workflows", *args], obj=env)
        assert result.exit_code == 0, (args, result.stdout, result.stderr, result.exception)
        return result

    invoke("migrate")
    return invoke


def test_the_instance_view_shows_a_failed_steps_traceback(cli: Any) -> None:
    started = json.loads(cli("start", "payment", "--json", "--wait", "10").stdout)
    assert started["status"] == "failed"

    shown = cli("instance", started["id"]).stdout
    assert "Traceback of step charge (attempt 1):" in shown
    assert "in _reach_ledger" in shown
    assert "ConnectionError: ledger.internal refused the connection" in shown

    [run] = json.loads(cli("instance", started["id"], "--json").stdout)["step_history"]
    assert run["error_type"] == "ConnectionError"
    assert "in _reach_ledger" in run["stack_trace"]
