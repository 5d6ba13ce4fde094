"""CSRF protection of the UI's forms, with Litestar's CSRF middleware, on the UI's routes only.

An application with a ``csrf_config`` of its own protects every route already, the UI's included;
then this middleware steps aside (a second token under another secret would refuse every form).
Otherwise it runs Litestar's :class:`~litestar.middleware.csrf.CSRFMiddleware` for the UI's routes
alone: the REST API, which JSON clients call without a browser's cookies, is left as it was.

The secret is the plugin's ``ui_csrf_secret``, or one drawn at random once per process (forms
then fail after a restart, and between processes: set the option when running several).
"""

from __future__ import annotations

import secrets
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from litestar.config.csrf import CSRFConfig
from litestar.enums import ScopeType
from litestar.middleware.csrf import CSRFMiddleware

from litestar_workflows.web.ui.rendering import UI_OPT_KEY

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

__all__ = ("CSRF_COOKIE", "UiCSRFMiddleware")

CSRF_COOKIE: Final = "workflows_csrf"
"""The cookie holding the UI's CSRF token (the forms repeat it in a hidden ``_csrf_token`` field)."""


@cache
def _middleware(app: ASGIApp, secret: str) -> CSRFMiddleware:
    config = CSRFConfig(secret=secret, cookie_name=CSRF_COOKIE, cookie_samesite="lax", cookie_httponly=True)
    return CSRFMiddleware(app, config)


@cache
def _process_secret() -> str:
    return secrets.token_hex(32)


class UiCSRFMiddleware:
    """Litestar's CSRF middleware for the UI's routes, unless the app has its own ``csrf_config``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check (unsafe methods) or issue (safe methods) the CSRF token, then call the route."""
        litestar_app: Any = scope.get("litestar_app")
        if scope["type"] != ScopeType.HTTP or getattr(litestar_app, "csrf_config", None) is not None:
            await self.app(scope, receive, send)
            return
        handler: Any = scope.get("route_handler")
        options = handler.opt.get(UI_OPT_KEY) if handler is not None else None
        secret = getattr(options, "csrf_secret", None) or _process_secret()
        await _middleware(self.app, secret)(scope, receive, send)
