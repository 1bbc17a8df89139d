"""Istio's standard metrics, with Istio's labels, from access log entries.

Why: Istio's Grafana dashboards and Kiali query these exact names and labels. A mesh that sends
its access logs here instead of (or besides) running Istio's stats filter keeps them working.

Metrics (OTLP name, unit -> Prometheus name after Prometheus' OTLP translation; the unit word
is already in each name, so the translator adds nothing but the histogram/counter suffixes,
and backends that add no suffixes at all, like Mimir by default, store the same names):

| OTLP name                              | kind      | unit | Prometheus                                     |
|----------------------------------------|-----------|------|------------------------------------------------|
| `istio_requests_total`                 | counter   | ""   | `istio_requests_total`                         |
| `istio_request_duration_milliseconds`  | histogram | ms   | `istio_request_duration_milliseconds_bucket` … |
| `istio_request_bytes`                  | histogram | By   | `istio_request_bytes_bucket` …                 |
| `istio_response_bytes`                 | histogram | By   | `istio_response_bytes_bucket` …                |
| `istio_tcp_sent_bytes_total`           | counter   | By   | `istio_tcp_sent_bytes_total`                   |
| `istio_tcp_received_bytes_total`       | counter   | By   | `istio_tcp_received_bytes_total`               |
| `istio_tcp_connections_opened_total`   | counter   | ""   | `istio_tcp_connections_opened_total`           |
| `istio_tcp_connections_closed_total`   | counter   | ""   | `istio_tcp_connections_closed_total`           |

Labels are Istio's, in Istio's order (reference §6.2); the values follow istio_stats.cc
(reference §6.3): `unknown` when missing, `latest` for a missing canonical revision.

Which `reporter` series each entry gives:

| reporters   | entry                                  | series                                          |
|-------------|----------------------------------------|-------------------------------------------------|
| both        | inbound                                | `reporter="destination"`                        |
| both        | outbound                               | `reporter="source"`                             |
| server_side | inbound, caller named by mx metadata   | `reporter="destination"` and a synthesized      |
|             |                                        | `reporter="source"` (same labels and values,    |
|             |                                        | `connection_security_policy="unknown"`)         |
| server_side | inbound, caller without mx metadata    | `reporter="destination"` only                   |
| server_side | outbound, destination named by mx      | nothing (the destination's inbound entry gives  |
|             |                                        | both series)                                    |
| server_side | outbound, destination without mx       | `reporter="source"`                             |
| either      | a waypoint's (`waypoint~` node)        | `reporter="waypoint"`: source = its caller      |
|             |                                        | (`downstream_peer`), destination = `upstream_peer`|

So in both modes a call between two sidecars has one series of each reporter, a call from a
caller without a sidecar has only `destination`, and a call to a destination without a sidecar
only `source` — as Istio itself reports them. The synthesized `source` series has the server's
view of the call: its duration and sizes are the server's, and its `destination_service` is the
server side's value (below), not the client's cluster host.

Values where ALS differs from what the stats filter sees:
* Principals. Inbound: the downstream TLS URI SANs (`source_principal` = the peer's,
  `destination_principal` = the local one), else `unknown`, as Istio. Outbound: ALS logs no
  upstream TLS, so the peer's and the local workload's `principal` (mx `identity` / node
  `SERVICE_ACCOUNT`) stand in for the upstream SANs Istio reads.
* The peer's workload namespace comes from its principal (`.../ns/<ns>/sa/...`) when known,
  else from its metadata, as Istio.
* `destination_service*`: Istio reads the cluster's `istio.services` metadata, which ALS does
  not carry; the outbound cluster name `outbound|port|subset|<fqdn>` names the same host. In
  order: route `block_all` / `allow_any` -> name `BlackHoleCluster` / `PassthroughCluster`;
  cluster `PassthroughCluster`, `BlackHoleCluster`, `InboundPassthroughCluster*` -> that name;
  an `outbound|` / pre-1.8.1 `inbound|port|name|<fqdn>` cluster -> host = fqdn, name and
  namespace from it. Outbound, the request authority is the host when no cluster gave one,
  and the name too (its port stripped: Istio keeps the Host header's port, which splits one
  service into a series per spelling). Fallbacks: outbound `unknown` and the peer's namespace;
  inbound the local canonical service and the local namespace (Istio disables the Host header
  on inbound listeners).
* Durations are kept to the nanosecond (Istio truncates to whole milliseconds).
* `request_protocol`: `grpc` when the spans call the request gRPC (`bridge.spans.semconv`:
  content-type, else a logged `grpc-status`, else HTTP/2 + POST + a `/pkg.Service/Method`
  path), where Istio reads only the content-type, which Istio's default ALS config does not log.
* `grpc_response_status`: the `grpc-status` trailer or header, as Istio; empty when none was
  logged (no code is derived from the HTTP status).
* Request/response bytes are the downstream wire bytes (headers included) when the entry has
  them, else headers + body bytes. One TCP entry is one connection: opened +1, closed +1, and
  its bytes.
* Identities from the static map, a cluster name or an authority fill the same labels from
  whatever fields they have (a cluster-named peer: canonical service and namespace).

Cost: `points` runs only when the recorder meets a new entry key (`bridge.metrics.plan`); a
repeat costs the plan's replay (one counter, three histogram observations), about 1.2 µs.
Within `points`, the 19 identity label values are cached per (local, peer, direction) plus the
few entry fields they also depend on (SANs inbound; cluster, route and authority outbound).
"""

