"""A database the store cannot use is named for what is wrong with it, with the fix.

A PostgreSQL database that does not exist was reported as "the workflows tables are missing: run
migrate" (migrating cannot create a database), and tables one revision behind as a raw SQL error
on SQLite and as missing tables on PostgreSQL.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from litestar_workflows import WorkflowRegistry
from litestar_workflows.core.errors import StoreError
from litestar_workflows.db import PersistentExecutionEngine
from litestar_workflows.db.migrate import downgrade_database_async, upgrade_database_async

if TYPE_CHECKING:
    from pathlib import Path


async def reading_fails(url: str) -> str:
    engine = PersistentExecutionEngine(WorkflowRegistry(), url=url)
    try:
        with pytest.raises(StoreError) as refused:
            await engine.find_instances()
    finally:
        await engine.stop()
    return str(refused.value)


async def test_a_database_that_does_not_exist_is_named_so(postgres_url: str) -> None:
    missing = make_url(postgres_url).set(database=f"wf_missing_{uuid.uuid4().hex[:12]}")
    message = await reading_fails(missing.render_as_string(hide_password=False))
    assert message.startswith("the database does not exist (")
    assert "create it, then migrate it" in message
    assert "tables are missing" not in message


async def test_tables_of_an_older_revision_ask_for_the_upgrade(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
    db_engine = create_async_engine(url)
    await upgrade_database_async(db_engine)
    await downgrade_database_async(db_engine, "0001")  # the schema of the release before
    await db_engine.dispose()
    message = await reading_fails(url)
    assert message.startswith("the workflows tables are older than this version (")
    assert "litestar workflows migrate" in message


async def test_missing_tables_ask_for_the_migration(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    (tmp_path / "empty.sqlite3").touch()
    message = await reading_fails(url)
    assert message.startswith("the workflows tables are missing (")
