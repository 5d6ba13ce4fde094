"""Tests for the Mermaid rendering of workflow definitions.

The structural tests check the generated text directly. The ``mermaid_cli`` tests additionally
run the real Mermaid parser in Node.js (with jsdom standing in for the browser) and compare the
label text Mermaid stores with what the user should see; they are skipped unless Node.js and a
directory with ``node_modules/mermaid`` and ``node_modules/jsdom`` are available (see
``MERMAID_DIR`` below).
"""

from __future__ import annotations

import html
import json
import os
import random
import re
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from litestar_workflows.core.definition import Edge, WorkflowDefinition
from litestar_workflows.core.mermaid import (
    condition_label,
    escape_label,
    graph_to_dict,
    mermaid_node_ids,
    to_mermaid,
    to_mermaid_with_state,
)
from litestar_workflows.core.types import StepType
from litestar_workflows.web.graph import (
    generate_mermaid_graph,
    generate_mermaid_graph_with_state,
    parse_graph_to_dict,
)

# --------------------------------------------------------------------------- steps and fakes


class _Step:
    step_type: ClassVar[StepType] = StepType.MACHINE

    def __init__(self, name: str, description: str = "", title: str | None = None) -> None:
        self.name = name
        self.description = description
        if title is not None:
            self.title = title

    async def execute(self, context: Any) -> None:
        return None


class MachineStep(_Step):
    step_type = StepType.MACHINE


class HumanStep(_Step):
    step_type = StepType.HUMAN


class WebhookStep(_Step):
    step_type = StepType.WEBHOOK


class TimerStep(_Step):
    step_type = StepType.TIMER


class GatewayStep(_Step):
    step_type = StepType.GATEWAY


@dataclass
class FakeStep:
    """Duck-typed step: the renderer must not need more than the documented attributes."""

    step_type: str = StepType.MACHINE
    description: str = ""


@dataclass
class FakeEdge:
    source: str
    target: str
    condition: object = None

    def get_source_name(self) -> str:
        return self.source

    def get_target_name(self) -> str:
        return self.target


@dataclass
class FakeDefinition:
    """Duck-typed definition; lets us use conditions a real definition would reject."""

    steps: dict[str, FakeStep]
    edges: list[FakeEdge]
    initial_step: str
    terminal_steps: set[str] = field(default_factory=set)


def is_high_value(context: Any) -> bool:
    return True


def chain_definition(names: list[str], conditions: list[object] | None = None) -> FakeDefinition:
    """A linear fake workflow over ``names``; edge ``i`` gets ``conditions[i]``."""
    conditions = conditions or [None] * (len(names) - 1)
    edges = [FakeEdge(a, b, c) for a, b, c in zip(names, names[1:], conditions, strict=False)]
    return FakeDefinition(
        steps={name: FakeStep() for name in names},
        edges=edges,
        initial_step=names[0],
        terminal_steps={names[-1]},
    )


def all_types_definition() -> WorkflowDefinition:
    return WorkflowDefinition(
        name="order",
        steps={
            "receive": MachineStep("receive"),
            "approve": HumanStep("approve", title="Manager approval"),
            "route": GatewayStep("route"),
            "wait": TimerStep("wait"),
            "callback": WebhookStep("callback"),
            "ship": MachineStep("ship"),
        },
        edges=[
            Edge("receive", "approve"),
            Edge("approve", "route"),
            Edge("route", "wait", "context.get('score') >= 80"),
            Edge("route", "callback", is_high_value),
            Edge("wait", "ship"),
            Edge("callback", "ship", lambda context: True),
        ],
        initial_step="receive",
        terminal_steps={"ship"},
    )


# --------------------------------------------------------------------------- output parsing

