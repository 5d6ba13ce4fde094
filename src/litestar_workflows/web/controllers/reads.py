"""Where the API reads instances and tasks: the app's repositories when it provides them, else the engine.

An app that mounts the controllers itself may provide ``workflow_instance_repo`` and
``human_task_repo`` (the reference package's dependency names), built on its request-scoped
session. The read routes (list and get instances, an instance's graph, list and get tasks) then
read through that session, so they show the app's database as the app sees it. Actions (start,
cancel, retry, complete, reassign) always go through ``workflow_engine``: it is the one that runs
workflows, checks who may act and keeps instances consistent. Reading goes through the same
tenant and visibility checks (:mod:`litestar_workflows.web.access`) whichever source answers.

No ``from __future__ import annotations``: Litestar reads these annotations at runtime.
"""

from typing import Any, Protocol
from uuid import UUID

from litestar.di import NamedDependency
from litestar.params import SkipValidation

from litestar_workflows.core.models import HumanTask, WorkflowInstanceData
from litestar_workflows.store.base import InstanceQuery, Page, TaskQuery

__all__ = ("InstanceReads", "InstanceRepo", "TaskReads", "TaskRepo", "instance_reads", "task_reads")

# Injected by parameter name and optional: a handler declares ``workflow_instance_repo: InstanceRepo = None``
# (the default lives on the parameter, as Litestar wants it) and gets None when the app provides none.
InstanceRepo = NamedDependency[SkipValidation[Any]]
"""The app's ``workflow_instance_repo`` dependency, if it provides one (a ``WorkflowInstanceRepository``)."""
TaskRepo = NamedDependency[SkipValidation[Any]]
"""The app's ``human_task_repo`` dependency, if it provides one (a ``HumanTaskRepository``)."""


class InstanceReads(Protocol):
    """What the instance routes read: an engine, or the app's session."""

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """The instance with its step history (raises ``WorkflowInstanceNotFoundError``)."""

    async def find_instances(self, query: InstanceQuery) -> Page[WorkflowInstanceData]:
        """A page of instances matching ``query``."""


class TaskReads(Protocol):
    """What the task routes read: an engine, or the app's session."""

    async def get_task(self, task_id: UUID) -> HumanTask:
        """The task (raises ``TaskNotFoundError``)."""

    async def find_tasks(self, query: TaskQuery) -> Page[HumanTask]:
        """A page of tasks matching ``query``."""


def _session_reader(repository: object, dependency: str) -> Any:
    """A reader on the repository's session.

    Raises:
        TypeError: The dependency is not a repository on an ``AsyncSession``.
    """
    from sqlalchemy.ext.asyncio import AsyncSession

    from litestar_workflows.db.session_reads import SessionReader

    session = getattr(repository, "session", None)
    if not isinstance(session, AsyncSession):
        msg = (
            f"the {dependency!r} dependency must be a repository with an AsyncSession as its "
            f"'session' (e.g. WorkflowInstanceRepository(session=...)), got {type(repository).__name__}"
        )
        raise TypeError(msg)
    return SessionReader(session)


def instance_reads(engine: InstanceReads, repository: object | None) -> InstanceReads:
    """The app's instance repository (read through its session) when provided, else the engine."""
    if repository is None:
        return engine
    reader: InstanceReads = _session_reader(repository, "workflow_instance_repo")
    return reader


def task_reads(engine: TaskReads, repository: object | None) -> TaskReads:
    """The app's task repository (read through its session) when provided, else the engine."""
    if repository is None:
        return engine
    reader: TaskReads = _session_reader(repository, "human_task_repo")
    return reader
