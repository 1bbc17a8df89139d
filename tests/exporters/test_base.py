from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bridge.exporters.base import Exporter, ExportError, Signal, count_items
from bridge.exporters.debug import DebugExporter
from bridge.exporters.debug.config import DebugExporterConfig
from tests.exporters import otlp_data


def test_count_items_counts_spans_data_points_and_log_records() -> None:
    assert count_items(Signal.TRACES, otlp_data.traces(spans_per_resource=3)) == 6
    assert count_items(Signal.METRICS, otlp_data.metrics(points=4)) == 5  # 4 sum points + 1 histogram point
    assert count_items(Signal.LOGS, otlp_data.logs(records=7)) == 7


def test_count_items_covers_every_metric_kind_and_empty_metrics() -> None:
    request = ExportMetricsServiceRequest()
    scope = request.resource_metrics.add().scope_metrics.add()
    scope.metrics.add(name="no data")
    scope.metrics.add(name="g").gauge.data_points.add(as_double=1.0)
    scope.metrics.add(name="e").exponential_histogram.data_points.add(count=1)
    summary = scope.metrics.add(name="s").summary
    summary.data_points.add(count=1)
    summary.data_points.add(count=2)
    assert count_items(Signal.METRICS, request) == 4


def test_export_error_carries_retry_information() -> None:
    err = ExportError("boom", retryable=True, retry_after=1.5)
    assert (str(err), err.retryable, err.retry_after) == ("boom", True, 1.5)
    assert ExportError("bad").retryable is False


def test_exporters_satisfy_the_protocol() -> None:
    assert isinstance(DebugExporter("debug", DebugExporterConfig()), Exporter)
