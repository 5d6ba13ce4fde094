"""The analysed shape of a definition: who follows whom, which edges close loops, join arity.

Computed once per definition. A *back edge* is one that closes a cycle, found by a depth-first
search from the initial step in declaration order; all other edges are *forward* edges. Forward
edges feed joins (a step with several forward incoming edges waits for all of them); a back edge
starts a new iteration of its target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar_workflows.core.context import WorkflowContext
    from litestar_workflows.core.definition import Edge, WorkflowDefinition


class OutEdge(NamedTuple):
    """An outgoing edge with what the interpreter needs to route along it."""

    edge: Edge
    target: str
    is_back: bool


@dataclass(eq=False)
class WorkflowGraph:
    """Successors, predecessors, back edges, join arity and loop closures of a definition."""

    initial_step: str
    terminal_steps: frozenset[str]
    out_edges: dict[str, tuple[OutEdge, ...]]
    in_edges: dict[str, tuple[str, ...]]
    back_edges: frozenset[tuple[str, str]]
    join_arity: dict[str, int]
    reachable: frozenset[str]
    loop_exits: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    """Forward edges that leave a loop body, with the body (or bodies) they leave."""
    _closures: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # A loop body is every step on a forward path from a back edge's target to its source.
        # While a loop may still iterate, a false exit condition is not final: the interpreter
        # holds the dead token of an exit edge back until nothing in the body is active any more.
        exits: dict[tuple[str, str], frozenset[str]] = {}
        for source, target in self.back_edges:
            body = self.forward_closure(target) & self._reaching(source)
            for member in body:
                for out in self.out_edges.get(member, ()):
                    if not out.is_back and out.target not in body:
                        key = (member, out.target)
                        exits[key] = exits.get(key, frozenset()) | body
        self.loop_exits = exits

    def _reaching(self, name: str) -> set[str]:
        """Steps from which ``name`` is reachable along forward edges (``name`` included)."""
        seen = {name}
        stack = [name]
        while stack:
            node = stack.pop()
            for source in self.in_edges.get(node, ()):
                if source not in seen and (source, node) not in self.back_edges:
                    seen.add(source)
                    stack.append(source)
        return seen

    @classmethod
    def from_definition(cls, definition: WorkflowDefinition) -> WorkflowGraph:
        """Analyse ``definition`` (assumed to reference only known steps)."""
        names = list(definition.steps)
        pairs = [(e, e.get_source_name(), e.get_target_name()) for e in definition.edges]
        adjacency: dict[str, list[str]] = {name: [] for name in names}
        for _, source, target in pairs:
            adjacency[source].append(target)
        back, reachable = _back_edges(definition.initial_step, adjacency)
        out: dict[str, list[OutEdge]] = {name: [] for name in names}
        incoming: dict[str, list[str]] = {name: [] for name in names}
        arity = dict.fromkeys(names, 0)
        for edge, source, target in pairs:
            is_back = (source, target) in back
            out[source].append(OutEdge(edge, target, is_back))
            incoming[target].append(source)
            if not is_back:
                arity[target] += 1
        return cls(
            initial_step=definition.initial_step,
            terminal_steps=frozenset(definition.terminal_steps),
            out_edges={name: tuple(edges) for name, edges in out.items()},
            in_edges={name: tuple(sources) for name, sources in incoming.items()},
            back_edges=frozenset(back),
            join_arity=arity,
            reachable=frozenset(reachable),
        )

    def successors(self, name: str) -> tuple[OutEdge, ...]:
        """Outgoing edges of ``name``, in declaration order."""
        return self.out_edges.get(name, ())

    def get_successors(self, name: str) -> list[str]:
        """Names of the steps ``name`` has edges to."""
        return [out.target for out in self.successors(name)]

    def get_predecessors(self, name: str) -> list[str]:
        """Names of the steps that have edges to ``name``."""
        return list(self.in_edges.get(name, ()))

    def get_next_steps(self, name: str, context: WorkflowContext) -> list[str]:
        """Steps that follow ``name`` for ``context`` (edges whose conditions hold)."""
        return [out.target for out in self.successors(name) if out.edge.evaluate_condition(context)]

    def is_terminal(self, name: str) -> bool:
        """Tell whether the flow may end at ``name``."""
        return name in self.terminal_steps or not self.out_edges.get(name)

    def is_join(self, name: str) -> bool:
        """Tell whether ``name`` waits for several forward incoming edges."""
        return self.join_arity.get(name, 0) > 1

    def forward_closure(self, name: str) -> frozenset[str]:
        """``name`` and every step reachable from it along forward edges (a loop's body)."""
        cached = self._closures.get(name)
        if cached is None:
            seen = {name}
            stack = [name]
            while stack:
                for out in self.out_edges.get(stack.pop(), ()):
                    if not out.is_back and out.target not in seen:
                        seen.add(out.target)
                        stack.append(out.target)
            cached = self._closures[name] = frozenset(seen)
        return cached

    def endless_loops(self, routes_itself: Callable[[str], bool]) -> list[list[str]]:
        """Loops that nothing can end: each as its steps, in declaration order.

        A loop (a strongly connected set of steps) goes round for ever when every edge between its
        steps is always taken: an edge that leaves the loop does not stop it, an unconditional
        edge out of a loop fires on every iteration. It can end only if an edge inside it may not
        be taken: one with a condition, or one out of a step that chooses its routes itself
        (``routes_itself``: a gateway).
        """
        endless = []
        for members in _strongly_connected(self.out_edges):
            inside = [
                (name, out)
                for name in members
                for out in self.out_edges.get(name, ())
                if out.target in members
            ]
            if not inside:  # a single step without an edge to itself is no loop
                continue
            if any(out.edge.condition is not None or routes_itself(name) for name, out in inside):
                continue
            order = list(self.out_edges)
            endless.append(sorted(members, key=order.index))
        return endless

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary, handy for debugging and APIs."""
        return {
            "initial_step": self.initial_step,
            "edges": [
                {"source": s, "target": o.target, "back": o.is_back}
                for s, outs in self.out_edges.items()
                for o in outs
            ],
            "joins": {name: n for name, n in self.join_arity.items() if n > 1},
        }


def _strongly_connected(out_edges: dict[str, tuple[OutEdge, ...]]) -> list[set[str]]:
    """Tarjan's strongly connected components, without recursion (definitions may be long)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    for root in out_edges:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, position = work[-1]
            outs = out_edges.get(node, ())
            if position < len(outs):
                work[-1] = (node, position + 1)
                target = outs[position].target
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
    return components


def _back_edges(initial: str, adjacency: dict[str, list[str]]) -> tuple[set[tuple[str, str]], set[str]]:
    """Depth-first search from ``initial``: edges into a step still on the path are back edges."""
    back: set[tuple[str, str]] = set()
    on_path: set[str] = {initial}
    visited: set[str] = {initial}
    stack: list[tuple[str, int]] = [(initial, 0)]
    while stack:
        node, index = stack[-1]
        targets = adjacency.get(node, [])
        if index == len(targets):
            stack.pop()
            on_path.discard(node)
            continue
        stack[-1] = (node, index + 1)
        target = targets[index]
        if target in on_path:
            back.add((node, target))
        elif target not in visited:
            visited.add(target)
            on_path.add(target)
            stack.append((target, 0))
    return back, visited


__all__ = ("OutEdge", "WorkflowGraph")
