"""An instance started over REST joins the request's trace (Litestar's OpenTelemetry plugin).

The app traces its requests with Litestar's own ``OpenTelemetryPlugin``; the engine gets its own
``Telemetry`` on the same providers. ``POST /workflows/instances`` runs ``start_workflow`` inside
the request's server span, so the instance's ``workflow.start`` span is a child of it, and the
steps that run afterwards (in the background) are children of ``workflow.start``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Litestar
from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin
from litestar.testing import TestClient
from opentelemetry.trace import SpanKind
from web_helpers import as_user, header_groups, header_user, settle

from litestar_workflows import WorkflowDefinition, WorkflowRegistry
from litestar_workflows.web import WorkflowPlugin, WorkflowPluginConfig
from otel_kit import Recorder, parent_id, span_id, trace_id
from step_kit import Set

if TYPE_CHECKING:
    from conftest import EngineFactory


def test_an_instance_started_over_rest_is_traced_under_the_request(engine_factory: EngineFactory) -> None:
    recorder = Recorder()
    registry = WorkflowRegistry()
    registry.register_definition(
        WorkflowDefinition(name="note", steps=[Set("write", done=True)], initial_step="write")
    )
    engine = engine_factory(registry, telemetry=recorder.telemetry())
    app = Litestar(
        plugins=[
            WorkflowPlugin(
                WorkflowPluginConfig(engine=engine, user_resolver=header_user, groups_resolver=header_groups)
            ),
            OpenTelemetryPlugin(
                OpenTelemetryConfig(
                    tracer_provider=recorder.tracer_provider, meter_provider=recorder.meter_provider
                )
            ),
        ]
    )
    with TestClient(app) as client:
        response = client.post(
            "/workflows/instances",
            json={"definition_name": "note", "input_data": {}},
            headers=as_user("erik"),
        )
        assert response.status_code == 201, response.text
        instance = settle(client, engine, response.json()["id"])
        assert instance.status == "completed"

    (request,) = [span for span in recorder.spans() if span.kind is SpanKind.SERVER and "POST" in span.name]
    (start,) = recorder.spans("workflow.start")
    (step,) = recorder.spans("workflow.step")
    assert parent_id(start) == span_id(request)
    assert parent_id(step) == span_id(start)
    assert trace_id(step) == trace_id(request)
    assert response.json()["metadata"]["traceparent"].split("-")[1] == f"{trace_id(request):032x}"
