"""Helpers shared by the web tests: an app on an engine, identity headers, a sync runner.

Identity comes from request headers here (``X-User``, ``X-Groups``, and ``X-Tenant`` for apps
with tenants) through the plugin's configurable resolvers, so every test states who acts.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any
from uuid import UUID

from litestar import Litestar

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    NonRetryableError,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
)
from litestar_workflows.plugin import WorkflowPlugin, WorkflowPluginConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from litestar.connection import ASGIConnection
    from litestar.testing import TestClient

GROUPS = {"maria": ("managers",), "fiona": ("finance",), "finn": ("finance",), "erik": ("staff",)}
"""Who is in which group, for the engine's authorizer (the API reads ``X-Groups``)."""


def in_thread(function: Callable[[], Any]) -> Any:
    """Call ``function`` on a private thread without an event loop and return its result.

    Fixtures set up from inside a running loop use it for what refuses to run there (migrations
    over an async driver, ``asyncio.run``).
    """
    result: list[Any] = []

    def target() -> None:
        try:
            result.append(function())
        except BaseException as error:  # re-raised in the caller's thread
            result.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if isinstance(result[0], BaseException):
        raise result[0]
    return result[0]


def settle(client: TestClient[Litestar], engine: Any, instance_id: str | UUID, **options: Any) -> Any:
    """Wait until the instance settles (``engine.wait``), on the app's loop inside the client's portal."""
    return client.blocking_portal.call(partial(engine.wait, UUID(str(instance_id)), timeout=30, **options))


def header_user(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The acting user: the ``X-User`` header."""
    return connection.headers.get("x-user")


def header_groups(connection: ASGIConnection[Any, Any, Any, Any]) -> list[str]:
    """The acting user's groups: the comma-separated ``X-Groups`` header."""
    return [g for g in connection.headers.get("x-groups", "").split(",") if g]


def header_tenant(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The acting tenant: the ``X-Tenant`` header."""
    return connection.headers.get("x-tenant")


def make_app(engine: Any, **config: Any) -> Litestar:
    """An app serving ``engine`` through the plugin; identity from ``X-User``/``X-Groups``.

    Without tenants unless the test passes ``tenant_resolver=header_tenant`` (then every request
    must name its tenant in ``X-Tenant``: tenancy fails closed).
    """
    config.setdefault("user_resolver", header_user)
    config.setdefault("groups_resolver", header_groups)
    return Litestar(plugins=[WorkflowPlugin(WorkflowPluginConfig(engine=engine, **config))])


def as_user(user: str, *, tenant: str | None = None) -> dict[str, str]:
    """Request headers acting as ``user`` (with their groups from :data:`GROUPS`) and ``tenant``."""
    headers = {"X-User": user, "X-Groups": ",".join(GROUPS.get(user, ()))}
    if tenant is not None:
        headers["X-Tenant"] = tenant
    return headers


# ---------------------------------------------------------------------- workflows the tests run

APPROVAL_FORM = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
    "required": ["approved"],
}


class Submit(BaseMachineStep):
    name = "submit"

    async def execute(self, context: WorkflowContext) -> None:
        context.set("reviewer", context.get("reviewer") or "maria")


class Review(BaseHumanStep):
    name = "review"
    title = "Review the request"
    form_schema = APPROVAL_FORM
    assignee_key = "reviewer"


class FinanceCheck(BaseHumanStep):
    name = "finance_check"
    title = "Finance check"
    form_schema = APPROVAL_FORM
    assignee_group = "finance"


class Record(BaseMachineStep):
    async def execute(self, context: WorkflowContext) -> str:
        context.set("outcome", self.name)
        return self.name


def approval(version: str = "1.0.0") -> WorkflowDefinition:
    """submit -> review -> (approved, amount > 100) finance_check -> approve; not approved -> reject."""
    return WorkflowDefinition(
        name="approval",
        version=version,
        description=f"An approval, version {version}",
        steps={
            "submit": Submit(),
            "review": Review(),
            "finance_check": FinanceCheck(),
            "approve": Record("approve"),
            "reject": Record("reject"),
        },
        edges=[
            Edge("submit", "review"),
            Edge(
                "review",
                "finance_check",
                condition="context.get('approved') and context.get('amount', 0) > 100",
            ),
            Edge(
                "review", "approve", condition="context.get('approved') and context.get('amount', 0) <= 100"
            ),
            Edge("review", "reject", condition="not context.get('approved')"),
            Edge("finance_check", "approve", condition="context.get('approved')"),
            Edge("finance_check", "reject", condition="not context.get('approved')"),
        ],
        initial_step="submit",
        terminal_steps={"approve", "reject"},
    )


FAILED_ONCE: set[str] = set()
"""Instances whose flaky step already failed (it succeeds on the next try)."""


class Flaky(BaseMachineStep):
    name = "flaky"

    async def execute(self, context: WorkflowContext) -> None:
        if str(context.instance_id) not in FAILED_ONCE:
            FAILED_ONCE.add(str(context.instance_id))
            raise NonRetryableError("the flaky step fails the first time")
        context.set("flaky_done", True)


flaky = WorkflowDefinition(
    name="flaky",
    version="1.0.0",
    description="Fails once, then succeeds on retry",
    steps={"prepare": Record("prepare"), "flaky": Flaky(), "finish": Record("finish")},
    edges=[Edge("prepare", "flaky"), Edge("flaky", "finish")],
    initial_step="prepare",
)


@dataclass
class Gate:
    """Holds the ``hold`` step of the instance started with ``{"gate": <key>}`` until released."""

    started: threading.Event = field(default_factory=threading.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    def open(self, client: TestClient[Litestar]) -> None:
        """Let the step finish (the event belongs to the app's loop, so set it there)."""
        client.blocking_portal.call(self.release.set)


GATES: dict[str, Gate] = {}
"""Gates by key, so a test can look at an instance while a step runs."""


class Hold(BaseMachineStep):
    name = "hold"

    async def execute(self, context: WorkflowContext) -> None:
        gate = GATES[context.get("gate")]
        gate.started.set()
        await gate.release.wait()


gated = WorkflowDefinition(
    name="gated",
    version="1.0.0",
    description="Runs a step that waits until the test opens its gate",
    steps={"begin": Record("begin"), "hold": Hold(), "end": Record("end")},
    edges=[Edge("begin", "hold"), Edge("hold", "end")],
    initial_step="begin",
)


def build_registry() -> WorkflowRegistry:
    """A registry with approval 1.0.0 and 2.0.0, flaky and gated."""
    registry = WorkflowRegistry()
    for definition in (approval("1.0.0"), approval("2.0.0"), flaky, gated):
        registry.register_definition(definition)
    return registry
