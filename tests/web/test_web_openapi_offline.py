"""The OpenAPI pages load their scripts and styles from the package, not from CDNs (offline intranets)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.app import DEFAULT_OPENAPI_CONFIG
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.testing import TestClient

from litestar_workflows import LocalExecutionEngine, WorkflowRegistry
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig
from litestar_workflows.web.openapi_pages import offline_openapi_config

PAGES = ("/schema/swagger", "/schema/redoc", "/schema/rapidoc", "/schema/elements", "/schema")
ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


def app(openapi_config: OpenAPIConfig | None = DEFAULT_OPENAPI_CONFIG, **config: Any) -> Litestar:
    plugin = WorkflowPlugin(WorkflowPluginConfig(engine=LocalExecutionEngine(WorkflowRegistry()), **config))
    return Litestar(plugins=[plugin], openapi_config=openapi_config)


def assets_of(html: str) -> list[str]:
    return ASSET.findall(html)


@pytest.mark.parametrize("page", PAGES)
def test_every_default_page_loads_only_files_the_app_serves(page: str) -> None:
    with TestClient(app()) as client:
        response = client.get(page)
        assert response.status_code == 200
        assets = assets_of(response.text)
        assert assets, response.text
        for url in assets:
            assert url.startswith(("/workflows/ui/static/vendor/", "data:")), url
            if url.startswith("/"):
                served = client.get(url)
                assert served.status_code == 200, url
                assert len(served.content) > 1000, url
        assert "fonts.googleapis.com" not in response.text


def test_the_demo_app_serves_its_openapi_pages_offline() -> None:
    from litestar_workflows.demo.app import create_app

    with TestClient(create_app(in_memory=True)) as client:
        html = client.get("/schema/swagger").text
    assert "/workflows/ui/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "cdn.jsdelivr.net" not in html


def test_the_vendored_files_follow_a_moved_ui() -> None:
    with TestClient(app(api_path_prefix="/api/wf", ui_path="/screens")) as client:
        html = client.get("/schema/redoc").text
        assert "/api/wf/screens/static/vendor/redoc/redoc.standalone.js" in html
        assert client.get("/api/wf/screens/static/vendor/redoc/redoc.standalone.js").status_code == 200


def test_urls_the_app_chose_are_kept() -> None:
    own = SwaggerRenderPlugin(js_url="https://assets.example/swagger.js")
    with TestClient(app(OpenAPIConfig(title="t", version="1", render_plugins=[own]))) as client:
        html = client.get("/schema/swagger").text
    assert "https://assets.example/swagger.js" in html
    # what the app left to Litestar's defaults is vendored all the same
    assert "/workflows/ui/static/vendor/swagger-ui/swagger-ui.css" in html


def test_turned_off_every_page_stays_as_configured() -> None:
    with TestClient(app(offline_openapi_pages=False)) as client:
        assert "cdn.jsdelivr.net/npm/swagger-ui-dist@" in client.get("/schema/swagger").text


def test_plugins_not_vendored_and_apps_without_openapi_are_left_alone() -> None:
    scalar = OpenAPIConfig(title="t", version="1", render_plugins=[ScalarRenderPlugin()])
    assert offline_openapi_config(scalar, "/static") is scalar
    assert offline_openapi_config(None, "/static") is None
    with TestClient(app(None)) as client:
        assert client.get("/schema/swagger").status_code == 404


def test_the_app_config_and_litestar_defaults_are_not_changed() -> None:
    before = [(type(p), getattr(p, "js_url", None), p.favicon) for p in DEFAULT_OPENAPI_CONFIG.render_plugins]
    offline = offline_openapi_config(DEFAULT_OPENAPI_CONFIG, "/s")
    assert offline is not DEFAULT_OPENAPI_CONFIG
    after = [(type(p), getattr(p, "js_url", None), p.favicon) for p in DEFAULT_OPENAPI_CONFIG.render_plugins]
    assert after == before
    assert offline is not None
    assert offline.default_plugin in offline.render_plugins
    assert type(offline.default_plugin) is type(DEFAULT_OPENAPI_CONFIG.default_plugin)
