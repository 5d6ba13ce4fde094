"""A Litestar app served on the Celery engine, as a user writes one.

``make_app(url, schema, redis_url)`` builds it; run with the ``WF_*`` variables of
``celery_worker.py`` set, the module also holds ``app`` for ``litestar --app celery_web:app ...``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from distributed_flows import registry
from litestar import Litestar, Request

from litestar_workflows.contrib.celery import CeleryExecutionEngine
from litestar_workflows.db.store import create_store_engine
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig


def make_app(url: str, schema: str | None, redis_url: str, owner: str | None = None) -> Litestar:
    db_engine = create_store_engine(
        url, **({"connect_args": {"server_settings": {"search_path": schema}}} if schema else {})
    )
    engine = CeleryExecutionEngine(
        Celery("celery_web", broker=redis_url),
        db_engine,
        registry(),
        lease_seconds=2,
        sweep_interval=0.5,
        poll_interval=0.1,
        owner=owner,
    )
    return Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(engine=engine, user_resolver=header_user))])


def header_user(request: Request[Any, Any, Any]) -> str | None:
    """The acting user, from the ``X-User`` header (a test app's stand-in for authentication)."""
    return request.headers.get("x-user")


if os.environ.get("WF_DB_URL"):
    app = make_app(
        os.environ["WF_DB_URL"],
        os.environ.get("WF_DB_SCHEMA"),
        os.environ["WF_REDIS_URL"],
        os.environ.get("WF_OWNER"),
    )
