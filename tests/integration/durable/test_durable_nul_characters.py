"""NUL characters (U+0000), which PostgreSQL stores in no text or JSONB column, on every store.

Before they were refused, a step that wrote one left its instance running for ever on PostgreSQL
(each commit failed, the step ran again at every sweep), and a request holding one answered
"database unavailable". Now the same input gets the same clear refusal on every store.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from engine_kinds import ENGINE_KINDS, database_of, engine_for, stored

from litestar_workflows import (
    BaseHumanStep,
    ContextSerializationError,
    Edge,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
)
from step_kit import FINISHED, Fn

if TYPE_CHECKING:
    from conftest import ScratchDatabase

NUL = "\x00"


@pytest.fixture(params=ENGINE_KINDS)
def database(request: pytest.FixtureRequest) -> ScratchDatabase | None:
    return database_of(request)


def registry() -> WorkflowRegistry:
    def writes_nul(context: Any) -> None:
        context.set("note", f"a{NUL}b")

    def raises_nul(context: Any) -> None:
        raise ValueError(f"bad byte {NUL} here")

    reg = WorkflowRegistry()
    for name, fn in (("writes", writes_nul), ("raises", raises_nul)):
        reg.register(
            WorkflowDefinition(
                name=name, steps=[Fn("a", fn), Fn("b")], edges=[Edge("a", "b")], initial_step="a"
            )
        )
    reg.register(WorkflowDefinition(name="asks", steps=[BaseHumanStep("ask")], edges=[], initial_step="ask"))
    return reg


async def test_a_step_writing_a_nul_fails_its_instance_instead_of_stalling_it(
    database: ScratchDatabase | None,
) -> None:
    async with engine_for(database, registry()) as engine:
        written = await engine.start_workflow("writes", {"k": "v"})
        raised = await engine.start_workflow("raises", {"k": "v"})
        for instance_id in (written.id, raised.id):
            assert (
                await engine.wait(instance_id, timeout=30, until=FINISHED)
            ).status is WorkflowStatus.FAILED
        kept = await stored(engine, written.id)
        assert kept.status is WorkflowStatus.FAILED
        assert "context['note'] contains a NUL character" in (kept.error or "")
        assert kept.context.data == {"k": "v"}
        failed = await stored(engine, raised.id)
        assert failed.status is WorkflowStatus.FAILED
        assert "bad byte \\x00 here" in (failed.error or "")  # kept, the character written out


async def test_arguments_holding_a_nul_are_refused_and_nothing_is_stored(
    database: ScratchDatabase | None,
) -> None:
    async with engine_for(database, registry()) as engine:
        for data, options, where in (
            ({"k": f"v{NUL}"}, {}, "initial_data['k']"),
            ({f"k{NUL}": 1}, {}, "(the key)"),
            ({}, {"created_by": f"ann{NUL}"}, "created_by"),
            ({}, {"tenant_id": f"t{NUL}"}, "tenant_id"),
        ):
            with pytest.raises(ContextSerializationError, match=f"{re.escape(where)}.*NUL character"):
                await engine.start_workflow("asks", data, **options)
        assert (await engine.find_instances()).total == 0
        instance = await engine.start_workflow("asks", {}, created_by="ann")
        await engine.wait(instance.id, timeout=30)
        with pytest.raises(ContextSerializationError, match=r"data for task 'ask'\['c'\] contains a NUL"):
            await engine.complete_human_task(instance.id, "ask", "ann", {"c": NUL})
        with pytest.raises(ContextSerializationError, match="reason contains a NUL"):
            await engine.cancel_workflow(instance.id, f"why{NUL}")
        [task] = (await engine.find_tasks(instance_id=instance.id)).items
        with pytest.raises(ContextSerializationError, match="new_assignee contains a NUL"):
            await engine.reassign_task(task.id, f"bob{NUL}")
        assert (await engine.find_instances(created_by=f"ann{NUL}")).total == 0  # asked, not an error
        assert (await engine.find_tasks(assignee_id=f"x{NUL}")).total == 0
        assert (await engine.find_instances(created_by="ann")).total == 1
        await engine.complete_human_task(instance.id, "ask", "ann", {"c": "fine"})
        assert (await engine.wait(instance.id, timeout=30, until=FINISHED)).status is WorkflowStatus.COMPLETED


class Titled(BaseHumanStep):
    """Its title and assignee come from hooks, which may compute anything."""

    async def get_title(self, context: Any) -> str:
        return f"Check {context.get('who')}{NUL}"

    async def get_assignee(self, context: Any) -> str:
        return f"{context.get('who')}{NUL}"


async def test_a_task_title_or_assignee_computed_with_a_nul_is_written_out(
    database: ScratchDatabase | None,
) -> None:
    reg = WorkflowRegistry()
    reg.register(WorkflowDefinition(name="titled", steps=[Titled("t")], edges=[], initial_step="t"))
    async with engine_for(database, reg) as engine:
        instance = await engine.start_workflow("titled", {"who": "ann"})
        assert (await engine.wait(instance.id, timeout=30)).status is WorkflowStatus.WAITING
        [task] = (await engine.find_tasks(instance_id=instance.id)).items
        assert (task.title, task.assignee_id) == ("Check ann\\x00", "ann\\x00")
        assert (await stored(engine, instance.id)).status is WorkflowStatus.WAITING


class SchemaWithNul(BaseHumanStep):
    async def get_form_schema(self, context: Any) -> dict[str, Any]:
        return {"type": "object", "properties": {"amount": {"type": "number", "title": f"Amount{NUL}(EUR)"}}}


async def test_a_form_schema_or_a_definition_holding_a_nul_is_refused(
    database: ScratchDatabase | None,
) -> None:
    static = BaseHumanStep("ask", form_schema={"type": "object", "title": f"T{NUL}"})
    for definition, where in (
        (WorkflowDefinition(name="static", steps=[static], edges=[], initial_step="ask"), "form schema"),
        (
            WorkflowDefinition(
                name="described", description=f"d{NUL}", steps=[Fn("a")], edges=[], initial_step="a"
            ),
            "description",
        ),
    ):
        problems = definition.validate()
        assert any(where in problem and "NUL character" in problem for problem in problems), problems
    reg = WorkflowRegistry()
    reg.register(
        WorkflowDefinition(name="computed", steps=[SchemaWithNul("ask")], edges=[], initial_step="ask")
    )
    async with engine_for(database, reg) as engine:
        instance = await engine.start_workflow("computed", {})
        assert (await engine.wait(instance.id, timeout=30, until=FINISHED)).status is WorkflowStatus.FAILED
        kept = await stored(engine, instance.id)
        assert kept.status is WorkflowStatus.FAILED
        assert "contains a NUL character" in (kept.error or "")
