"""Reference encoders: the same requests built with the protobuf API, field by field.

The bridge writes spans as bytes (`bridge.otlp.traces`); these build the request the plain way,
so the golden tests can parse both and compare them. Test code only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from bridge.identity import Workload
from bridge.otlp import SCHEMA_URL, SCOPE, key_values, workload_resource
from bridge.otlp.logs import group


def span_message(span: Any) -> Span:
    """The straightforward conversion of a `bridge.spans.data.SpanData` to a protobuf `Span`."""
    message = Span(
        trace_id=span.trace_id,
        span_id=span.span_id,
        trace_state=span.trace_state,
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
    """One request, one ResourceSpans per workload, built with the protobuf API."""
    request = ExportTraceServiceRequest()
    for workload, spans in group((w, span_message(s)) for w, s in items).items():
        rs: ResourceSpans = request.resource_spans.add()
        rs.resource.CopyFrom(workload_resource(workload))
        rs.schema_url = SCHEMA_URL
        ss: ScopeSpans = rs.scope_spans.add()
        ss.scope.CopyFrom(SCOPE)
        ss.spans.extend(spans)
    return request


def attributes_dict(kvs: Iterable[Any]) -> dict[str, Any]:
    """Plain dict of OTLP KeyValues, for assertions."""
    out: dict[str, Any] = {}
    for kv in kvs:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out