from __future__ import annotations

from typing import NamedTuple

from bridge.decode import EntryView
from bridge.identity import Direction, Ends, Workload
from bridge.identity.by_identity import ByIdentity
from bridge.identity.cluster_name import authority_host, parse_cluster_name, service_and_namespace
from bridge.metrics.config import IstioMetricsConfig
from bridge.metrics.points import Point, Value, record_points
from bridge.metrics.store import LabelValues, MetricStore
from bridge.spans import Reporters, SpanSet
from bridge.spans.builder import has_mx_identity
from bridge.spans.semconv import GrpcFacts

UNKNOWN = "unknown"
LATEST = "latest"
CACHE_SIZE = 10_000

PEER_LABELS = (
    "source_workload",
    "source_canonical_service",
    "source_canonical_revision",
    "source_workload_namespace",
    "source_principal",
    "source_app",
    "source_version",
    "source_cluster",
    "destination_workload",
    "destination_workload_namespace",
    "destination_principal",
    "destination_app",
    "destination_version",
    "destination_service",
    "destination_canonical_service",
    "destination_canonical_revision",
    "destination_service_name",
    "destination_service_namespace",
    "destination_cluster",
)
HTTP_LABELS = (
    "reporter",
    *PEER_LABELS,
    "request_protocol",
    "response_code",
    "grpc_response_status",
    "response_flags",
    "connection_security_policy",
)
TCP_LABELS = ("reporter", *PEER_LABELS, "request_protocol", "response_flags", "connection_security_policy")

_SPECIAL_CLUSTERS = frozenset(
    {
        "BlackHoleCluster",
        "PassthroughCluster",
        "InboundPassthroughCluster",
        "InboundPassthroughClusterIpv4",
        "InboundPassthroughClusterIpv6",
    }
)
_SPECIAL_ROUTES = {"block_all": "BlackHoleCluster", "allow_any": "PassthroughCluster"}


class _Identity(NamedTuple):
    """The cached part of one entry's labels."""

    peers: LabelValues  # PEER_LABELS' values
    security: str  # connection_security_policy of the entry's own reporter


class _Service(NamedTuple):
    host: str  # destination_service; "" = not found
    name: str  # destination_service_name; "" = not found
    namespace: str  # destination_service_namespace; "" = not found


def _or(value: str, fallback: str = UNKNOWN) -> str:
    return value or fallback


def namespace_of_principal(principal: str) -> str:
    """`spiffe://td/ns/<ns>/sa/<sa>` -> `<ns>`; "" for anything else (Istio's `getNamespace`)."""
    _, sep, rest = principal.partition("/ns/")
    if not sep:
        return ""
    namespace, _, _ = rest.partition("/")
    return namespace


