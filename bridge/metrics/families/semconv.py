"""The OpenTelemetry semantic conventions' request duration metrics, per workload.

Why: backends and dashboards built on the conventions (not on Istio) read these, with the
workload as the resource, as if each workload were instrumented itself.

Metrics (OTLP name, unit -> Prometheus name after Prometheus' OTLP translation):

| OTLP name                      | kind      | unit | Prometheus                                      |
|--------------------------------|-----------|------|-------------------------------------------------|
| `http.server.request.duration` | histogram | s    | `http_server_request_duration_seconds_bucket` … |
| `http.client.request.duration` | histogram | s    | `http_client_request_duration_seconds_bucket` … |
| `rpc.server.call.duration`     | histogram | s    | `rpc_server_call_duration_seconds_bucket` …     |
| `rpc.client.call.duration`     | histogram | s    | `rpc_client_call_duration_seconds_bucket` …     |

(A backend that adds no suffixes, like Mimir by default, stores `http_server_request_duration`.)

One point per span of the entry, on the span's resource: the reporting workload, or for the
CLIENT span synthesized in `reporters: server_side`, the caller. A gRPC call records only the
`rpc.*` metric of its side (as gRPC instrumentations do), other HTTP calls the `http.*` one; TCP
connections have no convention and record nothing here.

Attributes (v1.44.0 http-metrics.md / rpc-metrics.md), as strings like every label here:
* HTTP server: `http.request.method`, `url.scheme`, `http.response.status_code`, `error.type`,
  `network.protocol.version`; HTTP client: the same plus `server.address` and `server.port`.
  No `http.route` (ALS has none) and never the URL path.
* RPC: `rpc.system.name` (`grpc`), `rpc.method` (`pkg.Service/Method`),
  `rpc.response.status_code` (`OK`, `UNAVAILABLE`, ...), `error.type`.
`error.type` is the span's own (set only when the span's status is ERROR, by the side's rule);
`server.address` / `server.port` are the CLIENT span's. An empty value leaves the attribute out.

Cost: `points` runs only when the recorder meets a new entry key (`bridge.metrics.plan`); a
repeat costs one histogram observation per span. Span attributes are not scanned per entry:
`server.address` is read from a span once per (authority, scheme, fallback address), and the
recorder's key reads `error.type` from ERROR spans only.
"""

from __future__ import annotations

from collections.abc import Iterable

from bridge.cache import BoundedCache
from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.metrics.config import SemconvMetricsConfig
from bridge.metrics.points import Point, Value, record_points
from bridge.metrics.store import MetricStore
from bridge.spans import Reporters, SpanSet, semconv
from bridge.spans.data import SPAN_KIND_CLIENT, SPAN_KIND_SERVER, SpanData

HTTP_SERVER_LABELS = (
    "http.request.method",
    "url.scheme",
    "http.response.status_code",
    "error.type",
    "network.protocol.version",
)
HTTP_CLIENT_LABELS = (*HTTP_SERVER_LABELS, "server.address", "server.port")
CACHE_SIZE = 10_000
RPC_LABELS = ("rpc.system.name", "rpc.method", "rpc.response.status_code", "error.type")

_SERVER = SPAN_KIND_SERVER
_CLIENT = SPAN_KIND_CLIENT


def span_strings(span: SpanData, keys: Iterable[str]) -> dict[str, str]:
    """The span's attributes named in `keys`, as strings; one pass over its attributes."""
    wanted = frozenset(keys)
    return {key: str(value) for key, value in span.attributes if key in wanted}


def _error_type(span: SpanData) -> str:
    if not span.is_error:
        return ""
    return str(span.attribute("error.type") or "")


class SemconvFamily:
    """Records the semconv duration histograms; resource: the span's workload."""

    def __init__(self, store: MetricStore, config: SemconvMetricsConfig) -> None:
        buckets = config.duration_buckets
        self._http_server = store.histogram(
            "http.server.request.duration",
            "Duration of HTTP server requests",
            "s",
            HTTP_SERVER_LABELS,
            buckets,
        )
        self._http_client = store.histogram(
            "http.client.request.duration",
            "Duration of HTTP client requests",
            "s",
            HTTP_CLIENT_LABELS,
            buckets,
        )
        self._rpc_server = store.histogram(
            "rpc.server.call.duration", "Duration of RPCs, server side", "s", RPC_LABELS, buckets
        )
        self._rpc_client = store.histogram(
            "rpc.client.call.duration", "Duration of RPCs, client side", "s", RPC_LABELS, buckets
        )
        self._addresses: BoundedCache[tuple[str, str, str, int], tuple[str, str]] = BoundedCache(CACHE_SIZE)

    def record(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> None:
        """The reference path: find the series of every point of the entry and add to them."""
        record_points(self.points(view, ends, spans, reporters), view, spans.spans)

    def points(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> list[Point]:
        """One duration per span, on the span's workload; TCP records nothing."""
        if view.is_tcp or not spans.spans:
            return []
        if spans.grpc[0]:
            return self._rpc_points(spans)
        return self._http_points(view, spans)

    def _rpc_points(self, spans: SpanSet) -> list[Point]:
        _, code, method = spans.grpc
        status = "" if code is None else semconv.grpc_code_name(code)
        method = method or "_OTHER"
        points = []
        for workload, span in spans.spans:
            instrument = self._rpc_server if span.kind == _SERVER else self._rpc_client
            labels = ("grpc", method, status, _error_type(span))
            points.append(Point(instrument, workload, labels, Value.DURATION_S))
        return points

    def _http_points(self, view: EntryView, spans: SpanSet) -> list[Point]:
        method = view.method or "_OTHER"
        code = str(view.response_code) if view.response_code else ""
        points = []
        for workload, span in spans.spans:
            if span.kind == _CLIENT:
                address, port = self.server_address(view, span, synthesized=span is not spans.own)
                client_labels = (
                    method,
                    view.scheme,
                    code,
                    _error_type(span),
                    view.protocol_version,
                    address,
                    port,
                )
                points.append(Point(self._http_client, workload, client_labels, Value.DURATION_S))
            else:
                server_labels = (method, view.scheme, code, _error_type(span), view.protocol_version)
                points.append(Point(self._http_server, workload, server_labels, Value.DURATION_S))
        return points

    def server_address(self, view: EntryView, span: SpanData, synthesized: bool) -> tuple[str, str]:
        """The CLIENT span's `server.address` and `server.port`, read from the span once per key.

        The span builder derives them from exactly these inputs: the authority, the scheme, and
        the upstream address (the local address for a synthesized CLIENT span) as fallback.
        """
        if synthesized:
            key = (view.authority, view.scheme, view.downstream_local_ip, view.downstream_local_port)
        else:
            key = (view.authority, view.scheme, view.upstream_remote_ip, view.upstream_remote_port)
        found = self._addresses.get(key)
        if found is None:
            values = span_strings(span, ("server.address", "server.port"))
            found = self._addresses.put(
                key, (values.get("server.address", ""), values.get("server.port", ""))
            )
        return found
