"""Readers of the commit durability setting (``synchronous_commit``) a store's connections run with.

Shared by the durable and the distributed engines' tests. Real readings on the store's own
database engine: ``PRAGMA synchronous`` on SQLite, ``SHOW synchronous_commit`` on PostgreSQL.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import event

from litestar_workflows.db.connection import WRITE_OPTION

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncEngine


def setting_statement(db_engine: AsyncEngine) -> str:
    """The statement that reads the durability setting on a connection of ``db_engine``."""
    return "PRAGMA synchronous" if db_engine.dialect.name == "sqlite" else "SHOW synchronous_commit"


async def store_setting(engine: Any) -> Any:
    """The setting, read on two connections of the engine's store at once (they must agree)."""
    db_engine = engine.sql_store.db_engine
    statement = setting_statement(db_engine)
    async with db_engine.connect() as first, db_engine.connect() as second:
        one = (await first.exec_driver_sql(statement)).scalar()
        other = (await second.exec_driver_sql(statement)).scalar()
    assert one == other
    return one


@contextmanager
def settings_in_write_transactions(engine: Any) -> Iterator[list[Any]]:
    """The setting in effect inside each write transaction the store sends through SQLAlchemy.

    A listener on the store's database engine: after each INSERT, UPDATE or WITH statement of the
    store's write path, the setting is read on the same connection, inside that transaction,
    through a cursor of the driver's (so that the reading is no statement of the store's).
    """
    seen: list[Any] = []
    sync_engine = engine.sql_store.db_engine.sync_engine
    statement = setting_statement(engine.sql_store.db_engine)

    def read(conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        words = sql.split()
        if not words or words[0].upper() not in {"INSERT", "UPDATE", "WITH"}:
            return
        if not conn.get_execution_options().get(WRITE_OPTION):
            return
        assert conn.in_transaction()
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute(statement)
            seen.append(cursor.fetchone()[0])
        finally:
            cursor.close()

    event.listen(sync_engine, "after_cursor_execute", read)
    try:
        yield seen
    finally:
        event.remove(sync_engine, "after_cursor_execute", read)
