"""``parse_graph_to_dict`` marks code conditions as the reference does, without losing their name."""

from __future__ import annotations

from typing import Any

from litestar_workflows import Edge, WorkflowDefinition
from litestar_workflows.web.graph import parse_graph_to_dict
from litestar_workflows.web.presenters import definition_graph
from step_kit import Fn


def needs_review(context: Any) -> bool:
    return bool(context.get("amount", 0) > 100)


def routed() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="routed",
        steps=[Fn("start"), Fn("review"), Fn("fast"), Fn("audit")],
        edges=[
            Edge("start", "review", condition=needs_review),
            Edge("start", "fast", condition="not context.get('flagged')"),
            Edge("start", "audit", condition=lambda context: bool(context.get("flagged"))),
        ],
        initial_step="start",
        terminal_steps={"review", "fast", "audit"},
    )


def test_code_conditions_are_conditional_with_their_name_kept() -> None:
    edges = {edge["target"]: edge for edge in parse_graph_to_dict(routed())["edges"]}
    assert edges["review"] == {
        "source": "start",
        "target": "review",
        "condition": "conditional",
        "condition_name": "needs_review",
    }
    assert edges["fast"] == {"source": "start", "target": "fast", "condition": "not context.get('flagged')"}
    assert (edges["audit"]["condition"], edges["audit"]["condition_name"]) == ("conditional", "condition")


def test_the_rest_graph_still_names_the_function() -> None:
    edges = {edge.target: edge.condition for edge in definition_graph(routed()).edges}
    assert edges == {"review": "needs_review", "fast": "not context.get('flagged')", "audit": "condition"}
