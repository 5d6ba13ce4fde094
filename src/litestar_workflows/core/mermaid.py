r"""Render workflow definitions as MermaidJS flowcharts (and as a JSON-friendly graph).

The diagrams are meant to be pasted into Markdown, shown by the web UI or logged while debugging,
so they must stay valid Mermaid whatever the step names and conditions contain. Two rules make
that hold:

* **Node ids are the step names only where that is safe**: a name made of ASCII letters, digits
  and ``_`` (starting with a letter) that is not a Mermaid keyword such as ``end`` is its own id,
  as in the reference package's diagrams (``style review fill:...`` works). Any other name (spaces,
  arrows, quotes, keywords) gets a generated id ``s<i>`` (``i`` its position in
  ``definition.steps``, with ``_`` appended while it equals another step's name), which can never
  collide with a keyword or another id. :func:`mermaid_node_ids` exposes the mapping.
* **Every label is double-quoted and escaped** with Mermaid's entity codes (``#quot;``, ``#35;``
  ...; Mermaid turns ``#name;``/``#123;`` into the HTML entity ``&name;``/``&#123;``). Only the
  characters that can break the diagram, or that the HTML label renderer would misread, are
  escaped, so a condition such as ``context.get('score') >= 80`` stays readable in the source:

  ========  ============  =================================================================
  char      becomes       why
  ========  ============  =================================================================
  ``"``     ``#quot;``    ends the quoted label
  ``#``     ``#35;``      ``#word;`` would be decoded as an entity code
  ``|``     ``#124;``     delimits edge labels
  backtick  ``#96;``      a leading backtick turns the label into a Markdown string
  ``<``     ``#lt;``      only before ``[A-Za-z0-9_/!?]``, where it would start an HTML tag
  ``&``     ``#amp;``     only before ``[A-Za-z0-9#]`` (escapes included): an HTML entity
  ``%``     ``#37;``      only before another ``%``: ``%%{`` starts a Mermaid directive
  ``:``     ``#58;``      only in labels containing ``style``, ``classDef`` or ``fa:fa-``:
                          Mermaid strips a ``;`` from lines matching ``style.*:\S*#.*;``
                          and turns ``fa:fa-x`` into an icon
  ========  ============  =================================================================

  Line breaks and other control characters become spaces (a raw newline would end the
  statement), and an empty label becomes a single space (Mermaid rejects ``""``).

This module is pure (standard library plus :mod:`litestar_workflows.core.types`) and works on any
object shaped like :class:`~litestar_workflows.core.definition.WorkflowDefinition`, so it can be
used without the web extra and tested without building real steps.
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any, Final, Protocol

from litestar_workflows.core.types import StepType

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Mapping

__all__ = (
    "DIRECTIONS",
    "DefinitionLike",
    "EdgeLike",
    "StepLike",
    "condition_label",
    "escape_label",
    "graph_to_dict",
    "mermaid_node_ids",
    "to_mermaid",
    "to_mermaid_with_state",
)


class StepLike(Protocol):
    """What the renderer reads from a step (``description`` and ``title`` are optional)."""

    @property
    def step_type(self) -> str:
        """The step's :class:`~litestar_workflows.core.types.StepType` (a ``str`` enum)."""
        ...


class EdgeLike(Protocol):
    """What the renderer reads from an edge."""

    @property
    def condition(self) -> object:
        """``None``, a string expression or a callable."""
        ...

    def get_source_name(self) -> str:
        """Name of the step the edge leaves."""
        ...

    def get_target_name(self) -> str:
        """Name of the step the edge enters."""
        ...


class DefinitionLike(Protocol):
    """What the renderer reads from a workflow definition."""

    @property
    def steps(self) -> Mapping[str, StepLike]:
        """Steps by name, in declaration order (which decides the node ids)."""
        ...

    @property
    def edges(self) -> Iterable[EdgeLike]:
        """Edges in declaration order."""
        ...

    @property
    def initial_step(self) -> str:
        """Name of the step the workflow starts at."""
        ...

    @property
    def terminal_steps(self) -> Collection[str]:
        """Names of the steps the workflow is declared to end at."""
        ...


DIRECTIONS: Final = frozenset({"TD", "TB", "BT", "LR", "RL"})
"""Flowchart directions Mermaid accepts (``TD`` and ``TB`` are the same)."""

