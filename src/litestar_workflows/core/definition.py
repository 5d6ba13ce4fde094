"""Workflow definitions: steps joined by edges, validated once when built."""

from __future__ import annotations

import contextlib
import inspect
import reprlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.conditions import CompiledCondition, compile_condition
from litestar_workflows.core.errors import WorkflowValidationError
from litestar_workflows.core.step_settings import step_setting_problems
from litestar_workflows.core.types import StepType

_ASYNC_CONDITION = (
    "edge condition {name} is an async function, and a condition must answer at once (an "
    "un-awaited coroutine would count as true): make it a plain function, or route with an "
    "ExclusiveGateway, whose evaluate() may await"
)

if TYPE_CHECKING:
    from litestar_workflows.core.context import WorkflowContext
    from litestar_workflows.core.graph import WorkflowGraph
    from litestar_workflows.core.protocols import Step

ConditionFunc = Callable[["WorkflowContext"], bool]


def step_name_of(ref: Any) -> str:
    """Return the step name an edge endpoint refers to: a name, a step, or a step class."""
    if isinstance(ref, str):
        return ref
    name = getattr(ref, "name", None)
    if isinstance(name, str) and name:
        return name
    raise WorkflowValidationError(f"edge endpoint {ref!r} is neither a step name nor a named step")


@dataclass
class Edge:
    """A transition from ``source`` to ``target``, taken when ``condition`` holds.

    ``condition`` is ``None`` (always), a callable of the context, or a string expression such as
    ``"context.get('score') >= 80"``, compiled here once into a safe evaluator. An invalid
    expression does not raise here: the definition that uses the edge reports it with every other
    problem.

    Edges compare by value (source, target, condition), as the reference package's do; the hash
    follows the same fields, so an edge should not be changed while it sits in a set.
    """

    source: str | type[Any] | Any
    target: str | type[Any] | Any
    condition: str | ConditionFunc | None = None
    _compiled: CompiledCondition | None = field(default=None, init=False, repr=False, compare=False)
    _problem: str | None = field(default=None, init=False, repr=False, compare=False)

    def __hash__(self) -> int:
        return hash((self.source, self.target, self.condition))

    def __post_init__(self) -> None:
        condition: Any = self.condition  # typed loosely: users may pass anything here
        if condition is None:
            return
        if isinstance(condition, str):
            try:
                self._compiled = compile_condition(condition)
            except WorkflowValidationError as error:
                self._problem = error.detail
        elif not callable(condition):
            self._problem = f"edge condition {condition!r} is neither a string nor a callable"
        elif inspect.iscoroutinefunction(condition) or inspect.iscoroutinefunction(
            getattr(condition, "__call__", None)  # noqa: B004 - an object whose __call__ is async
        ):
            self._problem = _ASYNC_CONDITION.format(name=getattr(condition, "__name__", repr(condition)))

    def get_source_name(self) -> str:
        """Name of the step the edge leaves."""
        return step_name_of(self.source)

    def get_target_name(self) -> str:
        """Name of the step the edge enters."""
        return step_name_of(self.target)

    @property
    def is_conditional(self) -> bool:
        """Tell whether the edge has a condition."""
        return self.condition is not None

    def evaluate_condition(self, context: WorkflowContext) -> bool:
        """Tell whether the edge is taken for ``context``.

        Raises:
            WorkflowValidationError: The edge's expression is invalid.
        """
        if self._problem is not None:
            raise WorkflowValidationError(self._problem)
        if self._compiled is not None:
            return self._compiled.evaluate(context.data)
        if self.condition is None:
            return True
        answer = self.condition(context)  # type: ignore[operator]
        if inspect.isawaitable(answer):  # an async callable the check above could not see
            getattr(answer, "close", lambda: None)()  # never awaited: no "never awaited" warning
            name = getattr(self.condition, "__name__", repr(self.condition))
            raise WorkflowValidationError(_ASYNC_CONDITION.format(name=name))
        return bool(answer)

    def holds_for(self, data: Mapping[str, Any], context: Callable[[], WorkflowContext]) -> bool:
        """Evaluate against instance data; builds a context only for callable conditions."""
        if self._compiled is not None:
            return self._compiled.evaluate(data)
        if self.condition is None:
            return True
        return self.evaluate_condition(context())

    @property
    def problem(self) -> str | None:
        """What is wrong with this edge's condition, if anything."""
        return self._problem

    def condition_label(self) -> str | None:
        """Readable form of the condition: the expression, or the callable's name."""
        if self.condition is None:
            return None
        if isinstance(self.condition, str):
            return self.condition
        return getattr(self.condition, "__name__", "condition")


