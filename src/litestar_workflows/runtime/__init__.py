"""The interpreter (pure transitions) and the step runner (calls user code)."""

from litestar_workflows.runtime.interpreter import ContextChanges, Interpreter, StaleOutcomeError
from litestar_workflows.runtime.runner import Outcome, StepRunner
from litestar_workflows.runtime.transition import Transition

__all__ = ("ContextChanges", "Interpreter", "Outcome", "StaleOutcomeError", "StepRunner", "Transition")
