"""Database layer: SQLAlchemy models, shipped Alembic migrations and repositories.

Needs the ``db`` extra (``pip install litestar-workflows[db]``; add ``postgres`` for asyncpg).
"""

from litestar_workflows.db.connection import enable_sqlite_foreign_keys
from litestar_workflows.db.engine import PersistentExecutionEngine
from litestar_workflows.db.migrate import (
    VERSION_TABLE,
    WORKFLOW_TABLE_NAMES,
    check_schema_current,
    current_revision,
    downgrade_database,
    downgrade_database_async,
    head_revision,
    upgrade_database,
    upgrade_database_async,
)
from litestar_workflows.db.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowBase,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
    workflow_metadata,
)
from litestar_workflows.db.repositories import (
    HumanTaskRepository,
    StepExecutionRepository,
    WorkflowDefinitionRepository,
    WorkflowInstanceRepository,
    version_sort_key,
)
from litestar_workflows.db.store import SQLAlchemyStore, create_store_engine
from litestar_workflows.db.types import JsonB

__all__ = (
    "VERSION_TABLE",
    "WORKFLOW_TABLE_NAMES",
    "HumanTaskModel",
    "HumanTaskRepository",
    "JsonB",
    "PersistentExecutionEngine",
    "SQLAlchemyStore",
    "StepExecutionModel",
    "StepExecutionRepository",
    "WorkflowBase",
    "WorkflowDefinitionModel",
    "WorkflowDefinitionRepository",
    "WorkflowInstanceModel",
    "WorkflowInstanceRepository",
    "check_schema_current",
    "create_store_engine",
    "current_revision",
    "downgrade_database",
    "downgrade_database_async",
    "enable_sqlite_foreign_keys",
    "head_revision",
    "upgrade_database",
    "upgrade_database_async",
    "version_sort_key",
    "workflow_metadata",
)
