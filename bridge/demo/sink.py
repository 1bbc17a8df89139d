"""The demo's OTLP/gRPC sink: everything the view, the summary and the report show comes from here.

The bridge exports to it with its ordinary `otlp` exporter, as it would to a Collector, so the
demo shows what the bridge really exported, not what the demo believes it sent. It keeps:
* the latest point of every metric series (the demo's metrics are cumulative, so the latest
  point is the total so far);
* spans grouped by trace, the most recent `max_traces` traces;
* counts of spans, metric points and log records received.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.trace.v1.trace_pb2 import Span

Labels = tuple[tuple[str, str], ...]


def value_of(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def attributes(kvs: Iterator[KeyValue] | Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in kvs}


@dataclass(frozen=True)
class SpanRecord:
    """One exported span with its resource, in the plain form the report draws."""

    resource: dict[str, Any]
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: str  # "CLIENT" | "SERVER" | ...
    start_ns: int
    end_ns: int
    error: bool
    attributes: dict[str, Any]

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", "unknown"))

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


@dataclass
class Series:
    """The latest point of one series: a sum's value, or a histogram's count, sum and buckets."""

    value: float = 0.0
    count: int = 0
    total: float = 0.0
    bounds: tuple[float, ...] = ()
    buckets: tuple[int, ...] = ()


@dataclass
class SinkState:
    spans: int = 0
    metric_points: int = 0
    log_records: int = 0
    metrics: dict[str, dict[Labels, Series]] = field(default_factory=dict)
    traces: OrderedDict[str, list[SpanRecord]] = field(default_factory=OrderedDict)


_KIND = {
    Span.SPAN_KIND_CLIENT: "CLIENT",
    Span.SPAN_KIND_SERVER: "SERVER",
    Span.SPAN_KIND_INTERNAL: "INTERNAL",
}


def _records(request: trace_service_pb2.ExportTraceServiceRequest) -> Iterator[SpanRecord]:
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield SpanRecord(
                    resource=resource,
                    trace_id=span.trace_id.hex(),
                    span_id=span.span_id.hex(),
                    parent_id=span.parent_span_id.hex(),
                    name=span.name,
                    kind=_KIND.get(span.kind, "UNSPECIFIED"),
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    error=span.status.code == span.status.STATUS_CODE_ERROR,
                    attributes=attributes(span.attributes),
                )


def _series(metric: Metric) -> Iterator[tuple[Labels, Series]]:
    kind = metric.WhichOneof("data")
    if kind == "sum":
        for point in metric.sum.data_points:
            value = point.as_double if point.HasField("as_double") else float(point.as_int)
            yield _labels(point.attributes), Series(value=value)
    elif kind == "gauge":
        for point in metric.gauge.data_points:
            value = point.as_double if point.HasField("as_double") else float(point.as_int)
            yield _labels(point.attributes), Series(value=value)
    elif kind == "histogram":
        for h in metric.histogram.data_points:
            series = Series(
                value=float(h.count),
                count=h.count,
                total=h.sum,
                bounds=tuple(h.explicit_bounds),
                buckets=tuple(h.bucket_counts),
            )
            yield _labels(h.attributes), series


def _labels(kvs: Any) -> Labels:
    return tuple(sorted((kv.key, str(value_of(kv.value))) for kv in kvs))


class DemoSink:
    """An OTLP/gRPC receiver on a free loopback port; `endpoint` is "127.0.0.1:PORT"."""

    def __init__(self, max_traces: int = 2000) -> None:
        self.max_traces = max_traces
        self.state = SinkState()
        self.lock = threading.Lock()
        self._server: grpc.Server | None = None
        self.endpoint = ""

    def __enter__(self) -> DemoSink:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="demo-sink"),
            options=[("grpc.max_receive_message_length", 64 << 20)],
        )
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Traces(self), server)  # type: ignore[no-untyped-call]
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(_Metrics(self), server)  # type: ignore[no-untyped-call]
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(_Logs(self), server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server
        self.endpoint = f"127.0.0.1:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=1).wait(5)
            self._server = None

    def add_traces(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        records = list(_records(request))
        with self.lock:
            traces = self.state.traces
            for record in records:
                if record.trace_id not in traces:
                    traces[record.trace_id] = []
                    while len(traces) > self.max_traces:
                        traces.popitem(last=False)
                traces[record.trace_id].append(record)
            self.state.spans += len(records)

    def add_metrics(self, request: metrics_service_pb2.ExportMetricsServiceRequest) -> None:
        with self.lock:
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        family = self.state.metrics.setdefault(metric.name, {})
                        for labels, series in _series(metric):
                            family[labels] = series
                            self.state.metric_points += 1

    def add_logs(self, request: logs_service_pb2.ExportLogsServiceRequest) -> None:
        count = sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
        with self.lock:
            self.state.log_records += count

    def metric(self, name: str) -> dict[Labels, Series]:
        with self.lock:
            return dict(self.state.metrics.get(name, {}))

    def traces(self) -> list[list[SpanRecord]]:
        with self.lock:
            return [list(spans) for spans in self.state.traces.values()]

    def counts(self) -> tuple[int, int, int]:
        """(spans, metric points, log records) received so far."""
        with self.lock:
            return self.state.spans, self.state.metric_points, self.state.log_records


class _Traces(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, sink: DemoSink) -> None:
        self.sink = sink

    def Export(self, request: Any, context: Any) -> Any:
        self.sink.add_traces(request)
        return trace_service_pb2.ExportTraceServiceResponse()


class _Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
    def __init__(self, sink: DemoSink) -> None:
        self.sink = sink

    def Export(self, request: Any, context: Any) -> Any:
        self.sink.add_metrics(request)
        return metrics_service_pb2.ExportMetricsServiceResponse()


class _Logs(logs_service_pb2_grpc.LogsServiceServicer):
    def __init__(self, sink: DemoSink) -> None:
        self.sink = sink

    def Export(self, request: Any, context: Any) -> Any:
        self.sink.add_logs(request)
        return logs_service_pb2.ExportLogsServiceResponse()
