"""Class-based workflows: a class that declares its steps and edges as attributes."""

from __future__ import annotations

from typing import Any, ClassVar

from litestar_workflows.core.definition import Edge, WorkflowDefinition
from litestar_workflows.core.errors import WorkflowValidationError


class BaseWorkflow:
    """Subclass and declare ``__workflow_name__``, ``steps``, ``edges`` and ``initial_step``.

    ``steps`` may be a dict of name to step or a list of steps; ``terminal_steps`` and
    ``input_schema`` (the JSON Schema of the start data) are optional. The definition is built
    (and validated) once per class.

    Examples:
        >>> class Approval(BaseWorkflow):  # doctest: +SKIP
        ...     __workflow_name__ = "approval"
        ...     __workflow_version__ = "1.0.0"
        ...     steps = [Submit(), Review()]
        ...     edges = [Edge("submit", "review")]
        ...     initial_step = "submit"
    """

    __workflow_name__: ClassVar[str] = ""
    __workflow_version__: ClassVar[str] = "1.0.0"
    __workflow_description__: ClassVar[str] = ""

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        """The definition this class declares (built once, then cached on the class)."""
        cached = cls.__dict__.get("_definition_cache")
        if isinstance(cached, WorkflowDefinition):
            return cached
        definition = definition_from_attributes(cls)
        cls._definition_cache = definition  # type: ignore[attr-defined]
        return definition


def definition_from_attributes(cls: type[Any]) -> WorkflowDefinition:
    """Build a definition from a class's ``__workflow_name__``, ``steps``, ``edges``... attributes."""
    name = getattr(cls, "__workflow_name__", "") or ""
    if not name:
        raise WorkflowValidationError(f"workflow class {cls.__qualname__} has no __workflow_name__")
    steps = getattr(cls, "steps", None)
    edges: list[Edge] = list(getattr(cls, "edges", []) or [])
    initial = getattr(cls, "initial_step", None)
    if steps is None or initial is None:
        raise WorkflowValidationError(f"workflow class {cls.__qualname__} needs 'steps' and 'initial_step'")
    if not isinstance(initial, str):
        initial = getattr(initial, "name", initial)
    return WorkflowDefinition(
        name=name,
        version=getattr(cls, "__workflow_version__", "1.0.0"),
        description=getattr(cls, "__workflow_description__", "") or (cls.__doc__ or "").strip(),
        steps=steps,
        edges=edges,
        initial_step=initial,
        terminal_steps=set(getattr(cls, "terminal_steps", set()) or set()),
        input_schema=getattr(cls, "input_schema", None),
    )


def definition_of(workflow: Any) -> WorkflowDefinition:
    """The definition behind a definition or a workflow class.

    Raises:
        WorkflowValidationError: ``workflow`` is neither.
    """
    if isinstance(workflow, WorkflowDefinition):
        return workflow
    if isinstance(workflow, type):
        getter = getattr(workflow, "get_definition", None)
        definition = getter() if callable(getter) else definition_from_attributes(workflow)
        if not isinstance(definition, WorkflowDefinition):
            raise WorkflowValidationError(
                f"{workflow.__qualname__}.get_definition() did not return a WorkflowDefinition"
            )
        return definition
    raise WorkflowValidationError(f"{workflow!r} is neither a WorkflowDefinition nor a workflow class")


__all__ = ("BaseWorkflow", "definition_from_attributes", "definition_of")