ID = r"[A-Za-z][A-Za-z0-9_]*"
NODE_LINE = re.compile(rf'^    ({ID})(\{{\{{|\[\[|\[|>|\{{)"([^"\n]*)"(\}}\}}|\]\]|\]|\}})$')
EDGE_LINE = re.compile(rf'^    ({ID}) -->(?:\|"([^"|\n]*)"\|)? ({ID})$')
CLASSDEF_LINE = re.compile(r"^    classDef (wf_[a-z]+) [a-z-]+:[^\s;]+(?:,[a-z-]+:[^,;]+)*$")
CLASS_LINE = re.compile(rf"^    class ({ID}(?:,{ID})*) (wf_[a-z]+)$")
STYLE_LINE = re.compile(rf"^    style ({ID}) fill:(#[0-9A-Fa-f]{{6}})$")
MERMAID_WORDS = {"end", "graph", "flowchart", "subgraph", "style", "classdef", "class", "click", "callback"}
"""Names Mermaid would read as keywords (a subset of what the renderer avoids): never ids."""
ENTITY = re.compile(r"#(?:\d+|[a-z]+);")


@dataclass
class Parsed:
    nodes: dict[str, tuple[str, str]]  # id -> (opening delimiter, label)
    node_lines: list[str]
    edges: list[tuple[str, str, str | None]]
    class_defs: list[str]
    classes: dict[str, list[str]]  # class -> ids
    styles: dict[str, str] = field(default_factory=dict)  # id -> fill colour


def parse(diagram: str) -> Parsed:
    """Split a diagram into statements, failing on any line that is not one we generate."""
    assert diagram.endswith("\n")
    lines = diagram[:-1].split("\n")
    # No stray line breaks of any kind (\r, \u2028, \x85...) hide inside a statement.
    assert diagram.splitlines() == lines
    assert lines[0] in {f"graph {d}" for d in ("TD", "TB", "BT", "LR", "RL")}
    parsed = Parsed({}, [], [], [], {})
    for line in lines[1:]:
        if match := NODE_LINE.match(line):
            parsed.node_lines.append(match[1])
            parsed.nodes[match[1]] = (match[2], match[3])
        elif match := EDGE_LINE.match(line):
            parsed.edges.append((match[1], match[3], match[2]))
        elif match := CLASSDEF_LINE.match(line):
            parsed.class_defs.append(match[1])
        elif match := CLASS_LINE.match(line):
            parsed.classes[match[2]] = match[1].split(",")
        elif match := STYLE_LINE.match(line):
            parsed.styles[match[1]] = match[2]
        else:
            pytest.fail(f"unexpected line {line!r} in\n{diagram}")
    return parsed