# Opening and closing delimiters of each step type's node shape. Unknown types get a rectangle,
# so a new step type never makes rendering fail.
_SHAPES: Final[dict[str, tuple[str, str]]] = {
    StepType.MACHINE: ("[", "]"),  # rectangle: automated work
    StepType.HUMAN: ("{{", "}}"),  # hexagon: manual input
    StepType.WEBHOOK: (">", "]"),  # flag: waits for something from outside
    StepType.TIMER: ("[[", "]]"),  # subroutine box: waits for time to pass
    StepType.GATEWAY: ("{", "}"),  # diamond: decision
}
_DEFAULT_SHAPE: Final = ("[", "]")

# Marker classes change only the border and state classes only the fill, so a node can carry
# one of each (e.g. the initial step that has completed) without one hiding the other.
_MARKER_CLASSES: Final = (
    ("wf_initial", "stroke:#2e7d32,stroke-width:3px"),
    ("wf_terminal", "stroke:#37474f,stroke-width:3px,stroke-dasharray:6 3"),
)
_STATE_CLASSES: Final = (
    ("wf_failed", "fill:#FFB6C1,color:#b71c1c"),
    ("wf_waiting", "fill:#ffecb3,color:#6d4c00"),
    ("wf_current", "fill:#FFD700,color:#000000"),
    ("wf_completed", "fill:#90EE90,color:#1b5e20"),
    ("wf_skipped", "fill:#eeeeee,color:#757575"),
)
_STATE_FILLS: Final = {name: style.split(",")[0] for name, style in _STATE_CLASSES}
"""Each state's fill, also written as a ``style <id> fill:...`` line (the reference's form)."""

_SAFE_ID: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_KEYWORDS: Final = frozenset(
    {"end", "graph", "flowchart", "subgraph", "style", "classdef", "class", "click", "linkstyle"}
    | {"direction", "call", "href", "callback", "default", "interpolate", "td", "tb", "bt", "lr", "rl"}
)
"""Words Mermaid reads as statements or directions (compared in lower case): never used as ids."""

_ALWAYS_ESCAPED: Final = {'"': "#quot;", "#": "#35;", "|": "#124;", "`": "#96;"}
_STARTS_HTML_TAG: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_/!?")
_STARTS_HTML_ENTITY: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789#")
# Unicode categories turned into spaces: control characters (newlines, tabs, NUL...) and the
# line/paragraph separators, none of which may appear raw inside a Mermaid statement.
_BLANKED_CATEGORIES: Final = frozenset({"Cc", "Zl", "Zp"})
# Mermaid drops the last ``;`` of any line matching ``style.*:\S*#.*;`` or ``classDef.*:\S*#.*;``
# (meant for style statements, applied to the whole text), and renders ``fa:fa-name`` as an icon.
_COLON_HAZARD: Final = re.compile(r"style|classDef|fa[bklrs]?:fa-")


def _clean_char(char: str) -> str:
    category = unicodedata.category(char)
    if category in _BLANKED_CATEGORIES:
        return " "
    if category == "Cs":  # a lone surrogate cannot even be encoded to UTF-8
        return "\ufffd"
    return char


def escape_label(text: str) -> str:
    """Escape ``text`` for use between the double quotes of a Mermaid label.

    See the module docstring for the table of escapes and the reason for each; everything not
    listed (``'``, ``>``, ``=``, ``!``, ``(``, letters in any script...) is kept as it is, so
    expressions stay readable in the diagram source.

    Args:
        text: Any string, e.g. a step name or a condition expression.

    Returns:
        The escaped text, never empty (an empty label is a Mermaid syntax error).
    """
    cleaned = "".join(_clean_char(char) for char in text)
    parts: list[str] = []
    for index, char in enumerate(cleaned):
        following = cleaned[index + 1 : index + 2]
        if char in _ALWAYS_ESCAPED:
            parts.append(_ALWAYS_ESCAPED[char])
        elif char == "<" and following and following in _STARTS_HTML_TAG:
            parts.append("#lt;")
        elif char == "%" and following == "%":
            parts.append("#37;")
        else:
            parts.append(char)
    # ``&`` is checked against what follows it in the output, so ``&"`` becomes ``#amp;#quot;``
    # rather than ``&#quot;``, which only Mermaid's entity pre-pass keeps from reading as HTML.
    for index in reversed(range(len(parts) - 1)):  # right to left: "&&x" escapes both
        if parts[index] == "&" and parts[index + 1][0] in _STARTS_HTML_ENTITY:
            parts[index] = "#amp;"
    escaped = "".join(parts)
    if _COLON_HAZARD.search(escaped):
        escaped = escaped.replace(":", "#58;")
    return escaped or " "


