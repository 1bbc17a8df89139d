"""The SDK baseline: the same entries converted the ordinary OpenTelemetry SDK way.

Per entry: the bridge's own decode, identity and span rules (so both paths produce the same
spans with the same attributes), then an `opentelemetry.sdk.trace.ReadableSpan` with an SDK
`Resource` per workload, encoded in batches with the SDK's OTLP encoder
(`encode_spans(...).SerializeToString()`), as a `BatchSpanProcessor` + OTLP exporter would.
No gRPC receive and no metrics: the baseline is charged less work than the bridge, so the
ratio the benchmark prints is, if anything, an understatement.

Needs the `bench` extra: `pip install -e '.[bench]'`.
"""

from __future__ import annotations

import time
from typing import Any

from bench.stages import corpus
from bridge.decode import from_http, from_tcp
from bridge.identity import IdentityResolver, Workload, resource_attributes, workload_from_node
from bridge.receivers.envoy_als import _protos
from bridge.spans import SpanBuilder
from bridge.spans.data import SPAN_KIND_CLIENT, STATUS_ERROR, SpanData

BATCH = 512


def _sdk() -> dict[str, Any]:
    """The SDK's classes, imported here so that the rest of the benchmark runs without them."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    return {
        "encode_spans": encode_spans,
        "Resource": Resource,
        "ReadableSpan": ReadableSpan,
        "InstrumentationScope": InstrumentationScope,
        "SpanContext": SpanContext,
        "SpanKind": SpanKind,
        "Status": Status,
        "StatusCode": StatusCode,
        "TraceFlags": TraceFlags,
    }


def _readable(sdk: dict[str, Any], span: SpanData, resource: Any, scope: Any) -> Any:
    trace_id = int.from_bytes(span.trace_id, "big")
    context = sdk["SpanContext"](trace_id, int.from_bytes(span.span_id, "big"), True, sdk["TraceFlags"](1))
    parent = (
        sdk["SpanContext"](trace_id, int.from_bytes(span.parent_span_id, "big"), True)
        if span.parent_span_id
        else None
    )
    status = sdk["Status"](sdk["StatusCode"].ERROR) if span.status_code == STATUS_ERROR else sdk["Status"]()
    return sdk["ReadableSpan"](
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=dict(span.attributes),
        kind=sdk["SpanKind"].CLIENT if span.kind == SPAN_KIND_CLIENT else sdk["SpanKind"].SERVER,
        status=status,
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        instrumentation_scope=scope,
    )


def measure(streams: int = 24, workloads: int = 60, messages: int = 12, batch: int = 0) -> dict[str, float]:
    """Entries per CPU-second of the SDK path over a corpus like the load generator's."""
    sdk = _sdk()
    data = corpus(streams, workloads, messages, batch, seed=11)
    resolver = IdentityResolver([])
    resources: dict[Workload, Any] = {}
    scope = sdk["InstrumentationScope"]("als-bridge", "0")
    locals_ = {id(node): workload_from_node(node) for node, _ in data}
    entries = 0
    pending: list[Any] = []
    build = SpanBuilder("both").build
    t0 = time.process_time()
    for node, raw in data:
        message = _protos.StreamAccessLogsMessage.FromString(raw)
        tcp = message.WhichOneof("log_entries") == "tcp_logs"
        log_entries = message.tcp_logs.log_entry if tcp else message.http_logs.log_entry
        for entry in log_entries:
            view = from_tcp(entry) if tcp else from_http(entry)
            ends = resolver.resolve(view, locals_[id(node)])
            for workload, span in build(view, ends).spans:
                resource = resources.get(workload)
                if resource is None:
                    resource = sdk["Resource"](dict(resource_attributes(workload)))
                    resources[workload] = resource
                pending.append(_readable(sdk, span, resource, scope))
            entries += 1
            if len(pending) >= BATCH:
                sdk["encode_spans"](pending).SerializeToString()
                pending = []
    if pending:
        sdk["encode_spans"](pending).SerializeToString()
    cpu = time.process_time() - t0
    return {
        "entries": entries,
        "cpu_seconds": round(cpu, 3),
        "entries_per_cpu_second": round(entries / cpu, 1),
        "us_per_entry": round(cpu / entries * 1e6, 1),
    }


if __name__ == "__main__":
    print(measure())