def assert_safe_label(label: str) -> None:
    """What must never appear raw in a label, whatever the input."""
    assert '"' not in label
    assert "|" not in label
    assert "`" not in label
    assert "%%" not in label
    assert "#" not in ENTITY.sub("", label), "every # starts an entity code"
    assert not re.search(r"<(?!br/>)[A-Za-z0-9_/!?]", label), "no HTML tag but our <br/>"
    assert not re.search(r"&[A-Za-z0-9#]", label), "no HTML entity"
    assert not any(ch in label for ch in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
    if re.search(r"style|classDef|fa[bklrs]?:fa-", label):
        assert ":" not in label
    assert label, "Mermaid rejects empty labels"


# --------------------------------------------------------------------------- structure


def test_every_step_type_has_its_shape() -> None:
    diagram = to_mermaid(all_types_definition())
    parsed = parse(diagram)
    ids = mermaid_node_ids(all_types_definition())
    # Plain names are their own ids (as in the reference package's diagrams).
    # "callback" is a word of Mermaid's click statement, so it gets a generated id.
    assert ids == {name: name for name in ("receive", "approve", "route", "wait", "ship")} | {
        "callback": "s4"
    }
    assert parsed.nodes == {
        "receive": ("[", "START: receive"),
        "approve": ("{{", "approve<br/>Manager approval"),
        "route": ("{", "route"),
        "wait": ("[[", "wait"),
        "s4": (">", "callback"),
        "ship": ("[", "END: ship"),
    }
    assert '    approve{{"approve<br/>Manager approval"}}' in diagram
    assert '    wait[["wait"]]' in diagram
    assert '    s4>"callback"]' in diagram


def test_edges_and_condition_labels() -> None:
    parsed = parse(to_mermaid(all_types_definition()))
    assert parsed.edges == [
        ("receive", "approve", None),
        ("approve", "route", None),
        ("route", "wait", "context.get('score') >= 80"),
        ("route", "s4", "is_high_value"),
        ("wait", "ship", None),
        ("s4", "ship", "condition"),  # a lambda's name says nothing
    ]


def test_initial_and_terminal_steps_are_marked() -> None:
    parsed = parse(to_mermaid(all_types_definition()))
    assert parsed.class_defs == ["wf_initial", "wf_terminal"]
    assert parsed.classes == {"wf_initial": ["receive"], "wf_terminal": ["ship"]}


def test_steps_without_outgoing_edges_count_as_terminal() -> None:
    definition = FakeDefinition(
        steps={"a": FakeStep(), "b": FakeStep(), "c": FakeStep()},
        edges=[FakeEdge("a", "b"), FakeEdge("a", "c")],
        initial_step="a",
        terminal_steps={"b"},
    )
    parsed = parse(to_mermaid(definition))
    assert parsed.classes["wf_terminal"] == ["b", "c"]
    assert [label for _, label in parsed.nodes.values()] == ["START: a", "END: b", "END: c"]
    assert [n["terminal"] for n in graph_to_dict(definition)["nodes"]] == [False, True, True]


def test_single_step_is_initial_and_terminal() -> None:
    definition = FakeDefinition({"only": FakeStep()}, [], "only", {"only"})
    parsed = parse(to_mermaid(definition))
    assert parsed.classes == {"wf_initial": ["only"], "wf_terminal": ["only"]}
    assert parsed.nodes == {"only": ("[", "START: only")}


def test_unknown_step_type_falls_back_to_a_rectangle() -> None:
    definition = FakeDefinition({"x": FakeStep(step_type="quantum")}, [], "x")
    assert parse(to_mermaid(definition)).nodes == {"x": ("[", "START: x")}


@pytest.mark.parametrize("direction", ["TD", "TB", "BT", "LR", "RL", "lr", " LR "])
def test_direction(direction: str) -> None:
    diagram = to_mermaid(all_types_definition(), direction=direction)
    assert diagram.startswith(f"graph {direction.strip().upper()}\n")


@pytest.mark.parametrize("direction", ["", "XY", "TD\ns0-->s1", "LR;"])
def test_bad_direction_is_rejected(direction: str) -> None:
    with pytest.raises(ValueError, match="direction"):
        to_mermaid(all_types_definition(), direction=direction)


def test_edge_to_unknown_step_is_rejected() -> None:
    definition = FakeDefinition({"a": FakeStep()}, [FakeEdge("a", "ghost")], "a")
    with pytest.raises(ValueError, match="ghost"):
        to_mermaid(definition)


def test_blank_condition_gives_an_unlabelled_edge() -> None:
    parsed = parse(to_mermaid(chain_definition(["a", "b", "c"], ["", "  \n "])))
    assert parsed.edges == [("a", "b", None), ("b", "c", None)]


def test_output_is_deterministic() -> None:
    assert to_mermaid(all_types_definition()) == to_mermaid(all_types_definition())


# --------------------------------------------------------------------------- conditions


def test_condition_label() -> None:
    class Checker:
        def __call__(self, context: Any) -> bool:
            return True

    assert condition_label(None) is None
    assert condition_label("context.x == 1") == "context.x == 1"
    assert condition_label(is_high_value) == "is_high_value"
    assert condition_label(lambda c: True) == "condition"
    assert condition_label(Checker()) == "condition"
    assert condition_label(42) == "42"


def test_readable_condition_keeps_its_operators() -> None:
    definition = WorkflowDefinition(
        name="w",
        steps={"a": MachineStep("a"), "b": MachineStep("b"), "c": MachineStep("c")},
        edges=[
            Edge("a", "b", "context.get('score') >= 80 and context.get('tier') != \"gold\""),
            Edge("a", "c", "context.get('score') < 80 or context['n'] <= 3 == True"),
        ],
        initial_step="a",
    )
    diagram = to_mermaid(definition)
    assert (
        "    a -->|\"context.get('score') >= 80 and context.get('tier') != #quot;gold#quot;\"| b" in diagram
    )
    assert "    a -->|\"context.get('score') < 80 or context['n'] <= 3 == True\"| c" in diagram
    for _, _, label in parse(diagram).edges:
        assert label is not None
        assert_safe_label(label)


def test_condition_with_quote_pipe_and_newline_is_escaped() -> None:
    # Valid in the condition language: parentheses allow the line break.
    condition = "(context.get('a|b') == \"x\"\n and context.get('n') < 3)"
    definition = WorkflowDefinition(
        name="w",
        steps={"a": MachineStep("a"), "b": MachineStep("b")},
        edges=[Edge("a", "b", condition)],
        initial_step="a",
    )
    diagram = to_mermaid(definition)
    escaped = "(context.get('a#124;b') == #quot;x#quot;  and context.get('n') < 3)"
    assert f'    a -->|"{escaped}"| b' in diagram
    parse(diagram)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("", " "),
        ('say "hi"', "say #quot;hi#quot;"),
        ("a|b", "a#124;b"),
        ("a\nb\r\nc\u2028d\te", "a b  c d e"),
        ("#1 #quot;", "#35;1 #35;quot;"),
        ("`md`", "#96;md#96;"),
        ("x < 3 <= y <5 <b> </i> <!-- <?", "x < 3 <= y #lt;5 #lt;b> #lt;/i> #lt;!-- #lt;?"),
        ("a > b >= c -> d", "a > b >= c -> d"),
        ("R&D & co &amp; &#60;", "R#amp;D & co #amp;amp; #amp;#35;60;"),
        ("x % 2 == 0", "x % 2 == 0"),
        ("%%{init: {}}%%", "#37;%{init: {}}#37;%"),
        ("a: b", "a: b"),
        ("style: red", "style#58; red"),
        ("classDef: x", "classDef#58; x"),
        ("fa:fa-car", "fa#58;fa-car"),
        ("end", "end"),
        ("Ünïcødé 中文 🚀", "Ünïcødé 中文 🚀"),
        ("\x00\x7f\x85", "   "),
    ],
)
def test_escape_label(text: str, expected: str) -> None:
    assert escape_label(text) == expected


