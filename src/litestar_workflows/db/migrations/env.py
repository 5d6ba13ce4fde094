"""Alembic environment for the litestar-workflows schema.

Normally run through :mod:`litestar_workflows.db.migrate`, which hands over an open connection in
``config.attributes["connection"]`` (inside a transaction it commits). It also works from a
plain Alembic config: the ``alembic.ini`` beside this file, with the database in
``WORKFLOW_DATABASE_URL`` as the persistence guide runs it, or any config carrying
``sqlalchemy.url`` (sync or async driver), and offline (``--sql``) to print the DDL for review.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from litestar_workflows.core.errors import StoreError
from litestar_workflows.db.connection import WRITE_OPTION, configure_engine, configure_sync_engine
from litestar_workflows.db.migrate import lock_migrations, migration_context_options

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

URL_VARIABLE = "WORKFLOW_DATABASE_URL"
"""Where ``alembic -c .../alembic.ini upgrade head`` (the persistence guide's command) finds the database."""


def _run_online(connection: Connection) -> None:
    context.configure(connection=connection, **migration_context_options(connection.dialect.name))
    with context.begin_transaction():
        # Several app processes commonly migrate at start-up at once; serialise them so the later
        # ones find the schema current instead of racing on CREATE TABLE. Released at commit.
        lock_migrations(connection)
        context.run_migrations()


def _configured_url() -> URL:
    raw = context.config.get_main_option("sqlalchemy.url") or os.environ.get(URL_VARIABLE)
    if not raw:
        msg = (
            "no database to migrate: use litestar_workflows.db.upgrade_database(url) / "
            f"upgrade_database_async(engine), or set {URL_VARIABLE} (or sqlalchemy.url on the Alembic config)"
        )
        raise StoreError(msg)
    return make_url(raw)


def _run_from_url() -> None:
    url = _configured_url()
    if url.get_dialect().is_async:

        async def run() -> None:
            engine = create_async_engine(url, poolclass=NullPool)
            configure_engine(engine)
            try:
                # On SQLite a writer's transaction (BEGIN IMMEDIATE): processes migrating at once
                # queue for the write lock, and the later ones find the schema current.
                async with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
                    await connection.run_sync(_run_online)
            finally:
                await engine.dispose()

        asyncio.run(run())
        return
    engine = create_engine(url, poolclass=NullPool)
    configure_sync_engine(engine)
    try:
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as connection:
            _run_online(connection)
    finally:
        engine.dispose()


def _run_offline() -> None:
    url = _configured_url()
    context.configure(url=url, literal_binds=True, **migration_context_options(url.get_backend_name()))
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _run_offline()
elif (shared_connection := context.config.attributes.get("connection")) is not None:
    _run_online(shared_connection)
else:
    _run_from_url()
