"""Fixtures of the UI's page tests: the plugin's app (UI at /workflows/ui) on each backend's engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar.testing import TestClient
from ui_helpers import rich_form_workflow
from web_helpers import build_registry, make_app

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar import Litestar

    from litestar_workflows import WorkflowRegistry

UI = "/workflows/ui"


@pytest.fixture
def registry() -> WorkflowRegistry:
    """The web tests' workflows plus one with a rich task form."""
    registry = build_registry()
    registry.register_definition(rich_form_workflow())
    return registry


@pytest.fixture
def ui_client(engine: Any) -> Iterator[TestClient[Litestar]]:
    """A client of the plugin's app on ``engine``: identity from ``X-User`` / ``X-Groups``."""
    with TestClient(make_app(engine)) as client:
        yield client