# --------------------------------------------------------------------------- hostile names

HOSTILE_NAMES = [
    "end",
    "graph",
    "style",
    "class",
    "classDef",
    "subgraph",
    "flowchart",
    "click",
    "a b",
    "x-->y",
    '"quoted"',
    "a|b",
    "[box]",
    "{diamond}",
    "((circle))",
    "o",
    "x",
    "a;b",
    "line\nbreak",
    "Ünïcødé 中文 🚀",
    "",
    " ",
    "s0",
    "s1",
    "#quot;",
    "%%{init: {'theme': 'dark'}}%%",
    "<b>bold</b>",
    "style:#quot;x;",
    "fa:fa-car",
]


def hostile_definition() -> WorkflowDefinition:
    steps: dict[str, Any] = {}
    for index, name in enumerate(HOSTILE_NAMES):
        cls = [MachineStep, HumanStep, WebhookStep, TimerStep, GatewayStep][index % 5]
        steps[name] = cls(name)
    edges = [Edge(a, b) for a, b in zip(HOSTILE_NAMES, HOSTILE_NAMES[1:], strict=False)]
    return WorkflowDefinition(
        name="hostile",
        steps=steps,
        edges=edges,
        initial_step=HOSTILE_NAMES[0],
        terminal_steps={HOSTILE_NAMES[-1]},
    )


