"""The REST API's controllers, one per resource."""

from litestar_workflows.web.controllers.definitions import DefinitionController
from litestar_workflows.web.controllers.instances import InstanceController
from litestar_workflows.web.controllers.tasks import TaskController

__all__ = ("DefinitionController", "InstanceController", "TaskController")
