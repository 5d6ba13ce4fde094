"""The Persistence and Web Plugin guides' examples (guides/persistence.rst, guides/web-plugin.rst).

The guides' PostgreSQL URLs are replaced by a SQLite file in a temporary directory, and the
workflow class they use without showing it (``MyWorkflow``) is the web-plugin guide's own
``ApprovalWorkflow`` shape; everything else is as the guides show it.
"""

# ruff: noqa: E402, F401, F811, I001, PLC0415
# (the documented code is kept as the guides show it)

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from litestar_workflows import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowStatus,
)

TABLES_AND_REGISTRATION = (
    "UUIDAuditBase.metadata.create_all creates our tables (issue 11 item 4) and registering a class "
    "after its definition is a no-op (item 3)"
)


class SubmitRequest(BaseMachineStep):
    name = "submit"

    async def execute(self, context: WorkflowContext) -> dict:
        context.set("submitted", True)
        return {"status": "submitted"}


class ManagerReview(BaseHumanStep):
    name = "manager_review"
    title = "Review Request"
    form_schema = {
        "type": "object",
        "properties": {"approved": {"type": "boolean"}, "comments": {"type": "string"}},
        "required": ["approved"],
    }


class MyWorkflow:
    __workflow_name__ = "my_workflow"
    __workflow_version__ = "1.0.0"

    @classmethod
    def get_definition(cls) -> WorkflowDefinition:
        return WorkflowDefinition(
            name=cls.__workflow_name__,
            version=cls.__workflow_version__,
            description="",
            steps={"submit": SubmitRequest(), "manager_review": ManagerReview()},
            edges=[Edge("submit", "manager_review")],
            initial_step="submit",
            terminal_steps={"manager_review"},
        )


# ----------------------------------------------------------------------------- persistence.rst


async def test_direct_table_creation_then_basic_setup(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the guide's relative "workflows.db"

    # Option 2: Direct Table Creation (asyncio.run() replaced by an await: we already run in a loop)
    from sqlalchemy.ext.asyncio import create_async_engine
    from advanced_alchemy.base import UUIDAuditBase

    # Import models to register them
    from litestar_workflows.db import (
        WorkflowDefinitionModel,
        WorkflowInstanceModel,
        StepExecutionModel,
        HumanTaskModel,
    )

    async def create_tables():
        engine = create_async_engine("sqlite+aiosqlite:///workflows.db")
        async with engine.begin() as conn:
            await conn.run_sync(UUIDAuditBase.metadata.create_all)
        await engine.dispose()  # (added: the guide leaves the engine open)

    await create_tables()

    # Basic Setup
    from sqlalchemy.ext.asyncio import create_async_engine, async_sessionmaker
    from litestar_workflows import WorkflowRegistry
    from litestar_workflows.db import PersistentExecutionEngine

    engine = create_async_engine("sqlite+aiosqlite:///workflows.db")
    session_factory = async_sessionmaker(engine, expire_on_commit=False)

    registry = WorkflowRegistry()
    registry.register_definition(MyWorkflow.get_definition())
    registry.register_workflow_class(MyWorkflow)

    async with session_factory() as session:
        engine = PersistentExecutionEngine(
            registry=registry,
            session=session,
        )

        # Start a workflow - state is automatically persisted
        instance = await engine.start_workflow(
            MyWorkflow,
            initial_data={"customer_id": "cust-123"},
            tenant_id="acme-corp",  # Optional: multi-tenancy support
            created_by="user@example.com",  # Optional: audit trail
        )
        instance = await engine.wait(instance.id, until=WorkflowStatus.WAITING, timeout=30)
        assert instance.current_step == "manager_review"
        assert instance.tenant_id == "acme-corp"


# ----------------------------------------------------------------------------- web-plugin.rst


def test_web_plugin_quick_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the plugin's default engine may keep a file in the working directory
    from litestar import Litestar
    from litestar_workflows import WorkflowPlugin, WorkflowPluginConfig

    app = Litestar(
        route_handlers=[],  # the guide's "[...]"
        plugins=[
            WorkflowPlugin(
                config=WorkflowPluginConfig(
                    enable_api=True,  # Default - API auto-enabled
                    api_path_prefix="/workflows",
                )
            ),
        ],
    )
    with TestClient(app) as client:
        assert client.get("/workflows/definitions").status_code == 200


def test_web_plugin_disabling_the_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    from litestar import Litestar
    from litestar_workflows import WorkflowPlugin, WorkflowPluginConfig

    app = Litestar(
        plugins=[
            WorkflowPlugin(config=WorkflowPluginConfig(enable_api=False)),
        ],
    )
    with TestClient(app) as client:
        assert client.get("/workflows/definitions").status_code == 404