def test_hostile_names_get_unique_safe_ids_and_escaped_labels() -> None:
    definition = hostile_definition()
    diagram = to_mermaid(definition)
    parsed = parse(diagram)
    ids = mermaid_node_ids(definition)
    assert len(set(ids.values())) == len(ids)
    for index, (name, node_id) in enumerate(ids.items()):
        if re.fullmatch(ID, name) and name.lower() not in MERMAID_WORDS:
            assert node_id == name  # a plain name is its own id
        else:
            assert re.fullmatch(r"s\d+_*", node_id), node_id  # anything else: generated
            assert node_id.rstrip("_") == f"s{index}"
    assert ids["end"] != "end"  # a Mermaid keyword is never an id
    assert ids["s0"] == "s0"  # a step may be called s0: the generated id of position 0 steps aside
    assert f"s{HOSTILE_NAMES.index('end')}" in ids or ids["end"].endswith("_")
    assert sorted(parsed.node_lines) == sorted(ids.values())  # each id declared exactly once
    for index, (name, node_id) in enumerate(ids.items()):
        _, label = parsed.nodes[node_id]
        marker = "START: " if index == 0 else "END: " if index == len(ids) - 1 else ""
        assert label == escape_label(marker + name)
        assert_safe_label(label)
    assert parsed.nodes[ids['"quoted"']][1] == "#quot;quoted#quot;"
    assert parsed.nodes[ids["end"]][1] == "START: end"
    assert parsed.nodes[ids[""]][1] == " "
    assert len(parsed.edges) == len(HOSTILE_NAMES) - 1


# --------------------------------------------------------------------------- state


def test_state_classes() -> None:
    diagram = to_mermaid_with_state(
        all_types_definition(),
        current_step="route",
        completed_steps=["receive", "approve"],
        failed_steps=["callback"],
        skipped_steps=["wait"],
        waiting_steps=[],
    )
    parsed = parse(diagram)
    assert parsed.class_defs == [
        "wf_initial",
        "wf_terminal",
        "wf_failed",
        "wf_waiting",
        "wf_current",
        "wf_completed",
        "wf_skipped",
    ]
    assert parsed.classes == {
        "wf_initial": ["receive"],
        "wf_terminal": ["ship"],
        "wf_failed": ["s4"],
        "wf_current": ["route"],
        "wf_completed": ["receive", "approve"],
        "wf_skipped": ["wait"],
    }
    # Each state-coloured node also gets a style line with its fill (the reference's colours).
    assert parsed.styles == {
        "receive": "#90EE90",
        "approve": "#90EE90",
        "route": "#FFD700",
        "wait": "#eeeeee",
        "s4": "#FFB6C1",
    }
    # Same nodes and edges as the plain diagram: state only adds classes.
    plain = to_mermaid(all_types_definition())
    assert diagram.split("    classDef")[0] == plain.split("    classDef")[0]


def test_state_precedence_gives_one_state_class_per_step() -> None:
    diagram = to_mermaid_with_state(
        all_types_definition(),
        current_step="approve",
        completed_steps=["receive", "approve", "route"],
        failed_steps=["route"],
        waiting_steps=["approve"],
        skipped_steps=["route", "ghost-from-an-old-version"],
    )
    classes = parse(diagram).classes
    assert classes["wf_failed"] == ["route"]
    assert classes["wf_waiting"] == ["approve"]
    assert classes["wf_completed"] == ["receive"]
    assert "wf_current" not in classes
    assert "wf_skipped" not in classes


def test_state_without_any_state_still_defines_the_classes() -> None:
    parsed = parse(to_mermaid_with_state(all_types_definition()))
    assert len(parsed.class_defs) == 7
    assert set(parsed.classes) == {"wf_initial", "wf_terminal"}


def test_definition_methods_delegate() -> None:
    definition = all_types_definition()
    assert definition.to_mermaid() == to_mermaid(definition)
    assert definition.to_mermaid_with_state(current_step="wait") == to_mermaid_with_state(
        definition, current_step="wait"
    )


# --------------------------------------------------------------------------- dict form


