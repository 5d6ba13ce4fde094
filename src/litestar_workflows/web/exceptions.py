"""The documented ``web.exceptions`` names: the database requirement of repository routes.

Our REST API serves instances and tasks through the engine, whatever its store, so nothing here
is needed by the plugin. These are for applications that inject the documented repositories: the
providers build a repository on the request's ``db_session`` (the session advanced-alchemy's
``SQLAlchemyPlugin`` provides), and raise :class:`DatabaseRequiredError` -- which
:func:`database_required_handler` answers with 501 -- only when the ``db`` extra is missing.
Registered as ``workflow_instance_repo`` / ``human_task_repo``, they also serve the API's read
routes (see :mod:`litestar_workflows.web.controllers.reads`).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, Final

from litestar import MediaType, Response
from litestar.di import NamedDependency  # noqa: TC002 - marks db_session as injected by name, read at runtime
from litestar.status_codes import HTTP_501_NOT_IMPLEMENTED

from litestar_workflows.core.errors import WorkflowsError

if TYPE_CHECKING:
    from litestar import Request
    from sqlalchemy.ext.asyncio import AsyncSession

    from litestar_workflows.db.repositories import HumanTaskRepository, WorkflowInstanceRepository
else:
    # Litestar resolves the providers' annotations at runtime, in this module's namespace: the
    # names must exist here. Without the ``db`` extra they stand for anything, and the providers
    # raise DatabaseRequiredError when called.
    try:
        from sqlalchemy.ext.asyncio import AsyncSession

        from litestar_workflows.db.repositories import HumanTaskRepository, WorkflowInstanceRepository
    except ImportError:  # pragma: no cover - depends on the installed extras
        AsyncSession = HumanTaskRepository = WorkflowInstanceRepository = Any

__all__ = (
    "DatabaseRequiredError",
    "database_required_handler",
    "provide_human_task_repository",
    "provide_workflow_instance_repository",
    "require_db",
)

INSTALL_COMMAND: Final = "pip install litestar-workflows[db]"
DOCS_URL: Final = "https://litestar-workflows.readthedocs.io/en/latest/guides/persistence.html"
_DEFAULT_MESSAGE: Final = (
    "This feature needs database persistence (SQLAlchemy and advanced-alchemy), "
    f"which is not installed: {INSTALL_COMMAND}"
)


class DatabaseRequiredError(WorkflowsError):
    """A route needs database persistence, and the ``db`` extra is not installed."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or _DEFAULT_MESSAGE
        super().__init__(self.message)


def database_required_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, str]]:
    """Answer :class:`DatabaseRequiredError` with 501 and what to install (register it on your app)."""
    message = exc.message if isinstance(exc, DatabaseRequiredError) else str(exc)
    body = {"error": "database_required", "message": message, "install": INSTALL_COMMAND, "docs": DOCS_URL}
    return Response(body, status_code=HTTP_501_NOT_IMPLEMENTED, media_type=MediaType.JSON)


def require_db() -> None:
    """Check that the ``db`` extra is installed.

    Raises:
        DatabaseRequiredError: SQLAlchemy or advanced-alchemy is missing.
    """
    if importlib.util.find_spec("sqlalchemy") is None or importlib.util.find_spec("advanced_alchemy") is None:
        raise DatabaseRequiredError


async def provide_workflow_instance_repository(
    db_session: NamedDependency[AsyncSession],
) -> WorkflowInstanceRepository:
    """A ``WorkflowInstanceRepository`` on the request's session (dependency ``workflow_instance_repo``)."""
    require_db()
    from litestar_workflows.db.repositories import WorkflowInstanceRepository

    return WorkflowInstanceRepository(session=db_session)


async def provide_human_task_repository(db_session: NamedDependency[AsyncSession]) -> HumanTaskRepository:
    """A ``HumanTaskRepository`` on the request's session (dependency ``human_task_repo``)."""
    require_db()
    from litestar_workflows.db.repositories import HumanTaskRepository

    return HumanTaskRepository(session=db_session)