def destination_service(view: EntryView, direction: Direction) -> _Service:
    """The destination service as far as the entry names it; the rules are in the module docstring."""
    host = ""
    name = ""
    if direction is Direction.OUTBOUND and view.authority:
        host = name = authority_host(view.authority)
    special = _SPECIAL_ROUTES.get(view.route_name) if direction is Direction.OUTBOUND else None
    if special is not None:
        return _Service(host, special, "")
    cluster = view.upstream_cluster
    if cluster in _SPECIAL_CLUSTERS:
        return _Service(host, cluster, "")
    parsed = parse_cluster_name(cluster) if cluster else None
    if parsed is not None and parsed.host:
        fqdn = parsed.host.lower()
        svc_name, svc_namespace = service_and_namespace(fqdn)
        return _Service(fqdn, svc_name, svc_namespace)
    return _Service(host, name, "")


def _inbound_identity(
    local: Workload, peer: Workload, peer_san: str, local_san: str, service: _Service
) -> _Identity:
    """reporter=destination: the peer is the source, the local workload the destination."""
    canonical = local.service
    peers = (
        _or(peer.workload),
        _or(peer.service),
        _or(peer.version, LATEST),
        _or(namespace_of_principal(peer_san) or peer.namespace),
        _or(peer_san),
        _or(peer.app),
        _or(peer.app_version),
        _or(peer.cluster),
        _or(local.workload),
        _or(local.namespace),
        _or(local_san),
        _or(local.app),
        _or(local.app_version),
        _or(service.host or canonical),
        _or(canonical),
        _or(local.version, LATEST),
        _or(service.name or canonical),
        _or(service.namespace or local.namespace),
        _or(local.cluster),
    )
    return _Identity(peers, "mutual_tls" if peer_san and local_san else "none")


def _outbound_identity(local: Workload, peer: Workload, service: _Service) -> _Identity:
    """reporter=source: the local workload is the source, the peer the destination."""
    peer_namespace = namespace_of_principal(peer.principal) or peer.namespace
    peers = (
        _or(local.workload),
        _or(local.service),
        _or(local.version, LATEST),
        _or(local.namespace),
        _or(local.principal),
        _or(local.app),
        _or(local.app_version),
        _or(local.cluster),
        _or(peer.workload),
        _or(peer_namespace),
        _or(peer.principal),
        _or(peer.app),
        _or(peer.app_version),
        _or(service.host),
        _or(peer.service),
        _or(peer.version, LATEST),
        _or(service.name),
        _or(service.namespace or peer_namespace),
        _or(peer.cluster),
    )
    return _Identity(peers, UNKNOWN)


def _waypoint_identity(view: EntryView, ends: Ends, service: _Service) -> _Identity:
    """reporter=waypoint: the caller is the source, the peer the destination (Istio's stats
    filter in a waypoint reads both from the peer filter state). The security policy follows
    the server-side rule on the waypoint's downstream certificate."""
    caller = ends.caller or Workload()
    source = _outbound_identity(caller, ends.peer, service).peers
    mtls = view.tls_peer_uri_san and view.tls_local_uri_san
    return _Identity(source, "mutual_tls" if mtls else "none")


def identity_labels(view: EntryView, ends: Ends) -> _Identity:
    """The identity part of an entry's labels (uncached; `IstioFamily` caches it)."""
    service = destination_service(view, ends.direction)
    if ends.local.is_waypoint:
        return _waypoint_identity(view, ends, service)
    if ends.direction is Direction.INBOUND:
        return _inbound_identity(
            ends.local, ends.peer, view.tls_peer_uri_san, view.tls_local_uri_san, service
        )
    return _outbound_identity(ends.local, ends.peer, service)


def http_request_values(view: EntryView, grpc: GrpcFacts) -> tuple[str, str, str]:
    """request_protocol, response_code and grpc_response_status of an HTTP entry; `grpc` is
    the entry's `SpanSet.grpc`, so the metrics call a request gRPC exactly when its spans do."""
    code = str(view.response_code)
    is_grpc, status, _ = grpc
    if not is_grpc:
        return "http", code, ""
    return "grpc", code, "" if status is None else str(status)


