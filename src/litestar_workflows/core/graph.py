"""The analysed shape of a definition: who follows whom, which edges close loops, join arity.

Computed once per definition. A *back edge* is one that closes a cycle, found by a depth-first
search from the initial step in declaration order; all other edges are *forward* edges. Forward
edges feed joins (a step with several forward incoming edges waits for all of them); a back edge
starts a new iteration of its target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from litestar_workflows.core.errors import WorkflowValidationError

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar_workflows.core.context import WorkflowContext
    from litestar_workflows.core.definition import Edge, WorkflowDefinition


class OutEdge(NamedTuple):
    """An outgoing edge with what the interpreter needs to route along it."""

    edge: Edge
    target: str
    is_back: bool


class WorkflowGraph:
    """Successors, predecessors, back edges, join arity and loop closures of a definition.

    Built from any definition, valid or not (``WorkflowGraph(definition)``): edges whose ends are
    not steps are left out of the analysis and reported by :meth:`validate`.
    """

    def __init__(self, definition: WorkflowDefinition) -> None:
        self.definition = definition
        names = list(definition.steps)
        known = set(names)
        pairs: list[tuple[Edge, str, str]] = []
        for edge in definition.edges:
            try:
                source, target = edge.get_source_name(), edge.get_target_name()
            except (AttributeError, WorkflowValidationError):
                continue  # not an edge, or an endpoint that names no step: validate() reports it
            if source in known and target in known:
                pairs.append((edge, source, target))
        adjacency: dict[str, list[str]] = {name: [] for name in names}
        for _, source, target in pairs:
            adjacency[source].append(target)
        initial = definition.initial_step
        back, reachable = _back_edges(initial, adjacency) if initial in known else (set(), set())
        out: dict[str, list[OutEdge]] = {name: [] for name in names}
        incoming: dict[str, list[str]] = {name: [] for name in names}
        arity = dict.fromkeys(names, 0)
        for edge, source, target in pairs:
            is_back = (source, target) in back
            out[source].append(OutEdge(edge, target, is_back))
            incoming[target].append(source)
            if not is_back:
                arity[target] += 1
        self.initial_step: str = initial
        self.terminal_steps: frozenset[str] = frozenset(definition.terminal_steps)
        self.out_edges: dict[str, tuple[OutEdge, ...]] = {name: tuple(e) for name, e in out.items()}
        self.in_edges: dict[str, tuple[str, ...]] = {name: tuple(s) for name, s in incoming.items()}
        self.back_edges: frozenset[tuple[str, str]] = frozenset(back)
        self.join_arity: dict[str, int] = arity
        self.reachable: frozenset[str] = frozenset(reachable)
        self._closures: dict[str, frozenset[str]] = {}
        self._leads_to: dict[str, frozenset[str]] = {}
        # A loop body is every step on a forward path from a back edge's target to its source.
        # While a loop may still iterate, a false exit condition is not final: the interpreter
        # holds the dead token of an exit edge back until nothing in the body is active any more.
        exits: dict[tuple[str, str], frozenset[str]] = {}
        for source, target in self.back_edges:
            body = self.forward_closure(target) & self._reaching(source)
            for member in body:
                for edge_out in self.out_edges.get(member, ()):
                    if not edge_out.is_back and edge_out.target not in body:
                        key = (member, edge_out.target)
                        exits[key] = exits.get(key, frozenset()) | body
        self.loop_exits: dict[tuple[str, str], frozenset[str]] = exits
        """Forward edges that leave a loop body, with the body (or bodies) they leave."""

    def __repr__(self) -> str:
        return f"WorkflowGraph({self.definition.name!r}, {len(self.out_edges)} steps)"

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
        """Analyse ``definition`` (the same as ``WorkflowGraph(definition)``)."""
        return cls(definition)

    def validate(self) -> list[str]:
        """The definition's problems, plus steps that end the flow without being declared terminal.

        A step without outgoing edges ends its branch (so the definition still runs); declaring it
        in ``terminal_steps`` says that is meant, which is why only this stricter check reports it.
        """
        problems = self.definition.validate()
        problems.extend(
            f"Step {name!r} has no outgoing edges but is not marked as terminal"
            for name, outs in self.out_edges.items()
            if not outs and name not in self.terminal_steps
        )
        return problems

    def get_previous_steps(self, current: str) -> list[str]:
        """Names of the steps that have edges to ``current``."""
        return self.get_predecessors(current)

    def get_all_paths(self, start: str, end: str, max_paths: int = 100) -> list[list[str]]:
        """Simple paths (no step twice) from ``start`` to ``end``, at most ``max_paths`` of them."""
        paths: list[list[str]] = []
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack and len(paths) < max_paths:
            node, path = stack.pop()
            if node == end:
                paths.append(path)
                continue
            for target in reversed(self.get_successors(node)):
                if target not in path:
                    stack.append((target, [*path, target]))
        return paths

    def get_step_depth(self, step_name: str) -> int:
        """Fewest edges from the initial step to ``step_name``; -1 when it cannot be reached."""
        if self.initial_step not in self.out_edges:
            return -1
        depth = {self.initial_step: 0}
        queue = [self.initial_step]
        for node in queue:
            for target in self.get_successors(node):
                if target not in depth:
                    depth[target] = depth[node] + 1
                    queue.append(target)
        return depth.get(step_name, -1)

    def successors(self, name: str) -> tuple[OutEdge, ...]:
        """Outgoing edges of ``name``, in declaration order."""
        return self.out_edges.get(name, ())

    def get_successors(self, name: str) -> list[str]:
        """Names of the steps ``name`` has edges to."""
        return [out.target for out in self.successors(name)]

    def get_predecessors(self, name: str) -> list[str]:
        """Names of the steps that have edges to ``name``."""
        return list(self.in_edges.get(name, ()))

    def get_next_steps(self, current: str, context: WorkflowContext) -> list[str]:
        """Steps that follow ``current`` for ``context`` (edges whose conditions hold)."""
        return [out.target for out in self.successors(current) if out.edge.evaluate_condition(context)]

    def is_terminal(self, step_name: str) -> bool:
        """Tell whether the flow may end at ``step_name``."""
        return step_name in self.terminal_steps or not self.out_edges.get(step_name)

    def is_join(self, name: str) -> bool:
        """Tell whether ``name`` waits for several forward incoming edges."""
        return self.join_arity.get(name, 0) > 1

    def forward_closure(self, name: str) -> frozenset[str]:
        """``name`` and every step reachable from it along forward edges (a loop's body)."""
        return self._closure(name, self._closures, back_edges=False)

    def leads_to(self, name: str) -> frozenset[str]:
        """``name`` and every step reachable from it along any edges, loops' back edges included."""
        return self._closure(name, self._leads_to, back_edges=True)

    def _closure(self, name: str, cache: dict[str, frozenset[str]], *, back_edges: bool) -> frozenset[str]:
        cached = cache.get(name)
        if cached is None:
            seen = {name}
            stack = [name]
            while stack:
                for out in self.out_edges.get(stack.pop(), ()):
                    if (back_edges or not out.is_back) and out.target not in seen:
                        seen.add(out.target)
                        stack.append(out.target)
            cached = cache[name] = frozenset(seen)
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
