"""PostgreSQL: the ledger's statements that lock step-execution rows lock them in id order.

A worker renews the leases of what it runs while its group-commit writer finishes some of the
same executions; the writer locks rows in id order, so a renewal (or a release) that locked them
in the plan's order could deadlock with it ("deadlock detected" in a worker's log). Each such
statement is checked as PostgreSQL receives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from uuid import uuid4

import pytest
from sqlalchemy import event

from inprocess_broker import inprocess_cluster
from litestar_workflows import WorkflowRegistry

if TYPE_CHECKING:
    from conftest import ScratchDatabase

pytestmark = pytest.mark.postgres


async def test_renew_and_release_lock_execution_rows_in_id_order(scratch_postgres: ScratchDatabase) -> None:
    async with inprocess_cluster(scratch_postgres, WorkflowRegistry(), workers=1) as cluster:
        worker = cluster.workers[0]
        sent: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if statement.lstrip().upper().startswith("UPDATE") and "workflow_step_executions" in statement:
                sent.append(" ".join(statement.split()))

        sync_engine = worker.sql_store.db_engine.sync_engine
        event.listen(sync_engine, "before_cursor_execute", record)
        try:
            ids = [uuid4(), uuid4()]
            assert await worker.ledger.renew(ids) == set()
            await worker.ledger.release(ids)
        finally:
            event.remove(sync_engine, "before_cursor_execute", record)
    assert len(sent) == 2, sent
    for statement in sent:
        assert "ORDER BY workflow_step_executions.id FOR UPDATE" in statement, statement
