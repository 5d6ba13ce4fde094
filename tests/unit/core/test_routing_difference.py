"""What a process compares with the stored description of a workflow before it runs its instances."""

from __future__ import annotations

from typing import Any

from litestar_workflows import BaseHumanStep, BaseMachineStep, Edge, WorkflowDefinition
from litestar_workflows.core.definition import routing_difference


class Work(BaseMachineStep):
    async def execute(self, context: Any) -> None:
        return None


def review(then: str = "book", *, description: str = "", human: bool = True) -> WorkflowDefinition:
    middle = BaseHumanStep("approve") if human else Work("approve")
    return WorkflowDefinition(
        name="review",
        version="1.0.0",
        description=description,
        steps=[Work("submit"), middle, Work(then)],
        edges=[Edge("submit", "approve"), Edge("approve", then)],
        initial_step="submit",
    )


def test_the_same_definition_routes_alike_whatever_its_texts() -> None:
    stored = review().to_dict()
    assert routing_difference(stored, review()) is None
    assert routing_difference(stored, review(description="reworded")) is None
    renamed = {**stored, "steps": [{**step, "class": "moved.elsewhere.Work"} for step in stored["steps"]]}
    assert routing_difference(renamed, review()) is None


def test_a_step_type_written_another_way_is_the_same_type() -> None:
    stored = review().to_dict()
    older = {
        **stored,
        "steps": [{**step, "type": f"StepType.{step['type'].upper()}"} for step in stored["steps"]],
    }
    assert routing_difference(older, review()) is None


def test_other_steps_types_or_edges_are_named() -> None:
    stored = review().to_dict()
    assert "the steps differ" in (routing_difference(stored, review("pay")) or "")
    assert "'human'" in (routing_difference(stored, review(human=False)) or "")
    rerouted = {
        **stored,
        "edges": [*stored["edges"], {"source": "approve", "target": "submit", "condition": None}],
    }
    assert "the edges differ" in (routing_difference(rerouted, review()) or "")
    assert "initial_step differ" in (
        routing_difference({**stored, "initial_step": "approve"}, review()) or ""
    )


def scored(threshold: int) -> WorkflowDefinition:
    return WorkflowDefinition(
        name="scored",
        version="1.0.0",
        steps=[Work("score"), Work("accept"), Work("reject")],
        edges=[
            Edge("score", "accept", condition=f"context.get('score') >= {threshold}"),
            Edge("score", "reject", condition=f"context.get('score') < {threshold}"),
        ],
        initial_step="score",
        terminal_steps={"accept", "reject"},
    )


def test_a_changed_condition_expression_routes_otherwise() -> None:
    difference = routing_difference(scored(80).to_dict(), scored(50))
    assert difference is not None
    assert "the edges differ" in difference
    assert ">= 80" in difference


def test_edges_stored_without_their_conditions_compare_by_their_ends() -> None:
    stored = scored(80).to_dict()
    older = {**stored, "edges": [{"source": e["source"], "target": e["target"]} for e in stored["edges"]]}
    assert routing_difference(older, scored(50)) is None
