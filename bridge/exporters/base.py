"""The exporter interface: what every exporter (`otlp`, `otlphttp`, `debug`, ...) looks like.

An exporter sends one ready-made OTLP export request and says how it went, nothing more:
queueing, retries and the `als_bridge_*` counts for exported and failed items live in
`bridge.exporters.queue.QueuedExporter`, so every exporter gets them the same way.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias, runtime_checkable

from bridge.config import Signal

__all__ = [
    "EncodedRequest",
    "ExportError",
    "ExportRequest",
    "Exporter",
    "Signal",
    "as_message",
    "count_items",
]

# An `ExportTraceServiceRequest`, `ExportMetricsServiceRequest` or `ExportLogsServiceRequest`
# (`opentelemetry.proto.collector.{trace,metrics,logs}.v1.*_service_pb2`). The generated classes
# carry no type information, so this is `Any` with a name that says what is meant.
ExportRequest: TypeAlias = Any


class ExportError(Exception):
    """An export failed.

    `retryable` says whether sending the same request again may succeed (backend down, throttled,
    timed out); a permanent error (bad request, unauthenticated) will fail the same way every time.
    `retry_after` is the delay in seconds the backend asked for (HTTP `Retry-After`, gRPC
    `RetryInfo`), if it asked for one.
    """

    def __init__(self, message: str, retryable: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


@runtime_checkable
class Exporter(Protocol):
    """Sends OTLP export requests to one destination.

    `send` is called by one thread at a time (the queue's worker) but implementations should not
    rely on it. It blocks for at most about the configured timeout and raises `ExportError` on
    failure; it must not retry by itself, since the queue decides how long to keep trying.
    """

    name: str  # the component id, e.g. "otlp/tempo"

    def send(self, signal: Signal, request: ExportRequest) -> None: ...

    def shutdown(self) -> None: ...


class EncodedRequest:
    """An export request already in protobuf wire format, with its item count.

    The span path writes its requests directly as bytes (`bridge.otlp`). This stands in for
    the protobuf message wherever exporters and queues handle one: `SerializeToString()` and
    `ByteSize()` behave the same; `to_message()` parses it for the few readers of fields (debug).
    """

    __slots__ = ("items", "message_type", "payload")

    def __init__(self, payload: bytes, items: int, message_type: Any) -> None:
        self.payload = payload
        self.items = items
        self.message_type = message_type

    def SerializeToString(self, deterministic: bool = False) -> bytes:
        return self.payload

    def ByteSize(self) -> int:
        return len(self.payload)

    def to_message(self) -> Any:
        return self.message_type.FromString(self.payload)


def as_message(request: ExportRequest) -> Any:
    """The protobuf message of a request, parsing an `EncodedRequest` when given one."""
    return request.to_message() if isinstance(request, EncodedRequest) else request


def count_items(signal: Signal, request: ExportRequest) -> int:
    """The number of items in a request: spans, metric data points or log records.

    These are the units the `als_bridge_*_items_total` counters use, as in the Collector.
    """
    if isinstance(request, EncodedRequest):
        return request.items
    if signal is Signal.TRACES:
        return sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if signal is Signal.LOGS:
        return sum(len(sl.log_records) for rl in request.resource_logs for sl in rl.scope_logs)
    return sum(
        _data_point_count(metric)
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    )


def _data_point_count(metric: Any) -> int:
    """Data points of one metric, whichever of gauge/sum/histogram/exponential_histogram/summary it holds."""
    kind = metric.WhichOneof("data")
    if kind is None:
        return 0
    return len(getattr(metric, kind).data_points)
