"""Step groups that wait (for a person, a timer or a webhook) become ordinary graph structure.

A group that only computes runs inside one step execution (see :mod:`litestar_workflows.steps.groups`).
A group holding a step that waits cannot: the wait must be a step execution of its own, with its
task, its deadline and its durable state, like any other. So when a definition is built, such a
group is unfolded into the graph the engine already knows how to run:

- ``ParallelGroup(a, b, callback=c)`` under the key ``K``: a fork step ``K.start`` takes every
  edge that entered ``K`` (and the initial step, when ``K`` was it), edges lead from it to ``a``
  and ``b``, and both lead into ``K``, which is now the join: the callback ``c`` when the group
  has one, else a step that does nothing. Edges that left ``K`` leave the join, so the steps after
  the group run once every member is done, and ``has_step_executed(K)`` still means "the group
  finished".
- ``SequentialGroup(a, b)`` under ``K``: the edges into ``K`` enter ``a``, ``a`` leads to ``b``,
  and ``b`` to ``K``, a step that does nothing and that the edges after the group leave.

Members keep their own names as keys (``K.<index>`` when a member has no name or its name is
taken), so their tasks and history read as the steps they are. Unfolding repeats until no waiting
group is left, so a waiting group inside another group unfolds too. Unlike a computing group, the
unfolded members are retried and timed out one by one. Nothing here runs user code.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from litestar_workflows.core.types import StepType

if TYPE_CHECKING:
    from litestar_workflows.core.definition import Edge, WorkflowDefinition

WAITING_KINDS = frozenset({StepType.HUMAN, StepType.TIMER, StepType.WEBHOOK})


def waits(step: Any) -> bool:
    """Tell whether ``step`` waits for the outside world, itself or through a member of its group."""
    if getattr(step, "step_type", None) in WAITING_KINDS:
        return True
    from litestar_workflows.steps.groups import StepGroup

    return isinstance(step, StepGroup) and any(waits(member) for member in step.steps)


def unfold_waiting_groups(definition: WorkflowDefinition) -> None:
    """Replace every group of ``definition`` that holds a waiting step by the steps it stands for.

    Called when the definition is built, after each step has its key as its name. Groups that
    only compute stay as they are.
    """
    from litestar_workflows.steps.groups import ParallelGroup, SequentialGroup

    groups = (ParallelGroup, SequentialGroup)
    if not any(isinstance(step, groups) for step in definition.steps.values()):
        return
    while True:
        key = next(
            (k for k, step in definition.steps.items() if isinstance(step, groups) and waits(step)),
            None,
        )
        if key is None:
            return
        group = definition.steps[key]
        if isinstance(group, ParallelGroup):
            _unfold_parallel(definition, key, group)
        else:
            _unfold_sequence(definition, key, group)


def folded_waiting_groups(definition: WorkflowDefinition) -> list[str]:
    """Problems for waiting groups still folded: put into ``steps`` after the definition was built.

    Unfolding happens when a definition is built; a group added later would run inside one step
    execution and could not wait, so :meth:`WorkflowDefinition.validate` reports it instead.
    """
    from litestar_workflows.steps.groups import ParallelGroup, SequentialGroup

    return [
        f"step group {key!r} holds a step that waits (a person, a timer or a webhook) but was added "
        "after the definition was built: such groups are unfolded into steps of their own when the "
        "definition is built, so build it with the group in its steps"
        for key, step in definition.steps.items()
        if isinstance(step, (ParallelGroup, SequentialGroup)) and waits(step)
    ]


def _member_keys(definition: WorkflowDefinition, key: str, members: list[Any]) -> list[str]:
    """Keys for a group's members: their own names where free, else ``<group>.<index>``."""
    keys: list[str] = []
    for index, member in enumerate(members):
        own = getattr(member, "name", None)
        if isinstance(own, str) and own and own != key and own not in definition.steps and own not in keys:
            keys.append(own)
        else:
            keys.append(f"{key}.{index}")
    return keys


def _replace(definition: WorkflowDefinition, key: str, steps: dict[str, Any]) -> None:
    """Put ``steps`` where the group was in ``definition.steps`` (the order shows in graphs)."""
    for member_key, step in steps.items():
        if not getattr(step, "name", None):
            with contextlib.suppress(AttributeError):  # a step with a read-only name keeps it
                step.name = member_key
    replaced: dict[str, Any] = {}
    for existing, step in definition.steps.items():
        if existing == key:
            replaced.update(steps)
        else:
            replaced[existing] = step
    definition.steps = replaced


def _redirect_entries(definition: WorkflowDefinition, key: str, entry: str) -> None:
    """Edges that entered the group (and the initial step) now enter ``entry``."""
    from litestar_workflows.core.definition import Edge, step_name_of

    rewritten: list[Edge] = []
    for edge in definition.edges:
        try:
            target = step_name_of(edge.target)
        except Exception:  # a malformed edge is validate()'s to report: kept as it is
            rewritten.append(edge)
            continue
        rewritten.append(Edge(edge.source, entry, edge.condition) if target == key else edge)
    definition.edges = rewritten
    if definition.initial_step == key:
        definition.initial_step = entry


def _link(definition: WorkflowDefinition, pairs: list[tuple[str, str]]) -> None:
    from litestar_workflows.core.definition import Edge

    new: list[Edge] = [Edge(source, target) for source, target in pairs]
    definition.edges.extend(new)


def _unfold_parallel(definition: WorkflowDefinition, key: str, group: Any) -> None:
    from litestar_workflows.steps.groups import GroupFork, GroupJoin

    members: list[Any] = list(group.steps)
    entry = f"{key}.start"
    keys = _member_keys(definition, key, members)
    join: Any = group.callback if group.callback is not None else GroupJoin(key)
    fork = GroupFork(entry, getattr(group, "description", "") or "")
    _redirect_entries(definition, key, entry)
    _replace(definition, key, {entry: fork, **dict(zip(keys, members, strict=True)), key: join})
    _link(definition, [(entry, k) for k in keys] + [(k, key) for k in keys])


def _unfold_sequence(definition: WorkflowDefinition, key: str, group: Any) -> None:
    from litestar_workflows.steps.groups import GroupJoin

    members: list[Any] = list(group.steps)
    keys = _member_keys(definition, key, members)
    join = GroupJoin(key, getattr(group, "description", "") or "")
    _redirect_entries(definition, key, keys[0])
    _replace(definition, key, {**dict(zip(keys, members, strict=True)), key: join})
    _link(definition, list(zip(keys, [*keys[1:], key], strict=True)))


__all__ = (
    "WAITING_KINDS",
    "folded_waiting_groups",
    "unfold_waiting_groups",
    "waits",
)