def test_graph_to_dict() -> None:
    graph = graph_to_dict(all_types_definition())
    assert json.loads(json.dumps(graph)) == graph
    assert graph["nodes"][:2] == [
        {
            "id": "receive",
            "label": "receive",
            "type": "machine",
            "description": "",
            "initial": True,
            "terminal": False,
        },
        {
            "id": "approve",
            "label": "Manager approval",
            "type": "human",
            "description": "",
            "initial": False,
            "terminal": False,
        },
    ]
    assert [n["type"] for n in graph["nodes"]] == [
        "machine",
        "human",
        "gateway",
        "timer",
        "webhook",
        "machine",
    ]
    assert graph["nodes"][-1]["terminal"] is True
    assert graph["edges"] == [
        {"source": "receive", "target": "approve", "condition": None},
        {"source": "approve", "target": "route", "condition": None},
        {"source": "route", "target": "wait", "condition": "context.get('score') >= 80"},
        {"source": "route", "target": "callback", "condition": "is_high_value"},
        {"source": "wait", "target": "ship", "condition": None},
        {"source": "callback", "target": "ship", "condition": "condition"},
    ]


def test_graph_to_dict_keeps_text_unescaped() -> None:
    graph = graph_to_dict(hostile_definition())
    assert [n["id"] for n in graph["nodes"]] == HOSTILE_NAMES
    assert graph["nodes"][10]["label"] == '"quoted"'


# --------------------------------------------------------------------------- web re-exports


def test_web_graph_wrappers() -> None:
    definition = all_types_definition()
    assert generate_mermaid_graph(definition) == to_mermaid(definition)
    assert generate_mermaid_graph_with_state(definition) == to_mermaid_with_state(definition)
    assert generate_mermaid_graph_with_state(
        definition, "route", ["receive"], None, waiting_steps=None
    ) == to_mermaid_with_state(definition, current_step="route", completed_steps=["receive"])
    web_graph, core_graph = parse_graph_to_dict(definition), graph_to_dict(definition)
    assert [n["id"] for n in web_graph["nodes"]] == [n["id"] for n in core_graph["nodes"]]
    for web_node, core_node in zip(web_graph["nodes"], core_graph["nodes"], strict=True):
        assert web_node["is_initial"] == core_node["initial"]  # the documented marker names, too
        assert web_node["label"] == web_node["id"].replace("_", " ").title()


