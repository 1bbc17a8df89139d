"""Envoy bootstrap configs for the demo sidecars, built as plain dicts (dumped to JSON).

Why code and not YAML files: ports are only known at start-up, and the two sidecars share
most of their shape (access loggers, metadata exchange headers, cluster naming), which reads
better as a handful of small builders than as two near-identical templates.

The shapes follow what Istio generates where it matters to the bridge: cluster names
(`outbound|port||fqdn`, `inbound|port||`), route name `default`, node id and metadata, the
ALS logger settings, and the `x-envoy-peer-metadata*` headers of metadata exchange.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.demo._workloads import DemoWorkload

Json = dict[str, Any]

HOST = "127.0.0.1"
ALS_CLUSTER = "envoy_accesslog_service"
HTTP_LOG_NAME = "http_envoy_accesslog"
TCP_LOG_NAME = "tcp_envoy_accesslog"
PEER_METADATA = "x-envoy-peer-metadata"
PEER_METADATA_ID = "x-envoy-peer-metadata-id"

# The service ports of B as A's sidecar sees them (Istio's outbound clusters name the service port).
HTTP_SERVICE_PORT = 8080
GRPC_SERVICE_PORT = 9090
TCP_SERVICE_PORT = 9000
HTTP_SERVICE_HOST = "b.demo.svc.cluster.local"
TCP_SERVICE_HOST = "b-tcp.demo.svc.cluster.local"

FILTER_STATE_OBJECTS_TO_LOG = (
    "upstream_peer",
    "downstream_peer",
    "wasm.upstream_peer",
    "wasm.upstream_peer_id",
    "wasm.downstream_peer",
    "wasm.downstream_peer_id",
)
REQUEST_HEADERS_TO_LOG = (
    PEER_METADATA,
    PEER_METADATA_ID,
    "traceparent",
    "tracestate",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-parentspanid",
    "x-b3-sampled",
    "x-envoy-attempt-count",
    "content-type",
)
RESPONSE_HEADERS_TO_LOG = (PEER_METADATA, PEER_METADATA_ID, "grpc-status", "grpc-message", "content-type")
RESPONSE_TRAILERS_TO_LOG = ("grpc-status", "grpc-message")

# Where route-level headers_to_add sit, by direction of metadata exchange.
_REQUEST = "request_headers_to_add"
_RESPONSE = "response_headers_to_add"


@dataclass(frozen=True, slots=True)
class AlsTLS:
    """Mutual TLS on a sidecar's ALS connection: its client certificate, and the CA that verifies
    the bridge. Istio gives each sidecar a certificate whose URI SAN is its SPIFFE id; a bridge
    with `allowed_spiffe_ids` admits or refuses the sidecar by it."""

    ca_file: str  # PEM CA that signed the bridge's server certificate
    cert_file: str  # the sidecar's client certificate (PEM)
    key_file: str
    server_ip: str = HOST  # the IP SAN the bridge's certificate must carry


@dataclass(frozen=True, slots=True)
class AlsSink:
    """Where and how often the sidecars send ALS, and over TLS if `tls` is set."""

    host: str
    port: int
    flush_interval_s: float = 0.2
    tls: AlsTLS | None = None


@dataclass(frozen=True, slots=True)
class ServerPorts:
    """The server sidecar's inbound listener ports, which the client sidecar's clusters point at."""

    http: int
    grpc: int
    tcp: int


def outbound_cluster(port: int, host: str) -> str:
    """Istio's `BuildSubsetKey` with no subset."""
    return f"outbound|{port}||{host}"


def inbound_cluster(port: int) -> str:
    """Istio's `BuildInboundSubsetKey` (proxies >= 1.8.1)."""
    return f"inbound|{port}||"


def _duration(seconds: float) -> str:
    return f"{seconds:g}s"


def _socket_address(port: int, host: str = HOST) -> Json:
    return {"socket_address": {"address": host, "port_value": port}}


def _static_cluster(name: str, port: int, *, http2: bool, host: str = HOST) -> Json:
    cluster: Json = {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket_address(port, host)}}]}],
        },
    }
    if http2:
        cluster["typed_extension_protocol_options"] = {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        }
    return cluster


