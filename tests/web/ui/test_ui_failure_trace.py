"""The instance page's timeline shows where a failed step failed: its traceback, folded away."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ui_helpers import page
from web_helpers import as_user, settle

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"


def test_a_failed_step_shows_its_traceback_in_the_timeline(
    ui_client: TestClient[Litestar], engine: Any
) -> None:
    started = ui_client.post(
        "/workflows/instances", json={"definition_name": "flaky"}, headers=as_user("erik")
    )
    instance_id = started.json()["id"]
    settle(ui_client, engine, instance_id)

    shown = page(ui_client.get(f"{UI}/instances/{instance_id}", headers=as_user("erik")))
    [trace] = shown.find("table", class_="timeline").find_all("details", class_="trace")
    assert trace.find("summary").text == "Traceback (litestar_workflows.core.errors.NonRetryableError)"
    text = trace.find("pre").text
    assert text.startswith("Traceback (most recent call last):")
    assert text.rstrip().endswith("NonRetryableError: the flaky step fails the first time")
    assert "open" not in trace.attrs  # folded: the error line above says what happened
