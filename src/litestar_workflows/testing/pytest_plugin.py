"""pytest fixtures for testing workflows, installed with the package (the ``pytest11`` entry point).

Fixtures (each new per test, stopped afterwards):

- ``workflows``: what the other fixtures register -- override it in a ``conftest.py`` (or a test
  module) to return your workflow classes and definitions; empty by default.
- ``workflow_env``: a :class:`~litestar_workflows.testing.WorkflowTestEnvironment` on the memory
  store and a manual clock.
- ``workflow_sqlite_env``: the same on a migrated SQLite database in a temporary directory.
- ``workflow_client``: a Litestar ``AsyncTestClient`` of an app with the
  :class:`~litestar_workflows.web.plugin.WorkflowPlugin` serving ``workflow_env``'s engine (the
  ``web`` extra); requests act as the user named by the ``X-Workflows-User`` header, member of the
  comma-separated groups of ``X-Workflows-Groups``.

The async fixtures need ``pytest-asyncio``; without it this plugin provides none of them and
the rest of a test suite is unaffected.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Sequence

    from litestar.connection import ASGIConnection
    from litestar.testing import AsyncTestClient

    from litestar_workflows.testing.environment import WorkflowTestEnvironment

USER_HEADER = "X-Workflows-User"
"""The header ``workflow_client``'s app reads the acting user's id from."""
GROUPS_HEADER = "X-Workflows-Groups"
"""The header ``workflow_client``'s app reads the acting user's groups from (comma-separated)."""


def header_user(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The acting user of a test request: the ``X-Workflows-User`` header."""
    return connection.headers.get(USER_HEADER) or None


def header_groups(connection: ASGIConnection[Any, Any, Any, Any]) -> Iterable[str]:
    """The acting user's groups in a test request: the ``X-Workflows-Groups`` header."""
    value = connection.headers.get(GROUPS_HEADER, "")
    return tuple(group.strip() for group in value.split(",") if group.strip())


@pytest.fixture
def workflows() -> Sequence[Any]:
    """Workflow classes and definitions the ``workflow_*`` fixtures register (override it)."""
    return ()


try:
    import pytest_asyncio
except ImportError:  # pragma: no cover - the fixtures below need it
    pass
else:

    @pytest_asyncio.fixture
    async def workflow_env(workflows: Sequence[Any]) -> AsyncIterator[WorkflowTestEnvironment]:
        """An engine on the memory store and a manual clock, with ``workflows`` registered."""
        from litestar_workflows.testing.environment import WorkflowTestEnvironment

        async with await WorkflowTestEnvironment.start(*workflows) as env:
            yield env

    @pytest_asyncio.fixture
    async def workflow_sqlite_env(workflows: Sequence[Any]) -> AsyncIterator[WorkflowTestEnvironment]:
        """An engine on a temporary, migrated SQLite database and a manual clock."""
        from litestar_workflows.testing.environment import WorkflowTestEnvironment

        async with await WorkflowTestEnvironment.start(*workflows, sqlite=True) as env:
            yield env

    @pytest_asyncio.fixture
    async def workflow_client(
        workflow_env: WorkflowTestEnvironment,
    ) -> AsyncIterator[AsyncTestClient[Any]]:
        """A test client of a Litestar app serving ``workflow_env``'s engine through the plugin."""
        from litestar import Litestar
        from litestar.testing import AsyncTestClient

        from litestar_workflows.web.config import WorkflowPluginConfig
        from litestar_workflows.web.plugin import WorkflowPlugin

        config = WorkflowPluginConfig(
            engine=workflow_env.engine,
            registry=workflow_env.registry,
            manage_engine_lifecycle=False,  # the environment starts and stops it
            user_resolver=header_user,
            groups_resolver=header_groups,
        )
        app = Litestar(plugins=[WorkflowPlugin(config)])
        async with AsyncTestClient(app) as client:
            yield client


__all__ = ("GROUPS_HEADER", "USER_HEADER", "header_groups", "header_user", "workflows")
