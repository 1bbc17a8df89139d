"""The service graph metrics Grafana draws its Service Graph from (Tempo data source).

Why here and not in a Collector `servicegraph` connector: the connector pairs CLIENT and SERVER
spans of one trace, which needs every span of a trace at one instance and a wait for the pair.
An access log entry already names both ends of the call, so each edge is counted straight from
the entry, with no pairing, no wait and no trace-aware load balancing.

Metrics (OTLP name, unit -> Prometheus name after Prometheus' OTLP translation; the unit word is
in the OTLP name, so backends that add no suffixes store the names Grafana queries too):

| OTLP name                                     | kind, unit    | Prometheus                              |
|-----------------------------------------------|---------------|-----------------------------------------|
| `traces_service_graph_request_total`          | counter, ""   | the same                                |
| `traces_service_graph_request_failed_total`   | counter, ""   | the same                                |
| `traces_service_graph_request_server_seconds` | histogram, s  | the same + `_bucket`, `_sum`, `_count`  |
| `traces_service_graph_request_client_seconds` | histogram, s  | the same + `_bucket`, `_sum`, `_count`  |

Labels: `client`, `server`, `connection_type`, `client_service_namespace`,
`server_service_namespace` (Grafana's node id is `<namespace>/<name>` when the namespace labels
exist). Names are the `service.name` the spans' resources get (`bridge.identity.resource`).
A side that has no sidecar of its own (not named by metadata exchange: named by the static map,
a cluster name or an authority, or not at all) is a virtual node: `connection_type=virtual_node`;
an unnamed client is `user` (as Tempo and the connector name it), an unnamed server `unknown`.
Empty values (`connection_type` of a normal edge, a missing namespace) are left out.

Each call is counted once, whichever entries arrive:
* an inbound entry always counts its call (the server side is always a real sidecar);
* an outbound entry counts only when the destination has no mx identity: a destination with a
  sidecar reports the call itself, on its inbound entry.
So a call between two sidecars counts once from the inbound entry in both `reporters` modes; a
call to a destination without a sidecar once from the outbound entry; a call from a caller
without a sidecar once from the inbound entry.

A gateway (`router~` node) also counts the request it received, as `user -> <gateway>`
(`connection_type=virtual_node`, server latency = the gateway's duration, failed by the SERVER
span's rule), unless a sidecar called it over mTLS (a SPIFFE downstream certificate: an egress
gateway), whose outbound entry counts that call itself.

An ambient waypoint's entry counts the call through it as `<caller> -> <destination>` (both
named by workload discovery; server latency = the waypoint's duration): in ambient no sidecar
reports it, and ztunnel sends no ALS.

Latency: `..._server_seconds` from every inbound entry; `..._client_seconds` from every outbound
entry that gives a CLIENT span (`reporters: both`: all of them; `server_side`: those to a
destination without mx identity). In `server_side` mode an inbound entry whose caller has mx
identity also records `..._client_seconds`, approximated by the server's duration (the client's
own view is never logged; it is longer by the network and client-sidecar time).

`..._failed_total` counts a call when a span of the entry has status ERROR, or when the call
failed by the client-side rule (4xx, 5xx, no response, non-OK gRPC, a TCP connect failure): the
connector fails an edge when either span is ERROR, and the CLIENT span is the stricter one.

Cost: `points` runs only when the recorder meets a new entry key (`bridge.metrics.plan`); a
repeat costs one or two counter additions and one or two histogram observations.
"""

from __future__ import annotations

from bridge.decode import EntryView
from bridge.identity import Direction, Ends, Workload
from bridge.identity.by_identity import ByIdentity
from bridge.identity.resource import UNKNOWN_SERVICE, service_name
from bridge.metrics.config import ServiceGraphMetricsConfig
from bridge.metrics.points import Point, Value, record_points
from bridge.metrics.store import LabelValues, MetricStore
from bridge.spans import Reporters, SpanSet, semconv
from bridge.spans.builder import has_mx_identity
from bridge.spans.semconv import GrpcFacts

LABELS = ("client", "server", "connection_type", "client_service_namespace", "server_service_namespace")
VIRTUAL_NODE = "virtual_node"
UNKNOWN_CLIENT = "user"
UNKNOWN_SERVER = "unknown"
CACHE_SIZE = 10_000


def _node(w: Workload, real: bool, unknown_name: str) -> tuple[str, str]:
    """(name, namespace) of one side of an edge; a virtual side with no name gets `unknown_name`."""
    name = service_name(w)
    if name == UNKNOWN_SERVICE and not real:
        return unknown_name, ""
    return name, w.namespace