def condition_label(condition: object) -> str | None:
    """Describe an edge condition for people: the expression, or the callable's name.

    Args:
        condition: ``None``, a string expression, a callable or anything else.

    Returns:
        ``None`` for an unconditional edge; a string expression unchanged; a callable's
        ``__name__``, or ``"condition"`` for lambdas and callables without a name (a name such
        as ``<lambda>`` says nothing to a reader); ``str()`` of anything else.
    """
    if condition is None:
        return None
    if isinstance(condition, str):
        return condition
    if callable(condition):
        name = getattr(condition, "__name__", None)
        if isinstance(name, str) and name and name != "<lambda>":
            return name
        return "condition"
    return str(condition)


def mermaid_node_ids(definition: DefinitionLike) -> dict[str, str]:
    """Map each step name to its Mermaid node id (the name itself when safe, else ``s<i>``).

    Args:
        definition: The workflow definition.

    Returns:
        Step name to node id, e.g. to add ``click`` or ``style`` lines to the diagram.
    """
    names = list(definition.steps)
    safe = {name for name in names if _SAFE_ID.match(name) and name.lower() not in _KEYWORDS}
    ids: dict[str, str] = {}
    for index, name in enumerate(names):
        if name in safe:
            ids[name] = name
            continue
        generated = f"s{index}"
        while generated in safe:
            generated += "_"
        ids[name] = generated
    return ids


def _validated_direction(direction: str) -> str:
    normalised = direction.strip().upper()
    if normalised not in DIRECTIONS:
        raise ValueError(f"direction must be one of {sorted(DIRECTIONS)}, got {direction!r}")
    return normalised


def _title_of(step: StepLike) -> str | None:
    """A human step's non-blank title; other step types have no title worth showing."""
    title = getattr(step, "title", None)
    if step.step_type == StepType.HUMAN and isinstance(title, str) and title.strip():
        return title
    return None


def _node_label(name: str, step: StepLike, marker: str = "") -> str:
    label = escape_label(marker + name)
    title = _title_of(step)
    if title is not None and title != name:
        # ``<br/>`` is added after escaping, so it is the only tag in the label.
        label = f"{label}<br/>{escape_label(title)}"
    return label


def _terminal_names(definition: DefinitionLike) -> set[str]:
    """Declared terminal steps plus steps without outgoing edges: where a run can end."""
    with_successors = {edge.get_source_name() for edge in definition.edges}
    return {
        name for name in definition.steps if name in definition.terminal_steps or name not in with_successors
    }


def _render(
    definition: DefinitionLike,
    direction: str,
    class_defs: Iterable[tuple[str, str]],
    state_classes: Mapping[str, str] | None = None,
) -> str:
    """Render the diagram; ``state_classes`` maps step names to one extra class each.

    Statement order: nodes, edges, ``classDef`` lines, then ``class`` lines (one per class, in
    node order), so the source reads top-down and diffs between versions stay small.
    """
    header = f"graph {_validated_direction(direction)}"
    ids = mermaid_node_ids(definition)
    terminal = _terminal_names(definition)
    lines = [header]
    for name, step in definition.steps.items():
        opening, closing = _SHAPES.get(str(step.step_type), _DEFAULT_SHAPE)
        marker = "START: " if name == definition.initial_step else "END: " if name in terminal else ""
        lines.append(f'    {ids[name]}{opening}"{_node_label(name, step, marker)}"{closing}')
    for edge in definition.edges:
        source, target = edge.get_source_name(), edge.get_target_name()
        for end in (source, target):
            if end not in ids:
                raise ValueError(f"edge {source!r} -> {target!r} refers to unknown step {end!r}")
        label = condition_label(edge.condition)
        if label is None or not label.strip():
            lines.append(f"    {ids[source]} --> {ids[target]}")
        else:
            lines.append(f'    {ids[source]} -->|"{escape_label(label)}"| {ids[target]}')
    members: dict[str, list[str]] = {}
    for class_name, style in class_defs:
        lines.append(f"    classDef {class_name} {style}")
        members[class_name] = []
    for name, node_id in ids.items():
        if name == definition.initial_step:
            members["wf_initial"].append(node_id)
        if name in terminal:
            members["wf_terminal"].append(node_id)
        if state_classes is not None and name in state_classes:
            members[state_classes[name]].append(node_id)
    lines.extend(
        f"    class {','.join(node_ids)} {class_name}" for class_name, node_ids in members.items() if node_ids
    )
    if state_classes:
        lines.extend(
            f"    style {node_id} {_STATE_FILLS[state_classes[name]]}"
            for name, node_id in ids.items()
            if name in state_classes
        )
    return "\n".join(lines) + "\n"


