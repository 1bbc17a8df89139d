"""Small OTLP export requests for exporter tests, built directly from the protobuf classes."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bridge.exporters.base import ExportRequest, Signal

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns


def kv(key: str, value: Any) -> KeyValue:
    pair = KeyValue(key=key)
    if isinstance(value, bool):
        pair.value.bool_value = value
    elif isinstance(value, int):
        pair.value.int_value = value
    elif isinstance(value, float):
        pair.value.double_value = value
    elif isinstance(value, bytes):
        pair.value.bytes_value = value
    else:
        pair.value.string_value = str(value)
    return pair


def traces(spans_per_resource: int = 2, services: tuple[str, ...] = ("frontend", "cart")) -> Any:
    """One resource per service, each with `spans_per_resource` server spans to "cart"."""
    request = ExportTraceServiceRequest()
    for r, service in enumerate(services):
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.extend(
            [kv("service.name", service), kv("k8s.namespace.name", "shop")]
        )
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "als-bridge"
        for i in range(spans_per_resource):
            scope_spans.spans.add(
                trace_id=bytes([r + 1] * 16),
                span_id=bytes([i + 1] * 8),
                parent_span_id=b"" if i == 0 else bytes([i] * 8),
                name="GET /cart",
                kind=Span.SPAN_KIND_SERVER,
                start_time_unix_nano=T0,
                end_time_unix_nano=T0 + 12_500_000,
                attributes=[kv("http.request.method", "GET"), kv("peer.service", "cart")],
                status=Status(code=Status.STATUS_CODE_OK),
            )
    return request


def metrics(points: int = 3) -> Any:
    """One resource with a sum of `points` data points and a histogram of one."""
    request = ExportMetricsServiceRequest()
    resource_metrics = request.resource_metrics.add()
    resource_metrics.resource.attributes.append(kv("service.name", "cart"))
    scope = resource_metrics.scope_metrics.add()
    total = scope.metrics.add(name="requests", unit="1")
    total.sum.is_monotonic = True
    total.sum.aggregation_temporality = 2
    for i in range(points):
        total.sum.data_points.add(as_int=i + 1, time_unix_nano=T0, attributes=[kv("code", 200 + i)])
    histogram = scope.metrics.add(name="http.server.request.duration", unit="s")
    histogram.histogram.aggregation_temporality = 2
    histogram.histogram.data_points.add(
        count=3, sum=0.3, min=0.05, max=0.2, explicit_bounds=[0.1, 0.25], bucket_counts=[1, 2, 0]
    )
    return request


def logs(records: int = 2) -> Any:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(kv("service.name", "cart"))
    scope = resource_logs.scope_logs.add()
    for i in range(records):
        record = scope.log_records.add(time_unix_nano=T0, severity_text="INFO", severity_number=9)
        record.body.string_value = f"GET /cart {i}"
        record.trace_id = bytes([1] * 16)
        record.attributes.append(kv("http.response.status_code", 200))
    return request


def request_for(signal: Signal) -> ExportRequest:
    """A small request of `signal` (2 or 4 items)."""
    if signal is Signal.TRACES:
        return traces()
    if signal is Signal.METRICS:
        return metrics()
    return logs()
