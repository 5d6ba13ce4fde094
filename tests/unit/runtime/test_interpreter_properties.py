"""Property tests: the interpreter against an independent reference walk of the token rules.

Random DAGs (edges only from a lower to a higher index, every step reachable from step 0), random
edge conditions over random boolean data, random ``can_execute`` outcomes; bounded loops; and
shuffled completion orders of concurrently active executions.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from litestar_workflows.core.definition import Edge, WorkflowDefinition
from litestar_workflows.core.types import StepStatus, WorkflowStatus
from litestar_workflows.runtime.interpreter import ContextChanges, Interpreter
from litestar_workflows.steps import BaseMachineStep

if TYPE_CHECKING:
    from litestar_workflows.core.models import WorkflowInstanceData

T0 = datetime(2024, 1, 1, tzinfo=UTC)
KEYS = 5
SETTINGS = settings(derandomize=True, deadline=None, max_examples=300)

# A condition is (kind, key): kind None (always), "truthy", "falsy", "eq_true" or "callable".
Condition = tuple[str | None, int]


@dataclass(frozen=True)
class DagCase:
    size: int
    edges: tuple[tuple[int, int, Condition], ...]
    skip: tuple[bool, ...]
    data: dict[str, bool]


def name(index: int) -> str:
    return f"s{index}"


def holds(condition: Condition, data: dict[str, bool]) -> bool:
    kind, key = condition
    value = data[f"c{key}"]
    if kind is None:
        return True
    if kind == "falsy":
        return not value
    return value is True  # "truthy", "eq_true" and "callable" all test the boolean itself


def make_edge(source: int, target: int, condition: Condition) -> Edge:
    kind, key = condition
    if kind is None:
        return Edge(name(source), name(target))
    if kind == "truthy":
        return Edge(name(source), name(target), f"context.get('c{key}')")
    if kind == "falsy":
        return Edge(name(source), name(target), f"not context.get('c{key}')")
    if kind == "eq_true":
        return Edge(name(source), name(target), f"context.get('c{key}') == True")
    return Edge(name(source), name(target), lambda ctx, k=f"c{key}": bool(ctx.get(k)))


conditions = st.tuples(
    st.sampled_from([None, None, "truthy", "falsy", "eq_true", "callable"]), st.integers(0, KEYS - 1)
)


@st.composite
def dag_cases(draw: Any) -> DagCase:
    size = draw(st.integers(5, 12))
    pairs: set[tuple[int, int]] = set()
    for target in range(1, size):
        pairs.add((draw(st.integers(0, target - 1)), target))
    extra = draw(st.lists(st.tuples(st.integers(0, size - 1), st.integers(0, size - 1)), max_size=size * 2))
    pairs.update((min(a, b), max(a, b)) for a, b in extra if a != b)
    ordered = draw(st.permutations(sorted(pairs)))
    edges = tuple((source, target, draw(conditions)) for source, target in ordered)
    skip = tuple(draw(st.lists(st.booleans(), min_size=size, max_size=size)))
    data = {f"c{k}": draw(st.booleans()) for k in range(KEYS)}
    return DagCase(size, edges, skip, data)


def definition_for(case: DagCase) -> WorkflowDefinition:
    return WorkflowDefinition(
        name="random",
        steps=[BaseMachineStep(name(i)) for i in range(case.size)],
        edges=[make_edge(s, t, c) for s, t, c in case.edges],
        initial_step=name(0),
    )


# ---------------------------------------------------------------------------- the reference walk


@dataclass
class Reference:
    fate: dict[str, str]
    """Per step: "run" (executes), "skip" (can_execute said no) or "dead" (no live token)."""
    failing: set[str]
    """Steps that finish (run or skip) with outgoing edges of which none holds."""


def reference_walk(case: DagCase) -> Reference:
    """Straightforward token rules on a DAG, in index order (a topological order), no fail-stop."""
    outgoing: dict[int, list[tuple[int, Condition]]] = {i: [] for i in range(case.size)}
    for source, target, condition in case.edges:
        outgoing[source].append((target, condition))
    tokens: dict[int, list[bool]] = {i: [] for i in range(case.size)}
    fate: dict[str, str] = {}
    failing: set[str] = set()
    for i in range(case.size):
        reached = i == 0 or any(tokens[i])
        state = "dead" if not reached else "skip" if case.skip[i] else "run"
        fate[name(i)] = state
        lives = [state != "dead" and holds(condition, case.data) for _, condition in outgoing[i]]
        for (target, _), alive in zip(outgoing[i], lives, strict=True):
            tokens[target].append(alive)
        if state != "dead" and outgoing[i] and not any(lives):
            failing.add(name(i))
    return Reference(fate, failing)


# ---------------------------------------------------------------------------- driving the interpreter


@dataclass
class Outcome:
    instance: WorkflowInstanceData
    skipped_by_driver: set[str]
    started: Counter[str]


def drive(
    definition: WorkflowDefinition, data: dict[str, Any], skip: set[str], pick: random.Random | str
) -> Outcome:
    """Run to the end, finishing one active execution at a time (first, last, or seeded random)."""
    counter = itertools.count(1)
    interp = Interpreter(definition, lambda: T0, lambda: UUID(int=next(counter)))
    tr = interp.create(dict(data))
    instance = tr.instance
    started: Counter[str] = Counter(run.step_name for run in tr.start)
    skipped: set[str] = set()
    for _ in range(10 * len(definition.steps) + 10):
        runs = list(instance.runtime.active.values())
        if not runs:
            break
        if pick == "first":
            run = runs[0]
        elif pick == "last":
            run = runs[-1]
        else:
            run = pick.choice(runs)  # type: ignore[union-attr]
        if run.step_name in skip:
            skipped.add(run.step_name)
            tr = interp.step_skipped(instance, run.id, "can_execute() returned False")
        else:
            tr = interp.step_succeeded(instance, run.id)
        started.update(r.step_name for r in tr.start)
        for new in tr.start:  # a step (a join in particular) starts only after all its predecessors
            _assert_predecessors_finished(definition, instance, new.step_name)
    else:  # pragma: no cover - a hang is a failure
        raise AssertionError("the interpreter did not finish")
    return Outcome(instance, skipped, started)


def _assert_predecessors_finished(
    definition: WorkflowDefinition, instance: WorkflowInstanceData, step: str
) -> None:
    finished = {
        run.step_name
        for run in instance.step_history
        if run.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
    }
    for predecessor in definition.graph.get_predecessors(step):
        assert predecessor in finished, f"{step} started before its predecessor {predecessor} finished"


def final_states(instance: WorkflowInstanceData) -> dict[str, StepStatus]:
    return {run.step_name: run.status for run in instance.step_history}


def check_against_reference(case: DagCase, outcome: Outcome) -> None:
    ref = reference_walk(case)
    instance = outcome.instance
    records = Counter(run.step_name for run in instance.step_history)
    assert all(n == 1 for n in records.values()), f"a step has several executions: {records}"
    assert all(n == 1 for n in outcome.started.values()), f"a step was started twice: {outcome.started}"
    assert not instance.runtime.active
    assert not instance.runtime.pending_tasks
    for step, status in final_states(instance).items():
        expected = ref.fate[step]
        if status is StepStatus.SUCCEEDED:
            assert expected == "run", (step, expected)
        elif status is StepStatus.SKIPPED and step in outcome.skipped_by_driver:
            assert expected == "skip", (step, expected)
        elif status is StepStatus.SKIPPED:
            assert expected == "dead", (step, expected)
        else:
            assert status is StepStatus.CANCELED, (step, status)
            assert instance.status is WorkflowStatus.FAILED
            assert expected != "dead"
    if not ref.failing:
        assert instance.status is WorkflowStatus.COMPLETED, instance.error
        assert set(records) == set(ref.fate), "every step ends executed, skipped or dead-skipped"
        executed = {s for s, st_ in final_states(instance).items() if st_ is StepStatus.SUCCEEDED}
        assert executed == {s for s, f in ref.fate.items() if f == "run"}
        assert outcome.skipped_by_driver == {s for s, f in ref.fate.items() if f == "skip"}
    else:
        assert instance.status is WorkflowStatus.FAILED
        assert instance.runtime.failed_step in ref.failing
        assert repr(instance.runtime.failed_step) in (instance.error or "")


@SETTINGS
@given(case=dag_cases(), seed=st.integers(0, 2**32 - 1))
def test_random_dags_follow_the_reference_token_rules(case: DagCase, seed: int) -> None:
    definition = definition_for(case)
    skip = {name(i) for i in range(case.size) if case.skip[i]}
    ref = reference_walk(case)
    event("fails" if ref.failing else "completes")
    event(f"joins: {sum(definition.graph.is_join(n) for n in definition.steps) > 0}")
    event(f"dead steps: {sum(f == 'dead' for f in ref.fate.values()) > 0}")
    check_against_reference(case, drive(definition, case.data, skip, "first"))
    check_against_reference(case, drive(definition, case.data, skip, random.Random(seed)))


@SETTINGS
@given(case=dag_cases(), seeds=st.lists(st.integers(0, 2**32 - 1), min_size=3, max_size=3))
def test_completion_order_does_not_change_the_result(case: DagCase, seeds: list[int]) -> None:
    definition = definition_for(case)
    skip = {name(i) for i in range(case.size) if case.skip[i]}
    orders: list[random.Random | str] = ["first", "last", *(random.Random(s) for s in seeds)]
    outcomes = [drive(definition, case.data, skip, order) for order in orders]
    statuses = {o.instance.status for o in outcomes}
    assert len(statuses) == 1, statuses
    if statuses == {WorkflowStatus.COMPLETED}:
        results = {
            (tuple(sorted(final_states(o.instance).items())), tuple(sorted(o.skipped_by_driver)))
            for o in outcomes
        }
        assert len(results) == 1
        joins = [
            Counter(run.step_name for run in o.instance.step_history if run.status is StepStatus.SUCCEEDED)
            for o in outcomes
        ]
        assert all(j == joins[0] for j in joins)
    else:
        ref = reference_walk(case)
        assert all(o.instance.runtime.failed_step in ref.failing for o in outcomes)


# ---------------------------------------------------------------------------- bounded loops


@dataclass(frozen=True)
class LoopCase:
    size: int
    target: int
    source: int
    bound: int
    back_first: bool
    side: bool
    """A parallel branch from step 0 (before the loop) joins the chain at its last step."""
    seed: int


@st.composite
def loop_cases(draw: Any) -> LoopCase:
    size = draw(st.integers(3, 9))
    source = draw(st.integers(0, size - 2))  # the exit edge source -> source + 1 must exist
    target = draw(st.integers(0, source))
    side = target >= 1 and draw(st.booleans())
    return LoopCase(
        size, target, source, draw(st.integers(1, 5)), draw(st.booleans()), side, draw(st.integers(0, 2**16))
    )


@settings(derandomize=True, deadline=None, max_examples=100)
@given(case=loop_cases())
def test_bounded_loops_terminate_and_run_the_body_bound_times(case: LoopCase) -> None:
    edges: list[Edge] = []
    for i in range(case.size - 1):
        if i == case.source:
            back = Edge(name(i), name(case.target), f"context.get('count') < {case.bound}")
            exit_ = Edge(name(i), name(i + 1), f"context.get('count') >= {case.bound}")
            edges.extend([back, exit_] if case.back_first else [exit_, back])
        else:
            edges.append(Edge(name(i), name(i + 1)))
    steps = [BaseMachineStep(name(i)) for i in range(case.size)]
    if case.side:
        steps.append(BaseMachineStep("side"))
        edges.extend([Edge(name(0), "side"), Edge("side", name(case.size - 1))])
    definition = WorkflowDefinition(name="loop", steps=steps, edges=edges, initial_step=name(0))
    assert definition.graph.back_edges == {(name(case.source), name(case.target))}
    counter = itertools.count(1)
    interp = Interpreter(definition, lambda: T0, lambda: UUID(int=next(counter)))
    instance = interp.create({"count": 0}).instance
    order = random.Random(case.seed)
    transitions = 0
    while instance.runtime.active:
        transitions += 1
        assert transitions <= (case.size + 1) * (case.bound + 1), "the loop does not terminate"
        run = order.choice(list(instance.runtime.active.values()))
        changes = None
        if run.step_name == name(case.target):
            changes = ContextChanges({"count": instance.data["count"] + 1})
        interp.step_succeeded(instance, run.id, changes=changes)
    assert instance.status is WorkflowStatus.COMPLETED, instance.error
    assert instance.data == {"count": case.bound}
    loop_target = instance.executions_of(name(case.target), StepStatus.SUCCEEDED)
    assert len(loop_target) == case.bound
    assert [run.iteration for run in loop_target] == list(range(case.bound))
    for i in range(case.size):
        runs = len(instance.executions_of(name(i), StepStatus.SUCCEEDED))
        expected = case.bound if case.target <= i <= case.source else 1
        assert runs == expected, (name(i), runs, expected)
    assert len(instance.executions_of(name(case.source + 1), StepStatus.SUCCEEDED)) == 1
    if case.side:
        assert len(instance.executions_of("side", StepStatus.SUCCEEDED)) == 1
        assert len(instance.executions_of(name(case.size - 1))) == 1, "the join after the loop fired twice"
    # No dead token leaves the loop while it still iterates: nothing after it is ever skipped.
    assert all(run.status is StepStatus.SUCCEEDED for run in instance.step_history)


# ---------------------------------------------------------------------------- random graphs with a loop


@dataclass(frozen=True)
class LoopyCase:
    dag: DagCase
    back: tuple[int, int]
    bound: int
    seed: int


@st.composite
def loopy_cases(draw: Any) -> LoopyCase:
    dag = draw(dag_cases())
    source = draw(st.integers(1, dag.size - 1))
    target = draw(st.integers(0, source))
    return LoopyCase(dag, (source, target), draw(st.integers(1, 3)), draw(st.integers(0, 2**16)))


@settings(derandomize=True, deadline=None, max_examples=300)
@given(case=loopy_cases())
def test_random_graphs_with_a_bounded_loop_keep_the_invariants(case: LoopyCase) -> None:
    source, target = case.back
    dag = case.dag
    edges = [make_edge(s, t, c) for s, t, c in dag.edges]
    edges.append(Edge(name(source), name(target), f"context.get('count') < {case.bound}"))
    definition = WorkflowDefinition(
        name="loopy",
        steps=[BaseMachineStep(name(i)) for i in range(dag.size)],
        edges=edges,
        initial_step=name(0),
    )
    graph = definition.graph
    assume(graph.back_edges == {(name(source), name(target))})
    skip = {name(i) for i in range(dag.size) if dag.skip[i] and i != target}
    counter = itertools.count(1)
    interp = Interpreter(definition, lambda: T0, lambda: UUID(int=next(counter)))
    instance = interp.create({**dag.data, "count": 0}).instance
    order = random.Random(case.seed)
    for _ in range(50 * dag.size):
        runs = list(instance.runtime.active.values())
        if not runs:
            break
        run = order.choice(runs)
        if run.step_name in skip:
            interp.step_skipped(instance, run.id)
        else:
            changes = None
            if run.step_name == name(target):
                changes = ContextChanges({"count": instance.data["count"] + 1})
            interp.step_succeeded(instance, run.id, changes=changes)
    else:  # pragma: no cover - a hang is a failure
        raise AssertionError("the interpreter did not finish")
    event(str(instance.status))
    assert instance.status in (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED)
    assert not instance.runtime.active
    records = Counter(run.step_name for run in instance.step_history)
    assert len(instance.executions_of(name(target), StepStatus.SUCCEEDED)) <= case.bound
    # Steps the loop cannot reach run (or are skipped) at most once.
    for step in set(definition.steps) - graph.forward_closure(name(target)):
        assert records[step] <= 1, (step, records)
    if instance.status is WorkflowStatus.COMPLETED:
        # Every step ends up executed, skipped or dead-skipped: no join waits forever for a token.
        missing = set(definition.steps) - set(records)
        assert not missing, f"steps never reached a decision: {missing}"
