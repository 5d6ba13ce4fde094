"""The REST API's controllers, one per resource, under the documented names.

Mount them on your own ``Router`` next to ``workflow_engine`` and ``workflow_registry`` providers,
or let :class:`~litestar_workflows.WorkflowPlugin` mount them (``enable_api=True``, the default).
When the app also provides ``workflow_instance_repo`` / ``human_task_repo`` (repositories on its
session), the read routes read through them (see :mod:`~litestar_workflows.web.controllers.reads`).
``DefinitionController``, ``InstanceController`` and ``TaskController`` are earlier names of the same
classes. ``WebhookController`` takes signed deliveries from other systems: mount it outside guards
that require a signed-in user.
"""

from litestar_workflows.web.controllers.definitions import WorkflowDefinitionController
from litestar_workflows.web.controllers.instances import WorkflowInstanceController
from litestar_workflows.web.controllers.tasks import HumanTaskController
from litestar_workflows.web.controllers.webhooks import WebhookController

DefinitionController = WorkflowDefinitionController
InstanceController = WorkflowInstanceController
TaskController = HumanTaskController

__all__ = (
    "DefinitionController",
    "HumanTaskController",
    "InstanceController",
    "TaskController",
    "WebhookController",
    "WorkflowDefinitionController",
    "WorkflowInstanceController",
)