def _upstream_tls(tls: AlsTLS) -> Json:
    """An `UpstreamTlsContext` that presents the client certificate and verifies the bridge.

    The bridge listens on an IP address, so its certificate is matched by IP SAN rather than by
    SNI (an IP is not a valid SNI host name). ALPN `h2` because gRPC servers expect it over TLS.
    """
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "common_tls_context": {
                "alpn_protocols": ["h2"],
                "tls_certificates": [
                    {
                        "certificate_chain": {"filename": tls.cert_file},
                        "private_key": {"filename": tls.key_file},
                    }
                ],
                "validation_context": {
                    "trusted_ca": {"filename": tls.ca_file},
                    "match_typed_subject_alt_names": [
                        {"san_type": "IP_ADDRESS", "matcher": {"exact": tls.server_ip}}
                    ],
                },
            },
        },
    }


def als_cluster(sink: AlsSink) -> Json:
    """The `envoy_accesslog_service` cluster: HTTP/2 to the bridge, over TLS when `sink.tls` is set."""
    cluster = _static_cluster(ALS_CLUSTER, sink.port, http2=True, host=sink.host)
    if sink.tls is not None:
        cluster["transport_socket"] = _upstream_tls(sink.tls)
    return cluster


def _common_log_config(log_name: str, sink: AlsSink) -> Json:
    return {
        "log_name": log_name,
        "transport_api_version": "V3",
        "grpc_service": {"envoy_grpc": {"cluster_name": ALS_CLUSTER}},
        "buffer_flush_interval": _duration(sink.flush_interval_s),
        "filter_state_objects_to_log": list(FILTER_STATE_OBJECTS_TO_LOG),
    }


def http_access_log(sink: AlsSink) -> Json:
    """The `envoy.access_loggers.http_grpc` logger with the headers the bridge reads."""
    return {
        "name": "envoy.access_loggers.http_grpc",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig",
            "common_config": _common_log_config(HTTP_LOG_NAME, sink),
            "additional_request_headers_to_log": list(REQUEST_HEADERS_TO_LOG),
            "additional_response_headers_to_log": list(RESPONSE_HEADERS_TO_LOG),
            "additional_response_trailers_to_log": list(RESPONSE_TRAILERS_TO_LOG),
        },
    }


def tcp_access_log(sink: AlsSink) -> Json:
    """The `envoy.access_loggers.tcp_grpc` logger (one entry per connection, at close)."""
    return {
        "name": "envoy.access_loggers.tcp_grpc",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.TcpGrpcAccessLogConfig",
            "common_config": _common_log_config(TCP_LOG_NAME, sink),
        },
    }


def _mx_headers(workload: DemoWorkload, where: str) -> Json:
    """Metadata exchange emulated with static headers: `where` is request_ or response_headers_to_add."""
    return {
        where: [
            {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
            for key, value in (
                (PEER_METADATA, workload.peer_metadata_header()),
                (PEER_METADATA_ID, workload.node_id),
            )
        ]
    }


def _route(prefix: str, cluster: str, mx: Json) -> Json:
    return {"name": "default", "match": {"prefix": prefix}, "route": {"cluster": cluster}, **mx}


def _router_filter() -> Json:
    return {
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }


def _downstream_peer_filter() -> Json:
    """Store the caller's `x-envoy-peer-metadata` as filter state `downstream_peer` (a StringValue).

    Plain Envoy's stand-in for Istio's inbound peer discovery; `skip_if_empty` with
    `omit_empty_values` keeps requests without the header from storing "-".
    """
    return {
        "name": "envoy.filters.http.set_filter_state",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.set_filter_state.v3.Config",
            "on_request_headers": [
                {
                    "object_key": "downstream_peer",
                    "factory_key": "envoy.string",
                    "format_string": {
                        "text_format_source": {"inline_string": f"%REQ({PEER_METADATA})%"},
                        "omit_empty_values": True,
                    },
                    "skip_if_empty": True,
                }
            ],
        },
    }


