"""``WorkflowUIController``'s static files: a name no file can have is a 404, and CSS is served as CSS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from litestar import Litestar, Router
from litestar.di import Provide
from litestar.testing import TestClient

from litestar_workflows.web.views import WorkflowUIController, get_template_config

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar_workflows import WorkflowRegistry


@pytest.fixture
def backend() -> str:
    return "memory"


@pytest.fixture
def own_client(engine: Any, registry: WorkflowRegistry) -> Iterator[TestClient[Litestar]]:
    """The documented full setup: ``WorkflowUIController`` on the app's router, at ``/ui``."""
    dependencies = {
        "workflow_engine": Provide(lambda: engine, sync_to_thread=False),
        "workflow_registry": Provide(lambda: registry, sync_to_thread=False),
    }
    app = Litestar(
        route_handlers=[Router(path="", route_handlers=[WorkflowUIController], dependencies=dependencies)],
        template_config=get_template_config(),
        on_startup=[engine.start],
        on_shutdown=[engine.stop],
    )
    with TestClient(app) as client:
        yield client


@pytest.mark.parametrize("name", ["ui.css%00.html", "%00", "vendor/%00/x.js", "a" * 5000])
def test_a_name_no_file_can_have_is_not_found(own_client: TestClient[Litestar], name: str) -> None:
    assert own_client.get(f"/ui/static/{name}").status_code == 404


def test_static_files_carry_their_media_type(own_client: TestClient[Litestar]) -> None:
    css = own_client.get("/ui/static/ui.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    mermaid = own_client.get("/ui/static/vendor/mermaid/mermaid.min.js")
    assert mermaid.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}


@pytest.mark.parametrize("name", ["ui.css%00.html", "%00", "vendor/%00/x.js"])
def test_the_plugin_s_static_route_answers_404_too(ui_client: TestClient[Litestar], name: str) -> None:
    assert ui_client.get(f"/workflows/ui/static/{name}").status_code == 404
    assert ui_client.get("/workflows/ui/static/ui.css").status_code == 200
