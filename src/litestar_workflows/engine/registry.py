"""The registry: which workflow definitions exist, by name and version."""

from __future__ import annotations

from typing import Any

from litestar_workflows.core.definition import WorkflowDefinition
from litestar_workflows.core.errors import WorkflowNotFoundError, WorkflowValidationError
from litestar_workflows.core.versions import version_key
from litestar_workflows.core.workflow import definition_of


class WorkflowRegistry:
    """Holds definitions by name and version; the newest version is chosen by semantic order.

    Examples:
        >>> registry = WorkflowRegistry()
        >>> registry.register_definition(definition)  # doctest: +SKIP
        >>> registry.get_definition("expense", version="1.0.0")  # doctest: +SKIP
    """

    def __init__(self) -> None:
        self._definitions: dict[str, dict[str, WorkflowDefinition]] = {}
        self._classes: dict[str, type[Any]] = {}
        self._inactive: set[tuple[str, str]] = set()
        self._newest: dict[str, WorkflowDefinition] = {}
        """Newest version per name, kept because start-by-name asks for it on every start."""

    def register_definition(self, definition: WorkflowDefinition) -> WorkflowDefinition:
        """Add ``definition`` after validating it; registering the same definition again is a no-op.

        "The same" means nothing that matters for running it differs (steps with their settings,
        edges with their conditions, see :meth:`WorkflowDefinition.difference_from`): the
        documented setup calls ``register_definition(X.get_definition())`` and then
        ``register_workflow_class(X)``, with two equal definition objects. The first one
        registered stays the registered one.

        Raises:
            WorkflowValidationError: The definition is invalid (every problem is listed), or
                another definition already has this name and version.
        """
        if not isinstance(definition, WorkflowDefinition):
            raise WorkflowValidationError(f"{definition!r} is not a WorkflowDefinition")
        definition.ensure_valid()
        versions = self._definitions.setdefault(definition.name, {})
        existing = versions.get(definition.version)
        if existing is not None:
            difference = existing.difference_from(definition)
            if difference is None:
                return existing
            raise WorkflowValidationError(
                f"workflow {definition.name!r} version {definition.version!r} is already registered "
                f"with another definition ({difference}); give the new definition a new version"
            )
        versions[definition.version] = definition
        self._newest[definition.name] = versions[max(versions, key=version_key)]
        return definition

    def register_workflow_class(self, workflow_class: type[Any]) -> WorkflowDefinition:
        """Register a class-based workflow (its ``get_definition()`` or its class attributes)."""
        definition = self.register_definition(definition_of(workflow_class))
        self._classes[definition.name] = workflow_class
        return definition

    def register(self, workflow: Any) -> Any:
        """Register a workflow class or a definition; usable as a class decorator."""
        if isinstance(workflow, WorkflowDefinition):
            self.register_definition(workflow)
        else:
            self.register_workflow_class(workflow)
        return workflow

    def get_definition(self, name: str, version: str | None = None) -> WorkflowDefinition:
        """The definition ``name`` at ``version``, or its newest version.

        Raises:
            WorkflowNotFoundError: Unknown name or version.
        """
        if version is None:
            newest = self._newest.get(name)
            if newest is None:
                raise WorkflowNotFoundError(name)
            return newest
        versions = self._definitions.get(name)
        if not versions:
            raise WorkflowNotFoundError(name)
        try:
            return versions[version]
        except KeyError:
            raise WorkflowNotFoundError(name, version) from None

    def get_workflow_class(self, name: str) -> type[Any]:
        """The class a workflow was registered from.

        Raises:
            WorkflowNotFoundError: No class-based workflow of that name.
        """
        try:
            return self._classes[name]
        except KeyError:
            raise WorkflowNotFoundError(name) from None

    def list_definitions(self, active_only: bool = True) -> list[WorkflowDefinition]:
        """The newest version of each workflow (all versions when ``active_only`` is False)."""
        result: list[WorkflowDefinition] = []
        for name in sorted(self._definitions):
            versions = self._definitions[name]
            ordered = sorted(versions, key=version_key)
            if active_only:
                active = [v for v in ordered if (name, v) not in self._inactive]
                if active:
                    result.append(versions[active[-1]])
            else:
                result.extend(versions[v] for v in ordered)
        return result

    def has_definition(self, name: str, version: str | None = None) -> bool:
        """Tell whether ``name`` (at ``version``) is registered."""
        versions = self._definitions.get(name)
        return bool(versions) and (version is None or version in versions)  # type: ignore[operator]

    has_workflow = has_definition

    def get_versions(self, name: str) -> list[str]:
        """Registered versions of ``name``, oldest first.

        Raises:
            WorkflowNotFoundError: (a ``KeyError``) ``name`` is not registered.
        """
        versions = self._definitions.get(name)
        if not versions:
            raise WorkflowNotFoundError(name)
        return sorted(versions, key=version_key)

    def deactivate(self, name: str, version: str) -> None:
        """Hide a version from ``list_definitions`` while keeping it runnable for old instances."""
        self.get_definition(name, version)
        self._inactive.add((name, version))

    def unregister(self, name: str, version: str | None = None) -> None:
        """Remove one version, or every version of ``name``; an unknown name or version is a no-op.

        Removing is idempotent (as in the reference package): the goal, "not registered", holds.
        """
        versions = self._definitions.get(name)
        if not versions or (version is not None and version not in versions):
            return
        if version is not None:
            del versions[version]
        if version is None or not versions:
            del self._definitions[name]
            self._classes.pop(name, None)
            self._newest.pop(name, None)
        else:
            self._newest[name] = versions[max(versions, key=version_key)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.has_definition(name)

    def __len__(self) -> int:
        return sum(len(v) for v in self._definitions.values())


__all__ = ("WorkflowRegistry",)
