"""The instance page's legend shows exactly the fills the Mermaid graph gives each step state."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from ui_helpers import page, rich_form_workflow
from web_helpers import as_user, settle

from litestar_workflows.core.mermaid import to_mermaid_with_state
from litestar_workflows.web.ui.rendering import STATIC_DIR

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.testing import TestClient

UI = "/workflows/ui"
CLASS_DEF = re.compile(r"^\s*classDef wf_(\w+) fill:(#[0-9A-Fa-f]{3,8})\b", re.MULTILINE)
SWATCH = re.compile(r"\.swatch-(\w+)\s*\{\s*background:\s*(#[0-9A-Fa-f]{3,8})\s*;?\s*\}")


@pytest.fixture
def backend() -> str:
    return "memory"


def graph_fills() -> dict[str, str]:
    """State -> fill of the state classes the graph is drawn with (core/mermaid.py's definitions)."""
    source = to_mermaid_with_state(rich_form_workflow(), current_step="check")
    return {state: fill.lower() for state, fill in CLASS_DEF.findall(source)}


def legend_fills() -> dict[str, str]:
    """State -> background of the legend's swatches in ui.css."""
    css = (STATIC_DIR / "ui.css").read_text(encoding="utf-8")
    return {state: fill.lower() for state, fill in SWATCH.findall(css)}


def test_every_legend_swatch_has_the_graph_fill_of_its_state() -> None:
    fills = graph_fills()
    assert set(fills) == {"failed", "waiting", "current", "completed", "skipped"}
    assert legend_fills() == fills


def test_the_legend_names_every_state_the_graph_colours(ui_client: TestClient[Litestar], engine: Any) -> None:
    started = ui_client.post(
        "/workflows/instances",
        json={"definition_name": "rich_form", "input_data": {}},
        headers=as_user("erik"),
    )
    instance_id = started.json()["id"]
    settle(ui_client, engine, instance_id)
    shown = page(ui_client.get(f"{UI}/instances/{instance_id}"))
    legend = shown.find("ul", class_="legend")
    swatches = [cls for span in legend.find_all("span") for cls in span.attrs["class"].split()]
    assert {cls.removeprefix("swatch-") for cls in swatches if cls != "swatch"} == set(graph_fills())
    drawn = shown.find("pre", class_="mermaid").text
    assert {state: fill.lower() for state, fill in CLASS_DEF.findall(drawn)} == legend_fills()
