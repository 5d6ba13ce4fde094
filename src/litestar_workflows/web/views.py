"""A minimal HTML view of the workflows under ``/ui``: definitions, instances, tasks.

It exists so that the documented full setup (``WorkflowUIController`` on a router, and
``template_config=get_template_config()`` on the app) runs. The pages are plain and read-only:
lists of definitions (with their Mermaid source), instances and pending tasks, read through the
same ``workflow_engine`` / ``workflow_registry`` dependencies as the REST API. Acting on tasks and
instances goes through the REST API. The templates live in memory (no package data, no CDN) and
Jinja autoescapes every value.

No ``from __future__ import annotations``: Litestar reads handler annotations at runtime.
"""

from typing import Any, Final

from jinja2 import DictLoader, Environment, select_autoescape
from litestar import Controller, get
from litestar.params import FromPath
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Template
from litestar.template.config import TemplateConfig

from litestar_workflows.core.types import HumanTaskStatus
from litestar_workflows.store.base import InstanceQuery, TaskQuery
from litestar_workflows.web.controllers.deps import CONTROLLER_DEPENDENCIES
from litestar_workflows.web.controllers.params import Acting, Engine, Registry

__all__ = ("WorkflowUIController", "get_template_config")

PAGE_SIZE: Final = 100
"""Rows a list page shows (the newest instances, the oldest pending tasks)."""

_LAYOUT: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{% block title %}Workflows{% endblock %}</title></head>
<body><nav><a href="/ui">Definitions</a> | <a href="/ui/instances">Instances</a> |
<a href="/ui/tasks">Tasks</a></nav><main>{% block main %}{% endblock %}</main></body></html>
"""
_TEMPLATES: Final = {
    "workflows/layout.html": _LAYOUT,
    "workflows/definitions.html": """{% extends "workflows/layout.html" %}{% block main %}
<h1>Workflow definitions</h1><ul>{% for d in definitions %}
<li><a href="/ui/definitions/{{ d.name }}">{{ d.name }}</a> {{ d.version }}: {{ d.description }}</li>
{% else %}<li>No workflows are registered.</li>{% endfor %}</ul>{% endblock %}""",
    "workflows/definition.html": """{% extends "workflows/layout.html" %}
{% block title %}{{ definition.name }}{% endblock %}{% block main %}
<h1>{{ definition.name }} {{ definition.version }}</h1><p>{{ definition.description }}</p>
<h2>Steps</h2><ul>{% for name, step in definition.steps.items() %}
<li>{{ name }} ({{ step.step_type }})</li>{% endfor %}</ul>
<h2>Graph (Mermaid)</h2><pre>{{ mermaid }}</pre>{% endblock %}""",
    "workflows/instances.html": """{% extends "workflows/layout.html" %}{% block main %}
<h1>Instances</h1><table><tr><th>Id</th><th>Workflow</th><th>Status</th><th>Step</th><th>Started</th></tr>
{% for i in instances %}<tr><td>{{ i.id }}</td><td>{{ i.workflow_name }}</td><td>{{ i.status.value }}</td>
<td>{{ i.current_step or "" }}</td><td>{{ i.started_at }}</td></tr>{% endfor %}</table>
<p>{{ total }} in all.</p>{% endblock %}""",
    "workflows/tasks.html": """{% extends "workflows/layout.html" %}{% block main %}
<h1>Pending tasks</h1><table>
<tr><th>Task</th><th>Workflow</th><th>Step</th><th>Assignee</th><th>Group</th></tr>
{% for t in tasks %}<tr><td>{{ t.title }}</td><td>{{ t.workflow_name }}</td><td>{{ t.step_name }}</td>
<td>{{ t.assignee_id or "" }}</td><td>{{ t.assignee_group or "" }}</td></tr>{% endfor %}</table>
<p>{{ total }} in all.</p>{% endblock %}""",
}


def get_template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """The app's template configuration for :class:`WorkflowUIController` (Jinja, autoescaped)."""
    environment = Environment(loader=DictLoader(_TEMPLATES), autoescape=select_autoescape(default=True))
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


class WorkflowUIController(Controller):
    """Read-only HTML pages of the workflows; needs ``template_config=get_template_config()``."""

    path = "/ui"
    include_in_schema = False
    dependencies = CONTROLLER_DEPENDENCIES

    @get("/")
    async def definitions(self, workflow_registry: Registry) -> Template:
        """The registered workflows, newest versions."""
        return Template(
            "workflows/definitions.html", context={"definitions": workflow_registry.list_definitions()}
        )

    @get("/definitions/{name:str}")
    async def definition(self, workflow_registry: Registry, name: FromPath[str]) -> Template:
        """One workflow's steps and its Mermaid source."""
        definition = workflow_registry.get_definition(name)
        context: dict[str, Any] = {"definition": definition, "mermaid": definition.to_mermaid()}
        return Template("workflows/definition.html", context=context)

    @get("/instances")
    async def instances(self, workflow_engine: Engine, actor: Acting) -> Template:
        """The newest instances of the acting tenant."""
        page = await workflow_engine.find_instances(InstanceQuery(tenant_id=actor.tenant_id, limit=PAGE_SIZE))
        return Template("workflows/instances.html", context={"instances": page.items, "total": page.total})

    @get("/tasks")
    async def tasks(self, workflow_engine: Engine, actor: Acting) -> Template:
        """The oldest pending tasks of the acting tenant."""
        query = TaskQuery(status=HumanTaskStatus.PENDING, tenant_id=actor.tenant_id, limit=PAGE_SIZE)
        page = await workflow_engine.find_tasks(query)
        return Template("workflows/tasks.html", context={"tasks": page.items, "total": page.total})
