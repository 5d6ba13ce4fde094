"""OpenTelemetry's SDK with its in-memory span exporter and metric reader, for telemetry tests.

Each :class:`Recorder` has its own providers (never the global ones, which a process may set only
once), so tests stay independent and two engines can record apart, as two processes would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from litestar_workflows.observability.otel import Telemetry

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan


class Recorder:
    """Providers that keep every span and metric in memory, and a :class:`Telemetry` on them."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def telemetry(self, **options: Any) -> Telemetry:
        return Telemetry(self.tracer_provider, self.meter_provider, **options)

    def spans(self, prefix: str = "") -> list[ReadableSpan]:
        """Finished spans whose name starts with ``prefix``, in the order they ended."""
        return [span for span in self.exporter.get_finished_spans() if span.name.startswith(prefix)]

    def points(self, name: str) -> dict[frozenset[tuple[str, Any]], Any]:
        """The data points of metric ``name``: attributes -> value (sums, gauges) or count (histograms)."""
        found: dict[frozenset[tuple[str, Any]], Any] = {}
        data = self.reader.get_metrics_data()
        for resource in data.resource_metrics if data is not None else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        value = point.count if hasattr(point, "count") else point.value
                        found[frozenset((point.attributes or {}).items())] = value
        return found

    def by(self, name: str, key: str) -> dict[Any, Any]:
        """Metric ``name`` summed by one attribute (``workflow.step.name``, ``workflow.status``...)."""
        totals: dict[Any, Any] = {}
        for attributes, value in self.points(name).items():
            label = dict(attributes).get(key)
            totals[label] = totals.get(label, 0) + value
        return totals


def parent_id(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


def span_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.span_id


def trace_id(span: ReadableSpan) -> int:
    assert span.context is not None
    return span.context.trace_id