class IstioFamily:
    """Records Istio's standard metrics; resource: the bridge itself (None)."""

    def __init__(self, store: MetricStore, config: IstioMetricsConfig) -> None:
        self._requests = store.counter("istio_requests_total", "Requests, by Istio's labels", "", HTTP_LABELS)
        self._duration = store.histogram(
            "istio_request_duration_milliseconds",
            "Request duration",
            "ms",
            HTTP_LABELS,
            config.duration_buckets,
        )
        self._request_bytes = store.histogram(
            "istio_request_bytes",
            "Request size (downstream wire bytes)",
            "By",
            HTTP_LABELS,
            config.size_buckets,
        )
        self._response_bytes = store.histogram(
            "istio_response_bytes",
            "Response size (downstream wire bytes)",
            "By",
            HTTP_LABELS,
            config.size_buckets,
        )
        self._tcp_sent = store.counter(
            "istio_tcp_sent_bytes_total", "Bytes sent to the downstream, TCP", "By", TCP_LABELS
        )
        self._tcp_received = store.counter(
            "istio_tcp_received_bytes_total", "Bytes received from the downstream, TCP", "By", TCP_LABELS
        )
        self._tcp_opened = store.counter(
            "istio_tcp_connections_opened_total", "TCP connections opened", "", TCP_LABELS
        )
        self._tcp_closed = store.counter(
            "istio_tcp_connections_closed_total", "TCP connections closed", "", TCP_LABELS
        )
        self._cache: ByIdentity[_Identity] = ByIdentity(CACHE_SIZE)

    def record(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> None:
        """The reference path: find the series of every point of the entry and add to them."""
        record_points(self.points(view, ends, spans, reporters), view, spans.spans)

    def points(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> list[Point]:
        """What the entry records; the rules are in the module docstring."""
        inbound = ends.direction is Direction.INBOUND
        waypoint = ends.local.is_waypoint
        if reporters == "server_side" and not inbound and not waypoint and has_mx_identity(ends.peer):
            return []  # the destination's inbound entry gives both series; see the module docstring
        identity = self._identity(view, ends, inbound)
        own_reporter = "waypoint" if waypoint else "destination" if inbound else "source"
        also_source = inbound and reporters == "server_side" and has_mx_identity(ends.peer)
        flags = view.response_flags or "-"
        make = self._tcp_points if view.is_tcp else self._http_points
        points = make(view, spans.grpc, own_reporter, identity.peers, flags, identity.security)
        if also_source:
            points += make(view, spans.grpc, "source", identity.peers, flags, UNKNOWN)
        return points

    def _identity(self, view: EntryView, ends: Ends, inbound: bool) -> _Identity:
        extra: tuple[object, ...]
        if inbound:
            extra = (True, view.tls_peer_uri_san, view.tls_local_uri_san, view.upstream_cluster)
        else:
            extra = (False, view.upstream_cluster, view.route_name, view.authority)
            if ends.caller is not None:  # a waypoint's: its caller and certificates count too
                extra += (ends.caller, view.tls_peer_uri_san, view.tls_local_uri_san)
        return self._cache.get(ends.local, ends.peer, extra, lambda: identity_labels(view, ends))

    def _http_points(
        self, view: EntryView, grpc: GrpcFacts, reporter: str, peers: LabelValues, flags: str, security: str
    ) -> list[Point]:
        protocol, code, grpc_status = http_request_values(view, grpc)
        labels = (reporter, *peers, protocol, code, grpc_status, flags, security)
        return [
            Point(self._requests, None, labels, Value.ONE),
            Point(self._duration, None, labels, Value.DURATION_MS),
            Point(self._request_bytes, None, labels, Value.REQUEST_BYTES),
            Point(self._response_bytes, None, labels, Value.RESPONSE_BYTES),
        ]

    def _tcp_points(
        self, view: EntryView, grpc: GrpcFacts, reporter: str, peers: LabelValues, flags: str, security: str
    ) -> list[Point]:
        labels = (reporter, *peers, "tcp", flags, security)
        return [
            Point(self._tcp_opened, None, labels, Value.ONE),
            Point(self._tcp_closed, None, labels, Value.ONE),
            Point(self._tcp_sent, None, labels, Value.TCP_SENT),
            Point(self._tcp_received, None, labels, Value.TCP_RECEIVED),
        ]
