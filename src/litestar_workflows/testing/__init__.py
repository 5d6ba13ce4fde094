"""A kit for testing workflows: time a test controls, and helpers to drive instances.

:class:`WorkflowTestEnvironment` runs an engine (memory store, a temporary SQLite database, or a
PostgreSQL schema of its own) on a :class:`ManualClock`, whose timers fire when the test advances
it: a three-day timer step, a retry back-off or a task's due date passes at once. The pytest
plugin (installed with the package, see :mod:`litestar_workflows.testing.pytest_plugin`)
provides fixtures built on it.
"""

from litestar_workflows.testing.clock import ManualClock, ManualTimer
from litestar_workflows.testing.environment import WorkflowTestEnvironment

__all__ = ("ManualClock", "ManualTimer", "WorkflowTestEnvironment")