def to_mermaid(definition: DefinitionLike, *, direction: str = "TD") -> str:
    """Render ``definition`` as a Mermaid flowchart.

    Each step is one node whose shape shows its type (machine: rectangle, human: parallelogram,
    webhook: flag, timer: circle, gateway: diamond) and whose label is the step name (plus the
    title of a human step that has one). Edges are arrows; conditional edges are labelled with
    :func:`condition_label`. The initial step gets the ``wf_initial`` class (green border) and
    every step a run can end at (declared terminal, or without outgoing edges) ``wf_terminal``
    (dashed dark border).

    Args:
        definition: The workflow definition (anything shaped like :class:`DefinitionLike`).
        direction: Flow direction: ``TD``/``TB`` (top-down), ``BT``, ``LR`` or ``RL``.

    Returns:
        The diagram source, starting with ``flowchart <direction>``, one statement per line.

    Raises:
        ValueError: ``direction`` is not a Mermaid direction, or an edge names an unknown step
            (the diagram would silently grow a node that is not a step).
    """
    return _render(definition, direction, _MARKER_CLASSES)


def to_mermaid_with_state(
    definition: DefinitionLike,
    *,
    current_step: str | None = None,
    completed_steps: Iterable[str] = (),
    failed_steps: Iterable[str] = (),
    skipped_steps: Iterable[str] = (),
    waiting_steps: Iterable[str] = (),
    direction: str = "TD",
) -> str:
    """Render ``definition`` like :func:`to_mermaid`, with steps coloured by an instance's state.

    The classes ``wf_failed``, ``wf_waiting``, ``wf_current``, ``wf_completed`` and
    ``wf_skipped`` are always defined (so a UI can restyle them) and each step gets at most one
    of them, the first that applies in that order: that a step failed matters more than that it
    is current, and a waiting step is also the current one. State classes only set the fill, so
    the initial/terminal borders stay visible. Names that are not steps of the definition are
    ignored: an instance's history may name steps of an older version.

    Args:
        definition: The workflow definition.
        current_step: The step the instance is at, if any.
        completed_steps: Steps that finished successfully.
        failed_steps: Steps that failed.
        skipped_steps: Steps that were skipped.
        waiting_steps: Steps waiting for a person, a webhook or a timer.
        direction: Flow direction, as for :func:`to_mermaid`.

    Returns:
        The diagram source.

    Raises:
        ValueError: As for :func:`to_mermaid`.
    """
    by_precedence = (
        ("wf_failed", set(failed_steps)),
        ("wf_waiting", set(waiting_steps)),
        ("wf_current", {current_step} if current_step is not None else set()),
        ("wf_completed", set(completed_steps)),
        ("wf_skipped", set(skipped_steps)),
    )
    state_classes: dict[str, str] = {}
    for class_name, names in by_precedence:
        for name in names:
            state_classes.setdefault(name, class_name)
    return _render(definition, direction, (*_MARKER_CLASSES, *_STATE_CLASSES), state_classes)


def graph_to_dict(definition: DefinitionLike) -> dict[str, Any]:
    """Describe the workflow graph as plain data, for UIs that draw it themselves.

    Nodes and edges refer to steps by name (not by Mermaid id), and nothing is escaped: the
    consumer renders the text itself.

    Args:
        definition: The workflow definition.

    Returns:
        ``{"nodes": [...], "edges": [...]}``. Each node has ``id`` (the step name), ``label``
        (a human step's title, else the name), ``type`` (the step type's value),
        ``description``, ``initial`` and ``terminal`` (declared terminal, or no outgoing edge).
        Each edge has ``source``, ``target`` and ``condition`` (see :func:`condition_label`).
    """
    terminal = _terminal_names(definition)
    nodes: list[dict[str, Any]] = []
    for name, step in definition.steps.items():
        description = getattr(step, "description", None)
        nodes.append(
            {
                "id": name,
                "label": _title_of(step) or name,
                "type": str(step.step_type),
                "description": description if isinstance(description, str) else "",
                "initial": name == definition.initial_step,
                "terminal": name in terminal,
            }
        )
    edges = [
        {
            "source": edge.get_source_name(),
            "target": edge.get_target_name(),
            "condition": condition_label(edge.condition),
        }
        for edge in definition.edges
    ]
    return {"nodes": nodes, "edges": edges}
