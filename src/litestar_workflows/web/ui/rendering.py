"""How the web UI renders a page: its Jinja templates, the links of its mount, the acting user.

The templates ship as package data (``web/ui/templates``) and are rendered through a Litestar
:class:`~litestar.template.TemplateConfig` of the UI's own, never the application's: an app with
its own template engine (Mako, or Jinja with other directories) keeps it, and the UI renders the
same wherever it is mounted. Jinja autoescapes every value.

Links are built from the path the UI is mounted at (``/workflows/ui`` by the plugin, ``/ui`` when
an application mounts :class:`~litestar_workflows.web.ui.controller.WorkflowUIController` itself),
so no page hard-codes a path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.utils.scope.state import ScopeState

if TYPE_CHECKING:
    from collections.abc import Mapping

    from litestar import Request

    from litestar_workflows.web.identity import Actor

__all__ = (
    "STATIC_DIR",
    "TEMPLATE_DIR",
    "UI_OPT_KEY",
    "UiContext",
    "brief",
    "get_template_config",
    "page",
    "render",
    "ui_root_of",
)

PACKAGE_DIR: Final = Path(__file__).parent
TEMPLATE_DIR: Final = PACKAGE_DIR / "templates"
"""The UI's Jinja templates (package data)."""
STATIC_DIR: Final = PACKAGE_DIR / "static"
"""The UI's CSS and scripts, and the vendored libraries under ``vendor/`` (package data)."""
UI_OPT_KEY: Final = "litestar_workflows_ui"
"""Route ``opt`` key of the :class:`UiOptions` the plugin's UI router carries."""
QUOTED_SHOWN: Final = 60
"""Characters of a quoted value a message shows before the ellipsis (:func:`brief`)."""
_QUOTED: Final = re.compile(r"""(?<!\w)(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")(?!\w)""", re.DOTALL)
"""A Python ``repr`` of a string (jsonschema's ``'...' is too long``), not an apostrophe in a word."""
CSRF_FIELD: Final = "_csrf_token"
"""Name of the hidden form field Litestar's CSRF middleware reads the token from (fixed by Litestar)."""


@dataclass(frozen=True, slots=True)
class UiOptions:
    """What the plugin tells its UI routes beyond the API settings: "act as" choices, CSRF secret."""

    user_picker: tuple[str, ...] = ()
    csrf_secret: str | None = None

    def __copy__(self) -> UiOptions:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> UiOptions:
        return self


def _localtime(value: datetime | None) -> str:
    """A UTC time as the page shows it before the browser localises it (``ui.js``)."""
    if value is None:
        return ""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _isotime(value: datetime | None) -> str:
    if value is None:
        return ""
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _duration(start: datetime | None, end: datetime | None) -> str:
    """A step's duration, human sized (``850 ms``, ``4.2 s``, ``3 min 5 s``, ``2 h 10 min``)."""
    if start is None or end is None:
        return ""
    seconds = max((end - start).total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60)} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def json_text(value: object) -> str:
    """``value`` as indented JSON to read, with its characters as typed.

    Jinja's ``tojson`` escapes ``<``, ``&``, quotes and every non-ASCII character (it is made for
    scripts); in a page's text the template's own HTML escaping is what is needed.
    """
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


def _label(name: object) -> str:
    """``manager_approval`` -> ``Manager approval``: how names read in headings and chips."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def brief(message: object) -> str:
    """``message`` with each quoted value longer than :data:`QUOTED_SHOWN` cut to that, then ``…``.

    Validation messages repeat the rejected value (``'xxx…' is too long``), so a 2,000-character
    entry made the alert 2,000 characters long; the field's own input still holds the whole value.
    Only the UI shortens: the engine's errors (and the API's) keep the full text.
    """

    def cut(match: re.Match[str]) -> str:
        quoted = match.group(0)
        if len(quoted) <= QUOTED_SHOWN + 2:
            return quoted
        return quoted[: QUOTED_SHOWN + 1] + "…" + quoted[0]

    return _QUOTED.sub(cut, str(message))


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        localtime=_localtime, isotime=_isotime, label=_label, brief=brief, json_text=json_text
    )
    environment.globals.update(duration=_duration)
    return environment


@cache
def _engine() -> JinjaTemplateEngine:
    return JinjaTemplateEngine.from_environment(_environment())


def get_template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The UI's templates as a Litestar ``TemplateConfig`` (Jinja, autoescaped).

    The UI renders through this configuration whatever the application's own is; passing it to
    ``Litestar(template_config=...)``, as the documented full setup does, is accepted and changes
    nothing for the UI (its templates expect the ``ui`` object its routes pass them).
    """
    return TemplateConfig(instance=_engine())


def ui_root_of(request: Request[Any, Any, Any]) -> str:
    """The path the UI is mounted at: the paths of the layers above the route handler, joined."""
    parts = [
        str(getattr(layer, "path", "") or "").strip("/")
        for layer in request.route_handler.ownership_layers[:-1]
    ]
    return "/" + "/".join(part for part in parts if part)


@dataclass(slots=True)
class UiContext:
    """What every template receives as ``ui``: links, the acting user, the CSRF token, the picker."""

    root: str
    actor: Actor
    path: str
    query: dict[str, str] = field(default_factory=dict)
    csrf_token: str = ""
    user_picker: tuple[str, ...] = ()

    def url(self, *parts: object, **query: object) -> str:
        """A link inside the UI: ``ui.url("instances", id)`` -> ``/workflows/ui/instances/<id>``."""
        # Each part is one path segment, percent-encoded: a workflow named "Expense #2" or
        # "what?" must not end its link at the "#" or "?".
        path = "/".join(quote(str(part).strip("/"), safe="") for part in parts if str(part).strip("/"))
        link = self.root.rstrip("/") + "/" + path if path else self.root.rstrip("/") + "/"
        kept = {key: str(value) for key, value in query.items() if value not in (None, "")}
        return f"{link}?{urlencode(kept)}" if kept else link

    def static(self, name: str) -> str:
        """The URL of a static file of the UI (CSS, scripts, vendored libraries)."""
        return self.root.rstrip("/") + "/static/" + name.lstrip("/")

    def with_query(self, **changes: object) -> str:
        """This page's URL with some query parameters changed (``None`` drops one): for pagination."""
        query = dict(self.query)
        for key, value in changes.items():
            if value is None or value == "":
                query.pop(key, None)
            else:
                query[key] = str(value)
        return f"{self.path}?{urlencode(query)}" if query else self.path


def ui_context(request: Request[Any, Any, Any], actor: Actor) -> UiContext:
    """The ``ui`` object of a page rendered for ``request``."""
    options = request.route_handler.opt.get(UI_OPT_KEY)
    picker = options.user_picker if isinstance(options, UiOptions) else ()
    token = ScopeState.from_scope(request.scope).csrf_token
    return UiContext(
        root=ui_root_of(request),
        actor=actor,
        path=request.url.path,
        query={key: value for key, value in request.query_params.items() if key != "as"},
        csrf_token=token if isinstance(token, str) else "",
        user_picker=picker,
    )


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render one of the UI's templates to HTML."""
    return _engine().get_template(template).render(**context)


def page(
    request: Request[Any, Any, Any],
    actor: Actor,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> Response[str]:
    """An HTML response: ``template`` rendered with ``context`` plus ``ui`` and ``now``."""
    values = {"ui": ui_context(request, actor), "now": datetime.now(UTC), **(context or {})}
    html = render(template, values)
    return Response(
        html,
        status_code=status_code,
        media_type=MediaType.HTML,
        headers={"Cache-Control": "no-store"},
    )