@dataclass(eq=False)
class WorkflowDefinition:
    """A named, versioned workflow: steps (by name), edges, where it starts and where it may end.

    A definition may be *built* invalid (the reference package allows it, and tools build
    definitions piece by piece); :meth:`validate` lists every problem: unknown step names in
    edges, a missing initial step, unreachable steps, terminal steps with outgoing edges,
    duplicate edges, invalid condition expressions, unusable form schemas and loops that nothing
    can end. Nothing invalid ever runs: registering a definition and starting a workflow call
    :meth:`ensure_valid`, which raises one :class:`WorkflowValidationError` with every problem.

    A step's key in ``steps`` is its name in the workflow, whatever the step's own ``name`` says:
    documented usage puts one step class under several keys. ``name`` supplies the key only when
    ``steps`` is given as a list.
    """

    name: str
    version: str = "1.0.0"
    description: str = ""
    steps: dict[str, Step] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)
    initial_step: str = ""
    terminal_steps: set[str] = field(default_factory=set)
    max_iterations: int = 10_000
    """How often one step may run in one instance (loop iterations); past it the instance fails."""
    input_schema: dict[str, Any] | None = None
    """JSON Schema of the data an instance starts with (``start_workflow``'s ``initial_data``).

    Checked by :meth:`check_input` before anything is stored, with the task forms' machinery
    (regular expressions on RE2); ``None`` accepts any JSON object. UIs build start forms from it.
    """

    def __post_init__(self) -> None:
        given: Any = self.steps  # a mapping of name to step, or a list of named steps
        if type(given) is dict or isinstance(given, Mapping):  # the exact type first: ABC checks cost
            self.steps = dict(given)
        else:
            given = list(given)
            self.steps = {step_name_of(s): s for s in given}
            if len(self.steps) < len(given):  # one name for two steps: the later one replaced the first
                names = [step_name_of(s) for s in given]
                self.__dict__["_repeated_steps"] = sorted({n for n in names if names.count(n) > 1})
        self.edges = list(self.edges)
        self.terminal_steps = set(self.terminal_steps)
        for key, step in self.steps.items():
            if not getattr(step, "name", None):
                with contextlib.suppress(AttributeError):  # a step with a read-only name keeps it
                    step.name = key
        from litestar_workflows.core.group_expansion import unfold_waiting_groups

        unfold_waiting_groups(self)

    def validate(self) -> list[str]:
        """Every problem of this definition, in a stable order; empty when it can run.

        The graph is analysed afresh: a definition may have been changed since it was built.
        """
        self.__dict__.pop("graph", None)
        return _problems_of(self)

    def ensure_valid(self) -> None:
        """Raise one error listing every problem; called wherever a definition is about to run.

        Raises:
            WorkflowValidationError: The definition is invalid (``errors`` lists each problem).
        """
        problems = self.validate()
        if problems:
            raise WorkflowValidationError(
                f"workflow {self.name!r} is invalid: " + "; ".join(problems), problems
            )

    def check_input(self, data: dict[str, Any]) -> None:
        """Check the data an instance would start with against :attr:`input_schema`.

        Raises:
            WorkflowValidationError: ``data`` fails the schema; ``errors`` holds one
                ``"field: message"`` entry per failing field.
        """
        if self.input_schema is None:
            return
        from litestar_workflows.core.forms import data_problems, invalid_data

        where = f"workflow {self.name!r}"
        problems = data_problems(self.input_schema, data, f"{where} input_schema")
        if problems:
            raise invalid_data(WorkflowValidationError, f"{where}: the input data is invalid", problems)

    def get_next_steps(self, current_step: str, context: WorkflowContext) -> list[str]:
        """Steps that follow ``current_step`` for ``context``: targets of edges whose condition holds."""
        return [
            edge.get_target_name()
            for edge in self.edges
            if edge.get_source_name() == current_step and edge.evaluate_condition(context)
        ]

    @cached_property
    def graph(self) -> WorkflowGraph:
        """The analysed graph (successors, back edges, join arity), built once."""
        from litestar_workflows.core.graph import WorkflowGraph

        return WorkflowGraph.from_definition(self)

    def get_step(self, name: str) -> Step:
        """Return the step called ``name``."""
        return self.steps[name]

    def is_terminal(self, name: str) -> bool:
        """Tell whether the workflow may end at ``name`` (declared terminal, or no outgoing edge)."""
        return self.graph.is_terminal(name)

    def to_mermaid(self) -> str:
        """Return the workflow as a MermaidJS flowchart."""
        from litestar_workflows.core.mermaid import to_mermaid

        return to_mermaid(self)

    def to_mermaid_with_state(
        self,
        current_step: str | None = None,
        completed_steps: Iterable[str] | None = None,
        failed_steps: Iterable[str] | None = None,
        skipped_steps: Iterable[str] | None = None,
        waiting_steps: Iterable[str] | None = None,
    ) -> str:
        """Return the flowchart with the given steps highlighted by state."""
        from litestar_workflows.core.mermaid import to_mermaid_with_state

        return to_mermaid_with_state(
            self,
            current_step=current_step,
            completed_steps=completed_steps or (),
            failed_steps=failed_steps or (),
            skipped_steps=skipped_steps or (),
            waiting_steps=waiting_steps or (),
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (what the database's ``definition_json`` holds).

        ``input_schema`` is present only when the definition has one, so the description of a
        definition without one is what it was before input schemas existed.
        """
        described: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "initial_step": self.initial_step,
            "terminal_steps": sorted(self.terminal_steps),
            "steps": [
                {
                    "name": name,
                    "type": str(step.step_type),
                    "description": getattr(step, "description", "") or "",
                    "class": f"{type(step).__module__}.{type(step).__qualname__}",
                }
                for name, step in self.steps.items()
            ],
            "edges": [
                {
                    "source": e.get_source_name(),
                    "target": e.get_target_name(),
                    "condition": e.condition_label(),
                }
                for e in self.edges
            ],
        }
        if self.input_schema is not None:
            described["input_schema"] = self.input_schema
        return described

    def describes_same(self, other: WorkflowDefinition) -> bool:
        """Tell whether ``other`` is this workflow again, as far as running it is concerned.

        The documented setup registers ``X.get_definition()`` and then the class ``X``, whose
        ``get_definition()`` builds new, equal objects; a start by class builds one more. Those
        must count as the same, while a changed timer, form or retry policy under an old version
        must not (the registry would keep the old one silently). :meth:`difference_from` says
        what is compared.
        """
        return self.difference_from(other) is None

    def difference_from(self, other: WorkflowDefinition) -> str | None:
        """The first difference that matters for running ``other`` instead of this definition.

        Compared: name, version, description, initial and terminal steps, ``input_schema``,
        ``max_iterations``, the steps (by key: class, step type and their settings such as a
        timer's duration, a task's form, assignee and group, retry policy and timeout, webhook
        settings, and the steps a group holds) and the edges in order, with their conditions.
        Callables (conditions, durations computed from the context) compare by their code and
        the values they close over, so one made afresh from the same source is the same. A
        step's other attributes (clients, caches) are not compared: its class carries its code.

        Returns:
            ``None`` when nothing that matters differs; otherwise a short description of the
            first difference found, for the error that refuses the other definition.
        """
        if other is self:
            return None
        for label, mine, theirs in (
            ("name", self.name, other.name),
            ("version", self.version, other.version),
            ("description", self.description, other.description),
            ("initial_step", self.initial_step, other.initial_step),
            ("terminal_steps", self.terminal_steps, other.terminal_steps),
            ("input_schema", self.input_schema, other.input_schema),
            ("max_iterations", self.max_iterations, other.max_iterations),
        ):
            if mine != theirs:
                return _differs(label, mine, theirs)
        if self.steps.keys() != other.steps.keys():
            return _differs("the step names", sorted(self.steps), sorted(other.steps))
        for key, step in self.steps.items():
            found = _step_difference(step, other.steps[key])
            if found is not None:
                return f"step {key!r}: {found}"
        return _edge_difference(self.edges, other.edges)


_STEP_SETTINGS = (
    "step_type",
    "description",
    "title",
    "form_schema",
    "assignee",
    "assignee_key",
    "assignee_group",
    "due_in",
    "due_at",
    "reminder_in",
    "reminder_at",
    "escalate_to",
    "retry_policy",
    "timeout",
    "duration",
    "at",
    "payload_key",
    "payload_schema",
    "secret",
    "max_age",
    "condition",
    "branches",
    "steps",
    "callback",
    "if_true",
    "if_false",
)
"""The step attributes :meth:`WorkflowDefinition.difference_from` compares (those a step has)."""

_ABSENT: Any = object()


def routing_difference(stored: Mapping[str, Any], definition: WorkflowDefinition) -> str | None:
    """How ``definition`` would route an instance differently from the stored description ``stored``.

    ``stored`` is what :meth:`WorkflowDefinition.to_dict` wrote when the workflow's first instance
    was started (a database's ``definition_json``). Compared: the initial and terminal steps, the
    step names with their types, and the edges in order with their conditions (an expression's
    text, a callable's name); not descriptions or class paths, which a refactoring may change
    harmlessly, nor what a callable condition does (its code is not stored). A process
    whose definition differs there (a worker deployed with a changed workflow under the same
    version) would run instances started elsewhere through other steps.

    Returns:
        ``None`` when they route alike; otherwise the first difference, for the error that
        refuses the definition.
    """
    mine = definition.to_dict()

    def types(described: Mapping[str, Any]) -> dict[str, str]:
        return {
            str(step.get("name")): str(step.get("type", "")).rsplit(".", 1)[-1].lower()
            for step in described.get("steps", [])
        }

    def edges(described: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
        return [
            (str(edge.get("source")), str(edge.get("target")), edge.get("condition"))
            for edge in described.get("edges", [])
        ]

    stored_edges, my_edges = edges(stored), edges(mine)
    if len(stored_edges) == len(my_edges) and all(
        "condition" not in edge for edge in stored.get("edges", []) if isinstance(edge, Mapping)
    ):  # written before conditions were described: compare what it has
        my_edges = [(source, target, None) for source, target, _ in my_edges]

    for label, was, now in (
        ("initial_step", stored.get("initial_step"), mine["initial_step"]),
        ("terminal_steps", sorted(stored.get("terminal_steps", [])), mine["terminal_steps"]),
        ("the steps", types(stored), types(mine)),
        ("the edges", stored_edges, my_edges),
    ):
        if was != now:
            return f"{label} differ ({reprlib.repr(was)} stored, {reprlib.repr(now)} here)"
    return None


def _differs(label: str, mine: Any, theirs: Any) -> str:
    return f"{label} differs ({reprlib.repr(mine)} registered, {reprlib.repr(theirs)} given)"


def _class_name(step: Any) -> str:
    kind = type(step)
    return f"{kind.__module__}.{kind.__qualname__}"


def _step_difference(mine: Any, theirs: Any) -> str | None:
    """What differs between two steps: their class (by name: one made afresh is the same) or a setting."""
    if mine is theirs or (type(mine) is type(theirs) and _same_attributes(mine, theirs)):
        return None  # the common case, a step built again by the same code: one dict comparison
    if type(mine) is not type(theirs) and _class_name(mine) != _class_name(theirs):
        return _differs("the step class", _class_name(mine), _class_name(theirs))
    for setting in _STEP_SETTINGS:
        value = getattr(mine, setting, _ABSENT)
        other = getattr(theirs, setting, _ABSENT)
        if not _same_setting(value, other):
            return _differs(setting, value, other)
    return None


def _same_attributes(mine: Any, theirs: Any) -> bool:
    """Whether two objects of one class hold equal instance attributes (then every setting agrees).

    Starting by class compares the registered definition with the one ``get_definition()`` built
    again on every start; this keeps that comparison to one dict comparison per step.
    """
    try:
        return bool(vars(mine) == vars(theirs))
    except Exception:  # no __dict__, or a value whose == raises: compare setting by setting
        return False


def _is_step(value: Any) -> bool:
    return callable(getattr(value, "execute", None)) and isinstance(
        getattr(value, "step_type", None), StepType
    )


def _same_setting(mine: Any, theirs: Any) -> bool:
    """Equal values, or steps, callables and containers of them that would behave alike."""
    if mine is theirs:
        return True
    with contextlib.suppress(Exception):  # a value whose == raises or is not a truth value
        if mine == theirs:
            return True
    if _is_step(mine) and _is_step(theirs):
        return _step_difference(mine, theirs) is None
    code = getattr(mine, "__code__", None)
    if code is not None or getattr(theirs, "__code__", None) is not None:
        return (
            code == getattr(theirs, "__code__", None)
            and _same_setting(_closed_over(mine), _closed_over(theirs))
            and _same_setting(getattr(mine, "__defaults__", None), getattr(theirs, "__defaults__", None))
        )
    if isinstance(mine, (list, tuple)) and isinstance(theirs, (list, tuple)):
        return len(mine) == len(theirs) and all(map(_same_setting, mine, theirs))
    if isinstance(mine, dict) and isinstance(theirs, dict):
        return mine.keys() == theirs.keys() and all(_same_setting(v, theirs[k]) for k, v in mine.items())
    return False


def _closed_over(function: Any) -> list[Any]:
    """The values a function's closure holds (an empty cell reads as absent)."""
    values = []
    for cell in getattr(function, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:
            values.append(_ABSENT)
    return values


def _edge_difference(mine: list[Edge], theirs: list[Edge]) -> str | None:
    if len(mine) != len(theirs):
        return f"the number of edges differs ({len(mine)} registered, {len(theirs)} given)"
    try:
        if mine == theirs:  # equal endpoints and conditions throughout: nothing to explain
            return None
    except Exception:  # a condition whose == raises: compared edge by edge below
        pass
    for index, (edge, other) in enumerate(zip(mine, theirs, strict=True)):
        pair = (edge.get_source_name(), edge.get_target_name())
        other_pair = (other.get_source_name(), other.get_target_name())
        if pair != other_pair:
            return _differs(f"edge #{index}", "{} -> {}".format(*pair), "{} -> {}".format(*other_pair))
        if not _same_setting(edge.condition, other.condition):
            return _differs(
                f"the condition of edge {pair[0]!r} -> {pair[1]!r}",
                edge.condition_label(),
                other.condition_label(),
            )
    return None


def _problems_of(definition: WorkflowDefinition) -> list[str]:
    """Every problem of a definition, in a stable order (empty when valid)."""
    problems: list[str] = []
    if not definition.name or not isinstance(definition.name, str):
        problems.append("the workflow needs a non-empty name")
    if not isinstance(definition.version, str) or not definition.version:
        problems.append("the version must be a non-empty string such as '1.0.0'")
    texts = [
        ("name", definition.name),
        ("version", definition.version),
        ("description", definition.description),
    ]
    texts += [("step name", key) for key in definition.steps]
    problems.extend(
        f"the {what} {text!r} contains a NUL character (\\x00), which databases cannot store"
        for what, text in texts
        if isinstance(text, str) and "\x00" in text
    )
    limit: Any = definition.max_iterations
    if type(limit) is not int or limit < 1:
        problems.append(f"max_iterations must be a positive integer, not {limit!r}")
    steps = definition.steps
    for name in definition.__dict__.get("_repeated_steps", ()):
        problems.append(f"step name {name!r} is given to more than one step of the list")
    for key, step in steps.items():
        if isinstance(step, type):  # the class itself passes the duck test below, then fails to run
            problems.append(
                f"step {key!r} is the class {step.__name__}, not a step: give an instance, {step.__name__}()"
            )
        elif not callable(getattr(step, "execute", None)) or not isinstance(
            getattr(step, "step_type", None), StepType
        ):
            problems.append(f"step {key!r} is not a step (needs execute() and a step_type)")
        else:
            problems.extend(step_setting_problems(key, step))
    problems.extend(_input_schema_problems(definition.input_schema))
    if not definition.initial_step:
        problems.append("no initial_step is given")
    elif definition.initial_step not in steps:
        problems.append(f"Initial step {definition.initial_step!r} not found in steps")
    problems.extend(_edge_problems(definition))
    problems.extend(
        f"Terminal step {name!r} not found in steps"
        for name in sorted(definition.terminal_steps - steps.keys())
    )
    return problems or _shape_problems(definition)


def _shape_problems(definition: WorkflowDefinition) -> list[str]:
    """Problems of a definition whose names all resolve: terminals, gateways, reachability."""
    from litestar_workflows.core.group_expansion import folded_waiting_groups

    problems: list[str] = folded_waiting_groups(definition)
    steps = definition.steps
    graph = definition.graph
    for name in sorted(definition.terminal_steps):
        if graph.successors(name):
            problems.append(f"terminal step {name!r} has outgoing edges")
    for name, step in steps.items():
        if step.step_type is StepType.GATEWAY and not graph.successors(name):
            problems.append(f"gateway {name!r} has no outgoing edges")
        for attr in ("form_schema", "payload_schema"):  # a step may have both
            schema = getattr(step, attr, None)
            if isinstance(schema, dict):
                problems.extend(_schema_problems(schema, f"step {name!r}"))
    for loop in graph.endless_loops(lambda name: steps[name].step_type is StepType.GATEWAY):
        listed = ", ".join(repr(name) for name in loop)
        problems.append(
            f"steps {listed} loop for ever: no edge between them has a condition and none of them is "
            "a gateway, so nothing can end the loop"
            if len(loop) > 1
            else f"step {listed} loops on itself for ever: its edge to itself has no condition"
        )
    # An unreachable step can never run; one declared terminal is only an unused end (as the
    # reference package treats it), so it is not reported.
    problems.extend(
        f"Step {name!r} is unreachable from initial step {definition.initial_step!r}"
        for name in steps
        if name not in graph.reachable and name not in definition.terminal_steps
    )
    return problems


def _schema_problems(schema: dict[str, Any], where: str) -> list[str]:
    """A form or payload schema that cannot validate submissions, reported at definition time."""
    from litestar_workflows.core.forms import check_form_schema

    try:
        check_form_schema(schema, where)
    except WorkflowValidationError as error:
        return [error.detail]
    return []


def _input_schema_problems(schema: object) -> list[str]:
    """An input schema must be a usable JSON Schema that can accept an object (the initial data)."""
    if schema is None:
        return []
    if not isinstance(schema, dict):
        return [f"input_schema must be a JSON Schema (a dict), not {type(schema).__name__}"]
    kind = schema.get("type", "object")
    if kind != "object" and not (isinstance(kind, list) and "object" in kind):
        return [f"input_schema must describe an object (the initial data), not type {kind!r}"]
    return _schema_problems(schema, "input_schema")


def _edge_problems(definition: WorkflowDefinition) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    edges: list[Any] = definition.edges
    for index, edge in enumerate(edges):
        if not isinstance(edge, Edge):
            problems.append(f"edge #{index} is not an Edge: {edge!r}")
            continue
        try:
            pair = (edge.get_source_name(), edge.get_target_name())
        except WorkflowValidationError as error:
            problems.append(f"edge #{index}: {error.detail}")
            continue
        for role, end in zip(("source", "target"), pair, strict=True):
            if end not in definition.steps:
                problems.append(
                    f"Edge {index}: {role} step {end!r} not found (edge {pair[0]!r} -> {pair[1]!r})"
                )
        if pair in seen:
            problems.append(f"edge {pair[0]!r} -> {pair[1]!r} is declared twice")
        seen.add(pair)
        if edge.problem:
            problems.append(f"edge {pair[0]!r} -> {pair[1]!r}: {edge.problem}")
    return problems


__all__ = ("ConditionFunc", "Edge", "WorkflowDefinition", "routing_difference", "step_name_of")
