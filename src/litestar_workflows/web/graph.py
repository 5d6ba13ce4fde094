"""Workflow diagrams for the web layer, under the names the web API documents.

Thin wrappers around :mod:`litestar_workflows.core.mermaid`. This module deliberately imports
nothing from Litestar, so it can be used (e.g. to render diagrams in a CLI or in docs) without
installing the ``web`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar_workflows.core.mermaid import graph_to_dict, to_mermaid, to_mermaid_with_state

if TYPE_CHECKING:
    from collections.abc import Iterable

    from litestar_workflows.core.mermaid import DefinitionLike

__all__ = ("generate_mermaid_graph", "generate_mermaid_graph_with_state", "parse_graph_to_dict")

CALLABLE_CONDITION = "conditional"
"""What :func:`parse_graph_to_dict` puts in ``condition`` for an edge whose condition is code."""


def generate_mermaid_graph(definition: DefinitionLike) -> str:
    """Return ``definition`` as a Mermaid flowchart.

    See :func:`litestar_workflows.core.mermaid.to_mermaid` for shapes, classes and escaping.
    """
    return to_mermaid(definition)


def generate_mermaid_graph_with_state(
    definition: DefinitionLike,
    current_step: str | None = None,
    completed_steps: Iterable[str] | None = None,
    failed_steps: Iterable[str] | None = None,
    *,
    skipped_steps: Iterable[str] | None = None,
    waiting_steps: Iterable[str] | None = None,
) -> str:
    """Return the flowchart with an instance's steps highlighted by state.

    ``None`` is accepted for every list because request handlers usually have optional data;
    see :func:`~litestar_workflows.core.mermaid.to_mermaid_with_state` for the styling.
    """
    return to_mermaid_with_state(
        definition,
        current_step=current_step,
        completed_steps=completed_steps or (),
        failed_steps=failed_steps or (),
        skipped_steps=skipped_steps or (),
        waiting_steps=waiting_steps or (),
    )


def parse_graph_to_dict(definition: DefinitionLike) -> dict[str, Any]:
    """Return the graph as ``{"nodes": [...], "edges": [...]}`` for UIs that draw it themselves.

    In the documented shape, keeping the keys of
    :func:`litestar_workflows.core.mermaid.graph_to_dict`: a node's ``label`` is its step name
    title-cased (``manager_approval`` -> ``Manager Approval``), its markers are ``is_initial`` /
    ``is_terminal`` (and ``initial`` / ``terminal``), and an edge without a condition has no
    ``condition`` key. A string condition is its expression; a callable one is ``"conditional"``
    (the reference's marker: code, not an expression), with the function's name in
    ``condition_name``.
    """
    graph = graph_to_dict(definition)
    for node in graph["nodes"]:
        node["label"] = str(node["id"]).replace("_", " ").title()
        node["is_initial"] = node.get("initial", False)
        node["is_terminal"] = node.get("terminal", False)
    for edge, source in zip(graph["edges"], definition.edges, strict=True):
        if edge.get("condition") is None:
            edge.pop("condition", None)
        elif callable(source.condition):
            edge["condition_name"] = edge["condition"]
            edge["condition"] = CALLABLE_CONDITION
    return graph
