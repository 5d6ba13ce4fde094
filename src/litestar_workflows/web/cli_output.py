"""How the CLI prints: rich tables for people, JSON (the REST API's bodies) for scripts.

Every value goes into tables as :class:`rich.text.Text`, never as markup, so step names and
data containing ``[brackets]`` print as they are; Mermaid is printed raw for copying.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click
import msgspec
from rich.console import Console
from rich.table import Table
from rich.text import Text

from litestar_workflows.core.types import StepStatus

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import datetime

    from litestar_workflows.web.schemas import (
        DefinitionDetail,
        DefinitionSummary,
        InstanceDetail,
        InstanceSummary,
        TaskOut,
    )

__all__ = (
    "print_definition",
    "print_definitions",
    "print_instance",
    "print_instances",
    "print_json",
    "print_raw",
    "print_tasks",
)


_PIPE_WIDTH = 160
"""Width of tables written to a pipe or file (rich would use 80), unless ``COLUMNS`` says otherwise."""


def _console() -> Console:
    # Created per call: the CLI (and Click's test runner) may swap sys.stdout between commands.
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = _PIPE_WIDTH
    return console


def _text(value: object) -> Text:
    if value is None:
        return Text("-", style="dim")
    return Text(str(value))


def _when(moment: datetime | None, pattern: str = "%Y-%m-%d %H:%M:%S") -> Text:
    return _text(None if moment is None else moment.strftime(pattern))


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Text]]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in columns:
        if column in {"Id", "Instance", "Task"}:
            table.add_column(column, no_wrap=True, min_width=36)
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def print_json(value: object) -> None:
    """Print an API body (or a list of them) as indented JSON."""
    click.echo(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def print_raw(text: str) -> None:
    """Print text as it is (Mermaid, messages), without rich's markup."""
    click.echo(text)


def print_definitions(definitions: Sequence[DefinitionSummary]) -> None:
    """The registered workflows as a table."""
    rows = (
        (_text(d.name), _text(d.version), _text(", ".join(d.versions)), _text(d.description))
        for d in definitions
    )
    _console().print(_table(None, ("Name", "Version", "Versions", "Description"), rows))


def print_definition(definition: DefinitionDetail, mermaid: str) -> None:
    """A definition: its steps, its edges, and its Mermaid diagram."""
    console = _console()
    console.print(Text(f"{definition.name} {definition.version}", style="bold"))
    if definition.description:
        console.print(Text(definition.description))
    steps = (
        (
            _text(s.name),
            _text(s.type),
            _text(s.title),
            _text(s.assignee_group),
            _text(("initial " if s.name == definition.initial_step else "") + s.description),
        )
        for s in definition.step_details
    )
    console.print(_table("Steps", ("Step", "Type", "Title", "Group", "Description"), steps))
    edges = ((_text(e.source), _text(e.target), _text(e.condition)) for e in definition.edges)
    console.print(_table("Edges", ("From", "To", "Condition"), edges))
    print_raw(mermaid)


def print_instances(items: Sequence[InstanceSummary], total: int, offset: int) -> None:
    """A page of instances as a table, with how many there are in all."""
    rows = (
        (
            _text(i.id),
            _text(f"{i.workflow_name} {i.workflow_version}"),
            _text(i.status),
            _text(i.current_step),
            _when(i.started_at),
            _text(i.created_by),
        )
        for i in items
    )
    _console().print(_table(None, ("Id", "Workflow", "Status", "Step", "Started", "By"), rows))
    print_raw(_page_line(len(items), total, offset))


def print_instance(instance: InstanceDetail) -> None:
    """An instance: status, data and step history."""
    console = _console()
    summary = Table.grid(padding=(0, 2))
    summary.add_column(no_wrap=True)
    summary.add_column(overflow="fold")
    for label, value in (
        ("Id", instance.id),
        ("Workflow", f"{instance.workflow_name} {instance.workflow_version}"),
        ("Status", instance.status),
        ("Current step", instance.current_step),
        ("Started", _when(instance.started_at)),
        ("Completed", _when(instance.completed_at)),
        ("Created by", instance.created_by),
        ("Correlation id", instance.correlation_id),
        ("Error", instance.error),
        ("Data", _json(instance.data)),
    ):
        summary.add_row(Text(label, style="bold"), value if isinstance(value, Text) else _text(value))
    console.print(summary)
    rows = (
        (
            _text(e.step_name),
            _text(e.step_type),
            _text(e.status),
            _text(e.attempt),
            _when(e.started_at, "%H:%M:%S"),
            _when(e.completed_at, "%H:%M:%S"),
            _text(e.completed_by or e.assigned_to),
            _text(e.error),
        )
        for e in instance.step_history
    )
    columns = ("Step", "Type", "Status", "Attempt", "Started (UTC)", "Completed", "User", "Error")
    console.print(_table("Step history", columns, rows))
    for e in instance.step_history:  # where each failure happened, below the table that names it
        if e.stack_trace:
            failed = e.status == StepStatus.FAILED  # else an attempt failed and the next is scheduled
            attempt = f"attempt {e.attempt}" if failed else f"attempt {e.attempt - 1}, to be retried"
            console.print(Text(f"Traceback of step {e.step_name} ({attempt}):", style="bold"))
            console.print(Text(e.stack_trace.rstrip()))


def print_tasks(items: Sequence[TaskOut], total: int, offset: int) -> None:
    """A page of tasks as a table, with how many there are in all."""
    rows = (
        (
            _text(t.id),
            _text(t.title),
            _text(f"{t.workflow_name}/{t.step_name}"),
            _text(t.status),
            _text(t.assignee_id or (f"group {t.assignee_group}" if t.assignee_group else None)),
            _when(t.due_at),
            _text(t.instance_id),
        )
        for t in items
    )
    columns = ("Task", "Title", "Step", "Status", "Assignee", "Due", "Instance")
    _console().print(_table(None, columns, rows))
    print_raw(_page_line(len(items), total, offset))


def _page_line(shown: int, total: int, offset: int) -> str:
    if shown == 0:
        return f"none of {total}" if total else "none"
    return f"{offset + 1}-{offset + shown} of {total}"
