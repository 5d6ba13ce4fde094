"""Workflow data nests at most MAX_NESTING_DEPTH levels: deeper input, task data and webhook payloads
are refused with an error naming the limit, on every store, and the instance is left as it was."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import pytest
from durable_support import running_engine

from litestar_workflows import (
    BaseHumanStep,
    ContextSerializationError,
    Edge,
    LocalExecutionEngine,
    WebhookStep,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from litestar_workflows.runtime.jsondata import MAX_NESTING_DEPTH, normalize, normalize_mapping, too_deep
from step_kit import Set

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from conftest import ScratchDatabase


def nested(levels: int) -> Any:
    """A value of exactly ``levels`` levels of containers: lists inside lists, a dict innermost."""
    value: Any = {"leaf": 1}
    for _ in range(levels - 1):
        value = [value]
    return value


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve"
    form_schema = {"type": "object"}
    assignee_id = "ann"


def registry() -> WorkflowRegistry:
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(
            name="deep",
            steps=[Set("begin", began=True), Approve(), WebhookStep("hook"), Set("end", ended=True)],
            edges=[Edge("begin", "approve"), Edge("approve", "hook"), Edge("hook", "end")],
            initial_step="begin",
        )
    )
    return reg


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_kind(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    if request.param == "memory":
        return None
    return request.getfixturevalue(
        {"sqlite": "scratch_sqlite", "postgresql": "scratch_postgres"}[request.param]
    )  # type: ignore[no-any-return]


@asynccontextmanager
async def engine_on(db: ScratchDatabase | None) -> AsyncIterator[LocalExecutionEngine]:
    if db is None:
        async with LocalExecutionEngine(registry()) as engine:
            yield engine
        return
    await db.migrate()
    async with running_engine(db, registry()) as engine:
        yield engine


def test_the_limit_counts_levels_of_containers_and_names_where() -> None:
    assert too_deep(nested(MAX_NESTING_DEPTH)) is None
    where = too_deep({"a": {"b": [nested(MAX_NESTING_DEPTH)]}})
    assert where is not None
    assert where.startswith("['a']['b'][0]")
    assert too_deep(nested(100_000)) is not None  # no recursion: any depth is safe to look at
    looped: list[Any] = []
    looped.append(looped)
    assert too_deep(looped) is not None  # a list containing itself ends too
    with pytest.raises(ContextSerializationError, match=f"more than {MAX_NESTING_DEPTH} levels"):
        normalize(nested(MAX_NESTING_DEPTH + 1), "payload")
    with pytest.raises(ContextSerializationError, match=f"more than {MAX_NESTING_DEPTH} levels"):
        normalize(nested(1_000), "payload")  # past what orjson encodes (254): same clear message
    assert normalize_mapping({"x": nested(MAX_NESTING_DEPTH - 1)}, "data") == {
        "x": nested(MAX_NESTING_DEPTH - 1)
    }
    # Many brackets side by side are not depth.
    assert normalize_mapping({"rows": [[i] for i in range(500)]}, "data")["rows"][499] == [499]


async def test_too_deep_input_task_data_and_payload_are_refused_and_nothing_changes(
    store_kind: ScratchDatabase | None,
) -> None:
    async with engine_on(store_kind) as engine:
        with pytest.raises(
            ContextSerializationError, match=rf"initial_data nests .* more than {MAX_NESTING_DEPTH} levels"
        ) as refused:
            await engine.start_workflow("deep", {"x": nested(MAX_NESTING_DEPTH)})
        assert "['x'][0][0][0]" in str(refused.value)
        assert (await engine.find_instances()).total == 0  # nothing stored

        deepest_allowed = {"x": nested(MAX_NESTING_DEPTH - 1)}
        instance = await engine.start_workflow("deep", deepest_allowed)
        waiting = await engine.wait(instance.id, timeout=30)
        assert waiting.status is WorkflowStatus.WAITING

        with pytest.raises(ContextSerializationError, match=f"more than {MAX_NESTING_DEPTH} levels"):
            await engine.complete_human_task(instance.id, "approve", "ann", {"y": nested(2_000)})
        stored = await engine.store.load_instance(instance.id)
        assert stored is not None
        assert stored.status is WorkflowStatus.WAITING
        assert stored.current_step == "approve"
        assert stored.data["x"] == deepest_allowed["x"]  # the deepest allowed data round-trips

        await engine.complete_human_task(instance.id, "approve", "ann", {"y": 1})
        at_hook = await engine.wait(instance.id, timeout=30)
        assert at_hook.current_step == "hook"
        with pytest.raises(ContextSerializationError, match="webhook payload for 'hook' nests"):
            await engine.deliver_webhook(instance.id, "hook", nested(MAX_NESTING_DEPTH + 1))
        await engine.deliver_webhook(instance.id, "hook", nested(MAX_NESTING_DEPTH))
        done = await engine.wait(instance.id, timeout=30)
        assert done.status is WorkflowStatus.COMPLETED
        assert done.data["ended"] is True