def _http_listener(name: str, routes: list[Json], logs: list[Json], filters: list[Json]) -> Json:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3"
        ".HttpConnectionManager",
        "stat_prefix": name,
        "codec_type": "AUTO",  # HTTP/1.1, or HTTP/2 (gRPC) by its connection preface
        "route_config": {
            "name": name,
            "virtual_hosts": [
                {"name": name, "domains": ["*"], "include_request_attempt_count": True, "routes": routes}
            ],
        },
        "http_filters": [*filters, _router_filter()],
        "access_log": logs,
    }
    return _listener(name, {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm})


def _tcp_listener(name: str, cluster: str, logs: list[Json]) -> Json:
    proxy = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": name,
        "cluster": cluster,
        "access_log": logs,
    }
    return _listener(name, {"name": "envoy.filters.network.tcp_proxy", "typed_config": proxy})


def _listener(name: str, network_filter: Json) -> Json:
    """Port 0: the kernel picks a free port, read back from the admin `/listeners` endpoint."""
    return {"name": name, "address": _socket_address(0), "filter_chains": [{"filters": [network_filter]}]}


def _bootstrap(workload: DemoWorkload, listeners: list[Json], clusters: list[Json]) -> Json:
    return {
        "node": {
            "id": workload.node_id,
            "cluster": workload.node_cluster,
            "metadata": workload.node_metadata(),
        },
        "admin": {"address": _socket_address(0)},
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


def server_sidecar(workload: DemoWorkload, app_http: int, app_grpc: int, app_tcp: int, sink: AlsSink) -> Json:
    """Workload B's sidecar: three inbound listeners in front of B's app, logging HTTP and TCP."""
    http_logs, tcp_logs = [http_access_log(sink)], [tcp_access_log(sink)]
    mx = _mx_headers(workload, _RESPONSE)
    filters = [_downstream_peer_filter()]
    listeners = [
        _http_listener("inbound_http", [_route("/", inbound_cluster(app_http), mx)], http_logs, filters),
        _http_listener("inbound_grpc", [_route("/", inbound_cluster(app_grpc), mx)], http_logs, filters),
        _tcp_listener("inbound_tcp", inbound_cluster(app_tcp), tcp_logs),
    ]
    clusters = [
        _static_cluster(inbound_cluster(app_http), app_http, http2=False),
        _static_cluster(inbound_cluster(app_grpc), app_grpc, http2=True),
        _static_cluster(inbound_cluster(app_tcp), app_tcp, http2=False),
        als_cluster(sink),
    ]
    return _bootstrap(workload, listeners, clusters)


def client_sidecar(workload: DemoWorkload, server: ServerPorts, sink: AlsSink | None) -> Json:
    """Workload A's sidecar: outbound listeners to B's sidecar; `sink=None` logs nothing.

    Only `/status/` (HTTP) and `/demo.Greeter/` (gRPC) are routed, so any other path gets
    Envoy's own 404 with response flag NR, the way a request to an unknown route does in Istio.
    """
    http_logs = [http_access_log(sink)] if sink else []
    tcp_logs = [tcp_access_log(sink)] if sink else []
    mx = _mx_headers(workload, _REQUEST)
    http_cluster = outbound_cluster(HTTP_SERVICE_PORT, HTTP_SERVICE_HOST)
    grpc_cluster = outbound_cluster(GRPC_SERVICE_PORT, HTTP_SERVICE_HOST)
    tcp_cluster = outbound_cluster(TCP_SERVICE_PORT, TCP_SERVICE_HOST)
    listeners = [
        _http_listener("outbound_http", [_route("/status/", http_cluster, mx)], http_logs, []),
        _http_listener("outbound_grpc", [_route("/demo.Greeter/", grpc_cluster, mx)], http_logs, []),
        _tcp_listener("outbound_tcp", tcp_cluster, tcp_logs),
    ]
    clusters = [
        _static_cluster(http_cluster, server.http, http2=False),
        _static_cluster(grpc_cluster, server.grpc, http2=True),
        _static_cluster(tcp_cluster, server.tcp, http2=False),
    ]
    if sink:
        clusters.append(als_cluster(sink))
    return _bootstrap(workload, listeners, clusters)
