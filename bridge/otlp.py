"""Building OTLP protobuf messages: attributes, resources (cached per workload), requests.

The bridge builds OTLP messages directly instead of going through the OTel SDK: one export
request carries the resources of many workloads, and a workload's encoded resource is made
once and reused for every span, metric point and log record of that workload.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, ResourceMetrics, ScopeMetrics
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from bridge.identity import Workload, resource_attributes

AttrValue = str | int | float | bool
Attributes = Sequence[tuple[str, AttrValue]]

try:
    BRIDGE_VERSION = version("als-bridge")
except PackageNotFoundError:  # running from a source tree that was not installed
    BRIDGE_VERSION = "0.0.0"

SCOPE = InstrumentationScope(name="als-bridge", version=BRIDGE_VERSION)
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"


def any_value(value: AttrValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return AnyValue(int_value=value)
        return AnyValue(string_value=str(value))  # past int64 (a uint64 field of a broken sender)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def key_values(attributes: Iterable[tuple[str, AttrValue]]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attributes]


def attributes_dict(kvs: Iterable[Any]) -> dict[str, Any]:
    """Plain dict of OTLP KeyValues, for printing and tests."""
    out: dict[str, Any] = {}
    for kv in kvs:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


class ResourceCache:
    """Encoded `Resource` per workload. Bounded: a churn of pods must not grow it forever."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._cache: dict[Workload, Resource] = {}
        self._max = max_entries

    def get(self, workload: Workload) -> Resource:
        resource = self._cache.get(workload)
        if resource is None:
            if len(self._cache) >= self._max:
                self._cache.clear()
            resource = Resource(attributes=key_values(resource_attributes(workload)))
            self._cache[workload] = resource
        return resource


RESOURCES = ResourceCache()


@dataclass(frozen=True, slots=True)
class MetricResource:
    """The resource of aggregated metrics: a workload (semconv family) or the bridge itself
    (None), always tagged with the bridge instance that aggregated it, so that no two bridge
    processes write the same series."""

    workload: Workload | None
    bridge_instance: str


_metric_resources: dict[MetricResource, Resource] = {}


def metric_resource(key: MetricResource) -> Resource:
    resource = _metric_resources.get(key)
    if resource is not None:
        return resource
    if key.workload is None:
        attrs: list[tuple[str, AttrValue]] = [
            ("service.name", "als-bridge"),
            ("service.version", BRIDGE_VERSION),
            ("service.instance.id", key.bridge_instance),
        ]
    else:
        attrs = []
        own_instance = ""
        for k, v in resource_attributes(key.workload):
            if k == "service.instance.id":
                own_instance = str(v)
            else:
                attrs.append((k, v))
        attrs.append(
            ("service.instance.id", f"{own_instance or key.workload.workload}@{key.bridge_instance}")
        )
    resource = Resource(attributes=key_values(attrs))
    if len(_metric_resources) > 20_000:
        _metric_resources.clear()
    _metric_resources[key] = resource
    return resource


def _group(items: Iterable[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    grouped: dict[Any, list[Any]] = {}
    for workload, item in items:
        bucket = grouped.get(workload)
        if bucket is None:
            grouped[workload] = [item]
        else:
            bucket.append(item)
    return grouped


def span_message(span: Any) -> Span:
    """The straightforward conversion of a `bridge.spans.data.SpanData` to a protobuf `Span`:
    the reference the wire encoder (`bridge.otlp_wire`) is checked against."""
    message = Span(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        kind=span.kind,
        start_time_unix_nano=span.start_time_unix_nano,
        end_time_unix_nano=span.end_time_unix_nano,
        attributes=key_values(span.attributes),
    )
    if span.status_code:
        message.status.code = span.status_code
    return message


def encode_traces_reference(items: Iterable[tuple[Workload, Any]]) -> ExportTraceServiceRequest:
    """One request, one ResourceSpans per workload, built with the protobuf API (the reference
    for `bridge.otlp_wire.encode_traces`, which the pipeline uses)."""
    items = [(w, span_message(s)) for w, s in items]
    request = ExportTraceServiceRequest()
    for workload, spans in _group(items).items():
        rs: ResourceSpans = request.resource_spans.add()
        rs.resource.CopyFrom(RESOURCES.get(workload))
        rs.schema_url = SCHEMA_URL
        ss: ScopeSpans = rs.scope_spans.add()
        ss.scope.CopyFrom(SCOPE)
        ss.spans.extend(spans)
    return request


def encode_logs(items: Iterable[tuple[Workload, LogRecord]]) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    for workload, records in _group(items).items():
        rl: ResourceLogs = request.resource_logs.add()
        rl.resource.CopyFrom(RESOURCES.get(workload))
        rl.schema_url = SCHEMA_URL
        sl: ScopeLogs = rl.scope_logs.add()
        sl.scope.CopyFrom(SCOPE)
        sl.log_records.extend(records)
    return request


def encode_metrics(items: Iterable[tuple[MetricResource, Metric]]) -> ExportMetricsServiceRequest:
    """One ResourceMetrics per resource: equal resources must be merged, never repeated
    (some receivers keep only the last of two equal resources)."""
    request = ExportMetricsServiceRequest()
    for key, metrics in _group(items).items():
        rm: ResourceMetrics = request.resource_metrics.add()
        rm.resource.CopyFrom(metric_resource(key))
        rm.schema_url = SCHEMA_URL
        sm: ScopeMetrics = rm.scope_metrics.add()
        sm.scope.CopyFrom(SCOPE)
        sm.metrics.extend(metrics)
    return request
