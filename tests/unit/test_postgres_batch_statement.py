"""The one-statement insert of new instances (db/postgres_batch.py): its shape, parameter by parameter."""

from __future__ import annotations

import re

from litestar_workflows.db.postgres_batch import insert_statement
from litestar_workflows.db.writer import INSTANCE_COLUMNS, RUN_COLUMNS, TASK_COLUMNS


def test_parameters_are_numbered_in_row_order_across_the_tables() -> None:
    statement = insert_statement((2, 3, 1))
    numbers = [int(n) for n in re.findall(r"\$(\d+)", statement)]
    width = 2 * len(INSTANCE_COLUMNS) + 3 * len(RUN_COLUMNS) + len(TASK_COLUMNS)
    assert numbers == list(range(1, width + 1))
    # Instances first (the rows the others refer to), executions and tasks as upserts.
    assert statement.startswith("WITH w0 AS (INSERT INTO workflow_instances")
    assert "w1 AS (INSERT INTO workflow_step_executions" in statement
    assert statement.count("ON CONFLICT (id) DO UPDATE") == 2
    assert re.search(r"\) INSERT INTO workflow_human_tasks", statement)


def test_tables_without_rows_are_left_out() -> None:
    statement = insert_statement((1, 1, 0))
    assert "workflow_human_tasks" not in statement
    assert statement.count("INSERT INTO") == 2
    assert len(re.findall(r"\$\d+", statement)) == len(INSTANCE_COLUMNS) + len(RUN_COLUMNS)
