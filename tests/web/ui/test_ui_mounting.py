"""Where the UI is mounted, next to what the app brings: its own templates, CSRF, paths, or no UI."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from litestar import Litestar, Router, get
from litestar.config.csrf import CSRFConfig
from litestar.di import Provide
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig
from litestar.testing import TestClient
from ui_helpers import page, post_form
from web_helpers import as_user, header_groups, header_user, make_app, settle

from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig
from litestar_workflows.web.views import WorkflowUIController, get_template_config

if TYPE_CHECKING:
    from collections.abc import Iterator

    from litestar_workflows import WorkflowRegistry


@pytest.fixture
def backend() -> str:
    return "memory"


def plugin(engine: Any, **config: Any) -> WorkflowPlugin:
    """The plugin on ``engine`` with identity from the ``X-User`` / ``X-Groups`` headers."""
    return WorkflowPlugin(
        WorkflowPluginConfig(
            engine=engine, user_resolver=header_user, groups_resolver=header_groups, **config
        )
    )


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


def test_documented_full_setup_serves_the_ui_at_ui(own_client: TestClient[Litestar]) -> None:
    """``WorkflowUIController`` on the app's router with its own dependencies, as the guide does."""
    client = own_client
    overview = page(client.get("/ui/"))
    links = {a.attrs["href"] for a in overview.find_all("a")}
    assert {"/ui/workflows", "/ui/instances", "/ui/tasks", "/ui/workflows/approval/start"} <= links
    assert all(not link.startswith("/workflows/ui") for link in links)
    assert client.get("/ui/static/ui.css").status_code == 200
    assert client.get("/ui/static/vendor/mermaid/mermaid.min.js").status_code == 200
    assert client.get("/ui/static/../controller.py").status_code == 404
    started = post_form(client, "/ui/workflows/flaky/start", {"input_data": "{}"})
    assert started.status_code == 303
    assert started.headers["location"].startswith("/ui/instances/")
    assert client.get(started.headers["location"]).status_code == 200


def test_an_app_with_its_own_templates_keeps_them(engine: Any, tmp_path: Path) -> None:
    (tmp_path / "hello.html").write_text("Hello {{ name }}")

    @get("/hello", sync_to_thread=False)
    def hello() -> Template:
        return Template("hello.html", context={"name": "app"})

    app = Litestar(
        [hello],
        plugins=[plugin(engine)],
        template_config=TemplateConfig(directory=tmp_path, engine=JinjaTemplateEngine),
    )
    with TestClient(app) as client:
        assert client.get("/hello").text == "Hello app"
        assert page(client.get("/workflows/ui/tasks", headers=as_user("maria"))).find("h1").text == "My tasks"


def test_an_app_csrf_config_protects_the_ui_forms(engine: Any) -> None:
    config = CSRFConfig(secret="app-secret", cookie_name="app_csrf", exclude=["/workflows/(?!ui)"])
    with TestClient(Litestar(plugins=[plugin(engine)], csrf_config=config)) as client:
        response = client.post(
            "/workflows/instances",
            json={"definition_name": "approval", "input_data": {}},
            headers=as_user("erik"),
        )
        instance_id = response.json()["id"]
        settle(client, engine, instance_id)
        html = client.get(f"/workflows/ui/instances/{instance_id}", headers=as_user("erik")).text
        token = page(client.get(f"/workflows/ui/instances/{instance_id}", headers=as_user("erik"))).find(
            "input", name="_csrf_token"
        )
        assert token.attrs["value"] and "workflows_csrf" not in client.cookies
        assert client.cookies.get("app_csrf")
        refused = client.post(f"/workflows/ui/instances/{instance_id}/pause", headers=as_user("erik"))
        assert refused.status_code == 403
        paused = client.post(
            f"/workflows/ui/instances/{instance_id}/pause",
            data={"_csrf_token": token.attrs["value"]},
            headers=as_user("erik"),
            follow_redirects=False,
        )
        assert paused.status_code == 303, html
        assert client.get(f"/workflows/instances/{instance_id}").json()["status"] == "paused"


def test_ui_path_and_api_prefix_move_the_ui(engine: Any) -> None:
    with TestClient(make_app(engine, api_path_prefix="/flows", ui_path="console")) as client:
        overview = page(client.get("/flows/console/"))
        assert overview.find("a", class_="brand").attrs["href"] == "/flows/console/"
        assert client.get("/flows/console/static/ui.css").status_code == 200
        assert client.get("/workflows/ui/").status_code == 404


def test_the_ui_can_be_turned_off(engine: Any) -> None:
    with TestClient(make_app(engine, enable_ui=False)) as client:
        assert client.get("/workflows/ui/").status_code == 404
        assert client.get("/workflows/ui/tasks").status_code == 404
        # The static files stay: the OpenAPI pages load their vendored scripts from there.
        assert client.get("/workflows/ui/static/ui.css").status_code == 200


def test_identity_is_the_configured_resolver_not_a_query(engine: Any) -> None:
    with TestClient(make_app(engine, user_resolver=header_user)) as client:
        assert "Not signed in" in page(client.get("/workflows/ui/tasks", params={"user": "maria"})).text


def test_the_ui_cannot_take_the_api_s_root(engine: Any) -> None:
    with pytest.raises(ValueError, match="ui_path must name a path below api_path_prefix"):
        WorkflowPluginConfig(engine=engine, ui_path="/")


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
