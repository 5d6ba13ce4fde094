"""The interpreter (pure transitions) and the step runner (calls user code)."""

from litestar_workflows.runtime.interpreter import ContextChanges, Interpreter, StaleOutcomeError
from litestar_workflows.runtime.runner import Outcome, StepPlan, StepRunner, apply_outcome
from litestar_workflows.runtime.transition import Transition

__all__ = (
    "ContextChanges",
    "Interpreter",
    "Outcome",
    "StaleOutcomeError",
    "StepPlan",
    "StepRunner",
    "Transition",
    "apply_outcome",
)
