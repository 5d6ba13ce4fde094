"""BaseGateway: the documented ``evaluate()``-returns-a-step-name gateway, run by the real engine."""

from __future__ import annotations

from typing import Any

import pytest

from litestar_workflows import (
    BaseGateway,
    BaseMachineStep,
    Edge,
    ExclusiveGateway,
    LocalExecutionEngine,
    WorkflowDefinition,
    WorkflowRegistry,
    WorkflowStatus,
    WorkflowValidationError,
)


class Mark(BaseMachineStep):
    async def execute(self, context: Any) -> None:
        context.set(f"ran_{context.current_step}", True)


class BySize(BaseGateway):
    name = "route"

    async def evaluate(self, context: Any) -> str:
        return "big" if context.get("amount", 0) >= 1000 else "small"


class Fanout(BaseGateway):
    name = "route"
    gateway_type = "inclusive"

    async def evaluate(self, context: Any) -> list[str]:
        return list(context.get("targets"))


class Returns(BaseGateway):
    """Returns whatever the instance data says, to see bad answers refused."""

    name = "route"

    async def evaluate(self, context: Any) -> Any:
        return context.get("answer")


class InclusiveReturns(Returns):
    gateway_type = "inclusive"


def definition(gateway: BaseGateway) -> WorkflowDefinition:
    return WorkflowDefinition(
        name="routing",
        version="1.0.0",
        steps={"route": gateway, "big": Mark(), "small": Mark(), "end": Mark()},
        edges=[Edge("route", "big"), Edge("route", "small"), Edge("big", "end"), Edge("small", "end")],
        initial_step="route",
        terminal_steps={"end"},
    )


async def run(gateway: BaseGateway, data: dict[str, Any]) -> Any:
    registry = WorkflowRegistry()
    registry.register_definition(definition(gateway))
    engine = LocalExecutionEngine(registry)
    instance = await engine.start_workflow("routing", data)
    return await engine.wait(instance.id)


@pytest.mark.parametrize(("amount", "taken", "skipped"), [(5000, "big", "small"), (10, "small", "big")])
async def test_exclusive_gateway_takes_the_named_step_and_the_join_continues(
    amount: int, taken: str, skipped: str
) -> None:
    instance = await run(BySize(), {"amount": amount})
    assert instance.status is WorkflowStatus.COMPLETED
    assert instance.context.get(f"ran_{taken}") is True
    assert instance.context.get(f"ran_{skipped}") is None
    assert instance.context.get("ran_end") is True


class PlainBySize(BaseGateway):
    """``evaluate`` written as a plain ``def``: its answer is used as it is."""

    name = "route"

    def evaluate(self, context: Any) -> str:  # type: ignore[override]
        return "big" if context.get("amount", 0) >= 1000 else "small"


class PlainExclusive(ExclusiveGateway):
    def evaluate(self, context: Any) -> str:  # type: ignore[override]
        return "small"


@pytest.mark.parametrize("gateway", [PlainBySize(), PlainExclusive("route")])
async def test_a_plain_def_evaluate_routes_like_an_async_one(gateway: Any) -> None:
    instance = await run(gateway, {"amount": 10})
    assert instance.status is WorkflowStatus.COMPLETED, instance.error
    assert (instance.context.get("ran_small"), instance.context.get("ran_big")) == (True, None)


async def test_inclusive_gateway_runs_every_named_step() -> None:
    instance = await run(Fanout(), {"targets": ["big", "small"]})
    assert instance.status is WorkflowStatus.COMPLETED
    assert (
        instance.context.get("ran_big")
        and instance.context.get("ran_small")
        and instance.context.get("ran_end")
    )
    instance = await run(Fanout(), {"targets": ["small"]})
    assert instance.context.get("ran_small") and instance.context.get("ran_big") is None


@pytest.mark.parametrize(
    ("gateway", "answer", "message"),
    [
        (Returns(), ["big", "small"], "an exclusive gateway returns the name of one step"),
        (Returns(), None, "an exclusive gateway returns the name of one step"),
        (InclusiveReturns(), [], "at least one step name"),
        (InclusiveReturns(), 7, "a step name or a list of step names"),
        (InclusiveReturns(), ["big", 3], "at least one step name, all strings"),
    ],
)
async def test_an_answer_that_is_not_a_step_name_fails_the_instance_saying_so(
    gateway: BaseGateway, answer: Any, message: str
) -> None:
    instance = await run(gateway, {"answer": answer})
    assert instance.status is WorkflowStatus.FAILED
    assert message in (instance.error or "")
    assert instance.context.get("ran_end") is None


async def test_a_name_that_is_not_a_successor_fails_the_instance_naming_it() -> None:
    instance = await run(Returns(), {"answer": "nowhere"})
    assert instance.status is WorkflowStatus.FAILED
    assert "nowhere" in (instance.error or "")


async def test_evaluate_not_implemented_fails_the_instance() -> None:
    instance = await run(BaseGateway("route"), {})
    assert instance.status is WorkflowStatus.FAILED
    assert "must implement evaluate()" in (instance.error or "")


def test_an_unknown_gateway_type_is_refused_when_the_class_is_defined() -> None:
    with pytest.raises(WorkflowValidationError, match="'parallel'; use 'exclusive' or 'inclusive'"):

        class Wrong(BaseGateway):
            gateway_type = "parallel"
