"""Groups holding steps that wait become graph structure when the definition is built."""

from __future__ import annotations

from typing import Any

from litestar_workflows import BaseHumanStep, BaseMachineStep, Edge, WorkflowDefinition
from litestar_workflows.steps import ParallelGroup, SequentialGroup, TimerStep
from litestar_workflows.steps.groups import GroupFork, GroupJoin


class Review(BaseHumanStep):
    title = "Review"


class Note(BaseMachineStep):
    async def execute(self, context: Any) -> None:
        context.set(self.name, True)


def pairs(definition: WorkflowDefinition) -> set[tuple[str, str]]:
    return {(e.get_source_name(), e.get_target_name()) for e in definition.edges}


def test_a_parallel_group_becomes_a_fork_its_members_and_a_join_named_after_the_group() -> None:
    definition = WorkflowDefinition(
        name="w",
        steps={
            "first": Note(),
            "reviews": ParallelGroup(Review("legal"), Review("tech"), callback=Note("decide")),
            "last": Note(),
        },
        edges=[Edge("first", "reviews"), Edge("reviews", "last")],
        initial_step="first",
        terminal_steps={"last"},
    )
    assert list(definition.steps) == ["first", "reviews.start", "legal", "tech", "reviews", "last"]
    assert isinstance(definition.steps["reviews.start"], GroupFork)
    assert definition.steps["reviews"].name == "decide"  # the callback is the join
    assert pairs(definition) == {
        ("first", "reviews.start"),
        ("reviews.start", "legal"),
        ("reviews.start", "tech"),
        ("legal", "reviews"),
        ("tech", "reviews"),
        ("reviews", "last"),
    }
    assert definition.graph.join_arity["reviews"] == 2
    assert definition.validate() == []


def test_an_initial_group_hands_the_start_to_its_fork_and_keeps_edge_conditions() -> None:
    definition = WorkflowDefinition(
        name="w",
        steps={"both": ParallelGroup(Review("a"), TimerStep("pause", 5)), "again": Note(), "end": Note()},
        edges=[
            Edge("both", "again"),
            Edge("again", "both", condition="context.get('again') != True"),
            Edge("again", "end", condition="context.get('again') == True"),
        ],
        initial_step="both",
        terminal_steps={"end"},
    )
    assert definition.initial_step == "both.start"
    assert isinstance(definition.steps["both"], GroupJoin)
    loop_back = [
        e
        for e in definition.edges
        if e.get_source_name() == "again" and e.condition and "!=" in str(e.condition)
    ]
    assert [e.get_target_name() for e in loop_back] == ["both.start"]
    assert ("again", "both.start") in definition.graph.back_edges
    assert definition.validate() == []


def test_a_sequential_group_chains_its_members_and_nested_waiting_groups_unfold_too() -> None:
    inner = ParallelGroup(Review("x"), Review("y"), name="pair")
    definition = WorkflowDefinition(
        name="w",
        steps={"seq": SequentialGroup(Note("prepare"), inner, Review("sign")), "end": Note()},
        edges=[Edge("seq", "end")],
        initial_step="seq",
        terminal_steps={"end"},
    )
    assert definition.initial_step == "prepare"
    assert pairs(definition) == {
        ("prepare", "pair.start"),
        ("pair.start", "x"),
        ("pair.start", "y"),
        ("x", "pair"),
        ("y", "pair"),
        ("pair", "sign"),
        ("sign", "seq"),
        ("seq", "end"),
    }
    assert definition.validate() == []


def test_members_whose_names_are_taken_get_the_group_s_name_and_their_place() -> None:
    definition = WorkflowDefinition(
        name="w",
        steps={"legal": Note(), "g": ParallelGroup(Review("legal"), Review("legal"))},
        edges=[Edge("legal", "g")],
        initial_step="legal",
    )
    assert [k for k in definition.steps if k.startswith("g.")] == ["g.start", "g.0", "g.1"]


def test_a_group_that_only_computes_stays_one_step() -> None:
    group = ParallelGroup(Note("a"), Note("b"))
    definition = WorkflowDefinition(name="w", steps={"g": group}, edges=[], initial_step="g")
    assert definition.steps == {"g": group}


def test_the_same_class_built_twice_describes_the_same_unfolded_workflow() -> None:
    def build() -> WorkflowDefinition:
        return WorkflowDefinition(
            name="w",
            steps={"g": ParallelGroup(Review("a"), Review("b")), "end": Note()},
            edges=[Edge("g", "end")],
            initial_step="g",
        )

    assert build().describes_same(build())


def test_a_waiting_group_added_after_the_definition_was_built_is_reported_not_run() -> None:
    definition = WorkflowDefinition(name="w", steps={"first": Note()}, edges=[], initial_step="first")
    definition.steps["late"] = ParallelGroup(Review("a"), Review("b"))
    definition.edges.append(Edge("first", "late"))
    problems = definition.validate()
    assert len(problems) == 1
    assert "step group 'late' holds a step that waits" in problems[0]
