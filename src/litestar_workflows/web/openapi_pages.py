"""Litestar's OpenAPI pages with the scripts and styles vendored in this package, so they work offline.

Litestar's render plugins load Swagger UI, ReDoc, RapiDoc and Stoplight Elements from CDNs (plus a
favicon, and Google fonts for ReDoc): without internet ``/schema/swagger`` renders blank. The
workflow plugin passes the app's :class:`~litestar.openapi.OpenAPIConfig` through
:func:`offline_openapi_config`, which points every asset URL that is still Litestar's CDN default
at the copy under ``static/vendor/`` (served at ``{ui_root}/static``), drops the CDN favicon, turns
ReDoc's Google fonts off and tells RapiDoc not to fetch its fonts from Google (``load-fonts``).
URLs the app configured itself are its choice and stay; so do render plugins of other kinds
(Scalar is not vendored: give it a ``js_url`` of your own to use it offline). The app's config
object is never changed: a copy with copied render plugins is returned.
"""

from __future__ import annotations

import copy
import re
from functools import partial
from typing import TYPE_CHECKING, Final

from litestar.openapi.plugins import (
    RapidocRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from litestar import Request
    from litestar.openapi import OpenAPIConfig
    from litestar.openapi.plugins import OpenAPIRenderPlugin

__all__ = ("LOCAL_FAVICON", "VENDORED_ASSETS", "offline_openapi_config")

_VERSION = r"[^/]+"

VENDORED_ASSETS: Final[dict[type[OpenAPIRenderPlugin], dict[str, tuple[str, str]]]] = {
    SwaggerRenderPlugin: {
        "js_url": (
            rf"https://cdn\.jsdelivr\.net/npm/swagger-ui-dist@{_VERSION}/swagger-ui-bundle\.js",
            "swagger-ui/swagger-ui-bundle.js",
        ),
        "css_url": (
            rf"https://cdn\.jsdelivr\.net/npm/swagger-ui-dist@{_VERSION}/swagger-ui\.css",
            "swagger-ui/swagger-ui.css",
        ),
        "standalone_preset_js_url": (
            rf"https://cdn\.jsdelivr\.net/npm/swagger-ui-dist@{_VERSION}/swagger-ui-standalone-preset\.js",
            "swagger-ui/swagger-ui-standalone-preset.js",
        ),
    },
    RedocRenderPlugin: {
        "js_url": (
            rf"https://cdn\.redoc\.ly/redoc/{_VERSION}/bundles/redoc\.standalone\.js",
            "redoc/redoc.standalone.js",
        ),
    },
    RapidocRenderPlugin: {
        "js_url": (rf"https://unpkg\.com/rapidoc@{_VERSION}/dist/rapidoc-min\.js", "rapidoc/rapidoc-min.js"),
    },
    StoplightRenderPlugin: {
        "js_url": (
            rf"https://unpkg\.com/@stoplight/elements@{_VERSION}/web-components\.min\.js",
            "elements/web-components.min.js",
        ),
        "css_url": (
            rf"https://unpkg\.com/@stoplight/elements@{_VERSION}/styles\.min\.css",
            "elements/styles.min.css",
        ),
    },
}
"""Per render plugin: attribute -> (Litestar's CDN default, as a pattern; the vendored file)."""

LOCAL_FAVICON: Final = "<link rel='icon' href='data:,'>"
"""An empty icon: the browser asks nobody for one (Litestar's default favicon is on a CDN)."""

_CDN_FAVICON = re.compile(r"https://cdn\.jsdelivr\.net/gh/litestar-org/branding@")


def offline_openapi_config(openapi_config: OpenAPIConfig | None, static_root: str) -> OpenAPIConfig | None:
    """``openapi_config`` with its CDN-default assets served from ``{static_root}/vendor/``.

    Args:
        openapi_config: The app's OpenAPI configuration (``None``: no OpenAPI pages; returned as is).
        static_root: The URL path the package's static folder is served at, e.g. ``/workflows/ui/static``.

    Returns:
        The same object when nothing points at a CDN default, else a copy whose render plugins
        (copies too; the default page stays the default) load the vendored files.
    """
    if openapi_config is None:
        return None
    vendor = static_root.rstrip("/") + "/vendor/"
    swapped = {id(plugin): _offline_plugin(plugin, vendor) for plugin in openapi_config.render_plugins}
    if all(swapped[id(plugin)] is plugin for plugin in openapi_config.render_plugins):
        return openapi_config
    offline = copy.copy(openapi_config)
    offline.render_plugins = [swapped[id(plugin)] for plugin in openapi_config.render_plugins]
    default = openapi_config.default_plugin
    offline.default_plugin = swapped.get(id(default), default) if default is not None else None
    return offline


def _offline_plugin(plugin: OpenAPIRenderPlugin, vendor: str) -> OpenAPIRenderPlugin:
    """A copy of ``plugin`` loading the vendored files wherever it still loads Litestar's defaults."""
    assets = next((urls for kind, urls in VENDORED_ASSETS.items() if isinstance(plugin, kind)), None)
    if assets is None:
        return plugin
    changes: dict[str, object] = {
        attribute: vendor + local
        for attribute, (default, local) in assets.items()
        if re.fullmatch(default, str(getattr(plugin, attribute, "")))
    }
    if not changes:
        return plugin
    if _CDN_FAVICON.search(plugin.favicon):
        changes["favicon"] = LOCAL_FAVICON
    if isinstance(plugin, RedocRenderPlugin):
        changes["google_fonts"] = False
    offline = copy.copy(plugin)
    for attribute, value in changes.items():
        setattr(offline, attribute, value)
    if isinstance(plugin, RapidocRenderPlugin):
        # RapiDoc loads Open Sans from fonts.gstatic.com unless its element says load-fonts="false";
        # Litestar's page has no setting for it, so the attribute is added to the page it renders.
        offline.render = partial(_without_rapidoc_fonts, offline.render)  # type: ignore[method-assign]
    return offline


def _without_rapidoc_fonts(
    render: Callable[[Request[Any, Any, Any], dict[str, Any]], bytes],
    request: Request[Any, Any, Any],
    openapi_schema: dict[str, Any],
) -> bytes:
    return render(request, openapi_schema).replace(b"<rapi-doc ", b'<rapi-doc load-fonts="false" ', 1)
