"""Public home of the error tree (kept as a module so ``litestar_workflows.exceptions`` imports work)."""

from litestar_workflows.core.errors import *  # noqa: F403
from litestar_workflows.core.errors import __all__  # noqa: F401
