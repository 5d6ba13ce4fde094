"""Engine set-up the store needs on top of what ``create_async_engine`` gives."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ("enable_sqlite_foreign_keys",)


def _foreign_keys_on(dbapi_connection: Any, connection_record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def enable_sqlite_foreign_keys(db_engine: AsyncEngine | Engine) -> None:
    """Make SQLite enforce foreign keys (and so ``ON DELETE CASCADE``) on every connection of an engine.

    SQLite ships with enforcement off, per connection; without this, deleting an instance leaves its
    step executions and human tasks behind. Call it once, right after creating the engine, before the
    first connection is made. Does nothing for other databases, which always enforce foreign keys.
    The migration functions suspend enforcement while they run, as batch migrations require.

    Args:
        db_engine: A sync or async engine.
    """
    sync_engine = db_engine.sync_engine if isinstance(db_engine, AsyncEngine) else db_engine
    if sync_engine.dialect.name != "sqlite":
        return
    if not event.contains(sync_engine, "connect", _foreign_keys_on):
        event.listen(sync_engine, "connect", _foreign_keys_on)