def edge_labels(ends: Ends) -> LabelValues:
    """client, server, connection_type and the namespaces of the call an entry describes."""
    peer_real = has_mx_identity(ends.peer)
    if ends.local.is_waypoint:  # the call through it: its caller -> the destination
        caller = ends.caller or Workload()
        caller_real = has_mx_identity(caller)
        client, client_ns = _node(caller, caller_real, UNKNOWN_CLIENT)
        server, server_ns = _node(ends.peer, peer_real, UNKNOWN_SERVER)
        return (client, server, "" if peer_real and caller_real else VIRTUAL_NODE, client_ns, server_ns)
    if ends.direction is Direction.INBOUND:
        client, client_ns = _node(ends.peer, peer_real, UNKNOWN_CLIENT)
        server, server_ns = _node(ends.local, True, UNKNOWN_SERVER)
    else:
        client, client_ns = _node(ends.local, True, UNKNOWN_CLIENT)
        server, server_ns = _node(ends.peer, peer_real, UNKNOWN_SERVER)
    return (client, server, "" if peer_real else VIRTUAL_NODE, client_ns, server_ns)


def client_side_failed(view: EntryView, grpc: GrpcFacts) -> bool:
    """The CLIENT span's error rule (bridge.spans.builder), applied to any entry; `grpc` is the
    entry's `SpanSet.grpc` (a gRPC call with no logged status follows the HTTP rules)."""
    if view.is_tcp:
        flags = view.response_flags
        return bool(flags) and not semconv.TCP_FAILURE_FLAGS.isdisjoint(flags.split(","))
    code = grpc[1]
    if code is not None:
        return code != 0
    if not view.response_code:
        return True
    return semconv.http_is_error(view.response_code, client_side=True)


def failed(view: EntryView, spans: SpanSet) -> bool:
    """True when either side of the call failed, as far as this entry tells."""
    return any(span.is_error for _, span in spans.spans) or client_side_failed(view, spans.grpc)


class ServiceGraphFamily:
    """Records `traces_service_graph_*`; resource: the bridge itself (None)."""

    def __init__(self, store: MetricStore, config: ServiceGraphMetricsConfig) -> None:
        self._total = store.counter(
            "traces_service_graph_request_total", "Requests between two nodes", "", LABELS
        )
        self._failed = store.counter(
            "traces_service_graph_request_failed_total", "Failed requests between two nodes", "", LABELS
        )
        self._server = store.histogram(
            "traces_service_graph_request_server_seconds",
            "Request duration as seen by the server",
            "s",
            LABELS,
            config.latency_buckets,
        )
        self._client = store.histogram(
            "traces_service_graph_request_client_seconds",
            "Request duration as seen by the client",
            "s",
            LABELS,
            config.latency_buckets,
        )
        self._cache: ByIdentity[LabelValues] = ByIdentity(CACHE_SIZE)

    def record(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> None:
        """The reference path: find the series of every point of the entry and add to them."""
        record_points(self.points(view, ends, spans, reporters), view, spans.spans)

    def points(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> list[Point]:
        """What the entry records; the rules are in the module docstring."""
        peer_mx = has_mx_identity(ends.peer)
        if ends.direction is Direction.INBOUND:
            labels = self._labels(ends)
            points = [Point(self._server, None, labels, Value.DURATION_S)]
            if reporters == "server_side" and peer_mx:  # approximated; see the module docstring
                points.append(Point(self._client, None, labels, Value.DURATION_S))
        elif ends.local.is_waypoint:  # nobody else in ambient reports the call: count it here
            labels = self._labels(ends)
            points = [Point(self._server, None, labels, Value.DURATION_S)]
        else:
            received = self._gateway_received(view, ends, spans)
            if reporters == "server_side" and peer_mx:
                return received  # the destination's inbound entry records this call
            labels = self._labels(ends)
            points = [*received, Point(self._client, None, labels, Value.DURATION_S)]
            if peer_mx:
                return points  # counted from the destination's inbound entry
        points.append(Point(self._total, None, labels, Value.ONE))
        if failed(view, spans):
            points.append(Point(self._failed, None, labels, Value.ONE))
        return points

    def _gateway_received(self, view: EntryView, ends: Ends, spans: SpanSet) -> list[Point]:
        """The call a gateway received, as the edge `user -> gateway` (a virtual client, as
        Tempo names the caller of a root SERVER span). Only when its caller came from outside
        the mesh: a downstream SPIFFE certificate means a sidecar called it (an egress
        gateway), whose own outbound entry counts that call."""
        if not ends.local.is_gateway or view.is_tcp or view.tls_peer_uri_san.startswith("spiffe://"):
            return []
        name, namespace = _node(ends.local, True, UNKNOWN_SERVER)
        labels = (UNKNOWN_CLIENT, name, VIRTUAL_NODE, "", namespace)
        points = [
            Point(self._server, None, labels, Value.DURATION_S),
            Point(self._total, None, labels, Value.ONE),
        ]
        received = spans.spans[0][1] if spans.spans else None
        if received is not None and received.is_error:
            points.append(Point(self._failed, None, labels, Value.ONE))
        return points

    def _labels(self, ends: Ends) -> LabelValues:
        extra = ends.direction if ends.caller is None else (ends.direction, ends.caller)
        return self._cache.get(ends.local, ends.peer, extra, lambda: edge_labels(ends))