def test_web_graph_imports_without_litestar() -> None:
    code = (
        "import sys; sys.modules['litestar'] = None; "
        "import litestar_workflows.web.graph as g; "
        "assert not any(m == 'litestar' or m.startswith('litestar.') for m in sys.modules if sys.modules[m])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- property tests

names_strategy = st.lists(st.text(max_size=20), min_size=1, max_size=8, unique=True)
hostile_text = st.lists(
    st.sampled_from(
        [
            *"\"'|`#;:<>&%{}[]()/\\-=!? \n\r\t\u2028\x85\x00aeoxsty01é🚀",
            *["style", "classDef", "fa:fa-", "end", "<br/>", "#quot;", "&amp;", "%%{", "-->"],
        ]
    ),
    max_size=15,
).map("".join)
conditions_strategy = st.one_of(st.none(), st.text(max_size=40), hostile_text)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(names=names_strategy, data=st.data())
def test_random_names_and_conditions_never_break_the_structure(names: list[str], data: st.DataObject) -> None:
    conditions = data.draw(st.lists(conditions_strategy, min_size=len(names) - 1, max_size=len(names) - 1))
    definition = chain_definition(names, list(conditions))
    diagram = to_mermaid_with_state(
        definition, current_step=names[0], completed_steps=names[1:2], failed_steps=names[-1:]
    )
    parsed = parse(diagram)
    ids = mermaid_node_ids(definition)
    assert len(set(ids.values())) == len(names)
    assert sorted(parsed.node_lines) == sorted(ids.values())  # each id declared exactly once
    for index, name in enumerate(names):
        label = parsed.nodes[ids[name]][1]
        marker = "START: " if index == 0 else "END: " if index == len(names) - 1 else ""
        assert label == escape_label(marker + name)
        assert_safe_label(label)
    assert [(s, t) for s, t, _ in parsed.edges] == [
        (ids[a], ids[b]) for a, b in zip(names, names[1:], strict=False)
    ]
    for (_, _, label), condition in zip(parsed.edges, conditions, strict=True):
        if condition is None or not condition.strip():
            assert label is None
        else:
            assert label == escape_label(condition)
            assert_safe_label(label)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(text=st.one_of(st.text(), hostile_text))
def test_escape_label_properties(text: str) -> None:
    escaped = escape_label(text)
    assert_safe_label(escaped)
    # Decoding the entity codes (as Mermaid, then the HTML renderer, would) gives the text back,
    # with line breaks and control characters turned into spaces.
    expected = "".join(" " if _is_blanked(ch) else ch for ch in text) or " "
    assert html.unescape(_to_html(escaped)) == expected


def _is_blanked(char: str) -> bool:
    return unicodedata.category(char) in {"Cc", "Zl", "Zp"}


def _to_html(escaped: str) -> str:
    """Mermaid's own entity decoding: ``#123;`` -> ``&#123;``, ``#name;`` -> ``&name;``."""
    return re.sub(r"#(\d+);", r"&#\1;", re.sub(r"#([A-Za-z_]\w*);", r"&\1;", escaped))


# --------------------------------------------------------------------------- real Mermaid parser

MERMAID_DIR = Path(os.environ.get("LITESTAR_WORKFLOWS_MERMAID_DIR", "/tmp/mermaid-check"))
NODE = shutil.which("node")

# Runs in MERMAID_DIR so that the bare imports resolve to its node_modules. Reads a JSON list of
# diagrams on stdin; for each, runs mermaid.parse (the full pipeline: preprocessing, directives,
# entity encoding, grammar) and then reads back the flowchart's vertices and edges.
NODE_SCRIPT = r"""
import { JSDOM } from 'jsdom';
import { readFileSync } from 'node:fs';
const dom = new JSDOM('<!DOCTYPE html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false });
const diagrams = JSON.parse(readFileSync(0, 'utf8'));
const results = [];
for (const text of diagrams) {
  try {
    const info = await mermaid.parse(text);
    const diagram = await mermaid.mermaidAPI.getDiagramFromText(text);
    const vertices = {};
    for (const [id, v] of diagram.db.getVertices()) {
      vertices[id] = { text: v.text, type: v.type, classes: v.classes };
    }
    const edges = diagram.db.getEdges().map((e) => [e.start, e.end, e.text]);
    results.push({ error: null, type: info.diagramType, vertices, edges });
  } catch (e) {
    results.push({ error: String(e?.message ?? e) });
  }
}
process.stdout.write(JSON.stringify(results));
"""

needs_mermaid = pytest.mark.skipif(
    NODE is None
    or not (MERMAID_DIR / "node_modules" / "mermaid").is_dir()
    or not (MERMAID_DIR / "node_modules" / "jsdom").is_dir(),
    reason=f"needs node and `npm install mermaid jsdom` in {MERMAID_DIR} (or LITESTAR_WORKFLOWS_MERMAID_DIR)",
)


def mermaid_parse(diagrams: list[str]) -> list[dict[str, Any]]:
    assert NODE is not None
    result = subprocess.run(
        [NODE, "--input-type=module", "-e", NODE_SCRIPT],
        input=json.dumps(diagrams),
        capture_output=True,
        text=True,
        encoding="utf-8",
        cwd=MERMAID_DIR,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    results: list[dict[str, Any]] = json.loads(result.stdout)
    assert len(results) == len(diagrams)
    return results


def shown_text(stored: str) -> str:
    """What a browser shows for a label Mermaid stored.

    Entity placeholders are decoded as Mermaid's ``decodeEntities`` does, then the HTML is
    decoded and whitespace collapsed; the ``<br>`` we add between a name and a title shows as
    ``" / "``.
    """
    return " / ".join(_shown_part(part) for part in stored.split("<br>"))


def _shown_part(stored: str) -> str:
    decoded = stored.replace("\ufb02\xb0\xb0", "&#").replace("\ufb02\xb0", "&").replace("\xb6\xdf", ";")
    return " ".join(html.unescape(decoded).split())


def expected_text(text: str) -> str:
    return " ".join("".join(" " if _is_blanked(ch) else ch for ch in text).split())


MERMAID_TYPES = {
    "[": "square",
    "[/": "lean_right",
    "{": "diamond",
    "{{": "hexagon",
    "[[": "subroutine",
    "((": "circle",
    ">": "odd",
}


def start_or_end(definition: FakeDefinition | WorkflowDefinition, name: str) -> str:
    """The marker a node's label starts with: where a run starts, or where it can end."""
    if name == definition.initial_step:
        return "START: "
    sources = {edge.get_source_name() for edge in definition.edges}
    return "END: " if name in definition.terminal_steps or name not in sources else ""


def check_against_mermaid(definitions: list[FakeDefinition | WorkflowDefinition]) -> None:
    diagrams = [to_mermaid_with_state(d, current_step=d.initial_step) for d in definitions]
    for definition, diagram, result in zip(definitions, diagrams, mermaid_parse(diagrams), strict=True):
        assert result["error"] is None, f"{result['error']}\n{diagram}"
        assert result["type"] == "flowchart-v2"
        ids = mermaid_node_ids(definition)
        assert set(result["vertices"]) == set(ids.values()), diagram
        for name, node_id in ids.items():
            vertex = result["vertices"][node_id]
            expected = expected_text(start_or_end(definition, name) + name)
            title = getattr(definition.steps[name], "title", None)
            if title:
                expected += " / " + expected_text(title)
            assert shown_text(vertex["text"]) == expected, (name, vertex, diagram)
            opening = parse(diagram).nodes[node_id][0]
            assert vertex["type"] == MERMAID_TYPES[opening]
        expected_edges = []
        for edge in definition.edges:
            label = condition_label(edge.condition)
            expected_edges.append(
                [
                    ids[edge.get_source_name()],
                    ids[edge.get_target_name()],
                    expected_text(label) if label and label.strip() else "",
                ]
            )
        got = [[s, t, shown_text(text)] for s, t, text in result["edges"]]
        assert got == expected_edges, diagram
        assert "wf_initial" in result["vertices"][ids[definition.initial_step]]["classes"]


@needs_mermaid
def test_mermaid_accepts_every_step_type_and_hostile_names() -> None:
    check_against_mermaid([all_types_definition(), hostile_definition()])


@needs_mermaid
def test_mermaid_accepts_random_hostile_text() -> None:
    # One Node process for many diagrams (starting Mermaid takes about a second), so the inputs
    # come from a seeded generator instead of hypothesis.
    rng = random.Random(20240601)
    atoms = [
        *"\"'|`#;:<>&%{}[]()/\\-=!? \n\r\t\u2028\x85aeostxy01é🚀",
        "style",
        "classDef",
        "fa:fa-car",
        "end",
        "graph",
        "<br/>",
        "<b>",
        "#quot;",
        "#35;",
        "&amp;",
        "&#60;",
        "%%{init: {}}%%",
        "-->",
        "|x|",
        '["',
        "subgraph",
    ]

    def text() -> str:
        return "".join(rng.choice(atoms) for _ in range(rng.randint(0, 12)))

    definitions: list[FakeDefinition | WorkflowDefinition] = []
    for _ in range(150):
        names = list(dict.fromkeys(text() for _ in range(rng.randint(1, 6))))
        conditions: list[object] = [rng.choice([None, text(), text()]) for _ in names[1:]]
        definitions.append(chain_definition(names, conditions))
    check_against_mermaid(definitions)


@needs_mermaid
def test_mermaid_rejects_what_we_escape() -> None:
    """Guards the harness itself: it must report Mermaid's syntax errors."""
    [bad, good] = mermaid_parse(['flowchart TD\n    s0["a"b"]\n', 'flowchart TD\n    s0["a#quot;b"]\n'])
    assert bad["error"] is not None
    assert good["error"] is None
