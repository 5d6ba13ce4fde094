"""The demo application: three workflows behind the plugin's REST API, on a SQLite file.

Run it with ``python -m litestar_workflows.demo`` and open http://127.0.0.1:8000/schema; act as
someone with the header ``X-User: maria`` (or ``?as=maria``). ``WORKFLOWS_DATABASE_URL`` moves the
data elsewhere (default ``./workflows-demo.db``); the schema is migrated at startup.

The CLI works on the same app: ``LITESTAR_APP=litestar_workflows.demo.app:app litestar workflows tasks``.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final

from litestar import Litestar, Request, Response, get
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Redirect

from litestar_workflows import CreatorOrAdminAuthorizer, __version__
from litestar_workflows.demo.auth import (
    ADMIN_GROUP,
    DEMO_USERS,
    USER_HEADER,
    USER_QUERY,
    FakeLoginMiddleware,
    NoOwnCaseAuthorizer,
    groups_of,
)
from litestar_workflows.demo.workflows import DEMO_WORKFLOWS
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

if TYPE_CHECKING:
    from uuid import UUID

__all__ = ("DATABASE_URL_ENV", "DEFAULT_DEMO_DATABASE_URL", "app", "create_app")

DATABASE_URL_ENV: Final = "WORKFLOWS_DATABASE_URL"
DEFAULT_DEMO_DATABASE_URL: Final = "sqlite+aiosqlite:///./workflows-demo.db"
UI_PATH: Final = "/workflows/ui/"
"""The plugin's web UI (its default mount)."""
START_EXAMPLE: Final = (
    'POST /workflows/instances {"definition_name": "expense_approval", "input_data": {"amount": 250}}'
)


@get("/", include_in_schema=False, sync_to_thread=False)
def index(request: Request[Any, Any, Any]) -> Response[dict[str, Any]] | Redirect:
    """Where to go from here: browsers go to the web UI, API clients get a JSON hint."""
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        return Redirect(UI_PATH + ("?" + request.url.query if request.url.query else ""))
    return Response(
        {
            "name": "litestar-workflows demo",
            "docs": "/schema",
            "api": "/workflows",
            "act_as": f"send the header '{USER_HEADER}: <user>' or add '?{USER_QUERY}=<user>'",
            "users": {
                user.id: {"role": user.role, "groups": list(user.groups), "manager": user.manager}
                for user in DEMO_USERS.values()
            },
            "try": START_EXAMPLE,
            "ui": UI_PATH,
        }
    )


@get("/health", include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    """Readiness probe: answers once the app (and its engine) has started."""
    return {"status": "ok"}


def create_app(database_url: str | None = None, *, in_memory: bool = False) -> Litestar:
    """Build the demo app.

    Args:
        database_url: Where workflows are kept; default ``$WORKFLOWS_DATABASE_URL`` or
            ``./workflows-demo.db``.
        in_memory: Keep everything in memory instead (for tests and throwaway runs).
    """
    url = None if in_memory else database_url or os.environ.get(DATABASE_URL_ENV) or DEFAULT_DEMO_DATABASE_URL

    async def requester_of(instance_id: UUID) -> str | None:
        return (await plugin.engine.get_instance(instance_id)).created_by

    config = WorkflowPluginConfig(
        database_url=url,
        auto_register_workflows=DEMO_WORKFLOWS,
        engine_options={"authorizer": NoOwnCaseAuthorizer(requester_of)},
        # Creators cancel and retry their own instances; the admins group anyone's (also from the CLI,
        # which knows no request groups: hence groups_of).
        instance_authorizer=CreatorOrAdminAuthorizer([ADMIN_GROUP], groups_of=groups_of),
        api_tags=("Workflows",),
        ui_user_picker=tuple(DEMO_USERS),  # every UI page offers "Act as" (?as=, kept in a cookie)
    )
    openapi = OpenAPIConfig(
        title="litestar-workflows demo",
        version=__version__,
        description=(
            f"Act as a demo user with the header `{USER_HEADER}` (or `?{USER_QUERY}=`): "
            + ", ".join(f"{u.id} ({u.role})" for u in DEMO_USERS.values())
        ),
        components=Components(
            security_schemes={
                "fakeLogin": SecurityScheme(type="apiKey", name=USER_HEADER, security_scheme_in="header")
            }
        ),
        security=[{"fakeLogin": []}, {}],  # optional: anonymous requests may read and start
    )
    plugin = WorkflowPlugin(config)
    return Litestar(
        route_handlers=[index, health],
        plugins=[plugin],
        middleware=[DefineMiddleware(FakeLoginMiddleware)],
        openapi_config=openapi,
    )


app = create_app()
