"""The EnvoyFilter's access loggers in a real Envoy: its patch values load as Envoy config (field
paths of the Envoy v3 API), deliver HTTP and TCP entries with the headers the bridge reads, and
keep delivering when one of two bridge replicas is drained and stopped the way the Deployment
does it (the endpoint leaves EDS first, as the preStop drain makes it, then the process stops).

Envoy here stands in for a sidecar after Istio applied the patch: an HTTP connection manager and
a TCP proxy, each with the EnvoyFilter's logger appended, and Istio's outbound cluster for the
bridge's Service with the two replicas as its endpoints, from a watched EDS file (istiod's EDS).
Without the drain, the same test lost 14-16 of 100 entries in 3 of 5 runs: Envoy's next stream
landed on the stopped replica.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from bridge.demo._envoy import EnvoyProcess
from tests.deploy.test_istio_manifests import envoy_filter_loggers
from tests.support.bridge import running_bridge, traces_and_logs_config
from tests.support.otlp_sink import OTLPSink, attributes

pytestmark = pytest.mark.envoy

HCM = "envoy.filters.network.http_connection_manager"
TCP_PROXY = "envoy.filters.network.tcp_proxy"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def address(port: int) -> dict[str, Any]:
    return {"socket_address": {"address": "127.0.0.1", "port_value": port}}


def logger(network_filter: str, type_name: str) -> dict[str, Any]:
    typed = envoy_filter_loggers()[network_filter]
    typed = {**typed, "common_config": {**typed["common_config"], "buffer_flush_interval": "0.2s"}}
    return {"name": f"envoy.access_loggers.{type_name}", "typed_config": typed}


def write_endpoints(eds_file: Path, cluster: str, ports: list[int]) -> None:
    """The cluster's endpoints, as istiod's EDS would send them; replaced atomically (Envoy
    watches the directory for the move)."""
    assignment = {
        "@type": "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
        "cluster_name": cluster,
        "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(p)}} for p in ports]}],
    }
    staging = eds_file.with_suffix(".tmp")
    staging.write_text(json.dumps({"version_info": str(time.monotonic_ns()), "resources": [assignment]}))
    staging.rename(eds_file)


def bootstrap(als_cluster: str, eds_file: Path, tcp_upstream: int) -> dict[str, Any]:
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "inbound_http",
        "route_config": {
            "virtual_hosts": [
                {
                    "name": "all",
                    "domains": ["*"],
                    "routes": [{"match": {"prefix": "/"}, "direct_response": {"status": 200}}],
                }
            ]
        },
        "http_filters": [
            {
                "name": "envoy.filters.http.router",
                "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
                },
            }
        ],
        "access_log": [logger(HCM, "http_grpc")],
    }
    tcp = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        "stat_prefix": "inbound_tcp",
        "cluster": "refusing",
        "access_log": [logger(TCP_PROXY, "tcp_grpc")],
    }
    listeners = [
        {
            "name": "http",
            "address": address(0),
            "filter_chains": [{"filters": [{"name": HCM, "typed_config": hcm}]}],
        },
        {
            "name": "tcp",
            "address": address(0),
            "filter_chains": [{"filters": [{"name": TCP_PROXY, "typed_config": tcp}]}],
        },
    ]
    als = {
        "name": als_cluster,
        "type": "EDS",
        "connect_timeout": "1s",
        "eds_cluster_config": {
            "eds_config": {
                "resource_api_version": "V3",
                "path_config_source": {
                    "path": str(eds_file),
                    "watched_directory": {"path": str(eds_file.parent)},
                },
            }
        },
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
    }
    refusing = {
        "name": "refusing",
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": "refusing",
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": address(tcp_upstream)}}]}],
        },
    }
    return {
        "node": {"id": "sidecar~127.0.0.1~b-1.demo~demo.svc.cluster.local", "cluster": "b.demo"},
        "admin": {"address": address(0)},
        "static_resources": {"listeners": listeners, "clusters": [als, refusing]},
    }


def test_envoy_filter_loggers_deliver_and_survive_one_replica_stopping(tmp_path: Path) -> None:
    als_cluster = envoy_filter_loggers()[HCM]["common_config"]["grpc_service"]["envoy_grpc"]["cluster_name"]
    replicas = [free_port(), free_port()]
    with OTLPSink() as sink:
        configs = [
            traces_and_logs_config(otlp_grpc=sink.grpc_endpoint, receiver={"endpoint": f"127.0.0.1:{p}"})
            for p in replicas
        ]
        eds_dir = tmp_path / "eds"
        eds_dir.mkdir()
        eds_file = eds_dir / "endpoints.json"
        write_endpoints(eds_file, als_cluster, replicas)
        envoy = EnvoyProcess("sidecar", bootstrap(als_cluster, eds_file, free_port()), tmp_path)
        sent: list[str] = []

        def send(count: int) -> None:
            port = envoy.listener_ports()["http"]
            for _ in range(count):
                rid = f"ef-{uuid.uuid4()}"
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request(
                    "GET",
                    "/x",
                    headers={"x-request-id": rid, "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
                )
                assert conn.getresponse().status == 200
                conn.close()
                sent.append(rid)
                time.sleep(0.02)

        try:
            with running_bridge(configs[1]):
                with running_bridge(configs[0]):
                    envoy.start()
                    send(40)
                    # a TCP connection to an upstream that refuses it: Envoy closes it and logs it (UF)
                    with socket.create_connection(
                        ("127.0.0.1", envoy.listener_ports()["tcp"]), timeout=5
                    ) as tcp, contextlib.suppress(OSError):
                        tcp.recv(1)  # Envoy ends it (closed or reset); the TCP span below is the check
                    # the preStop drain: the pod leaves the endpoints (istiod's EDS) while it still
                    # serves; only then does it get SIGTERM (the end of this block)
                    write_endpoints(eds_file, als_cluster, replicas[1:])
                    members = f"cluster.{als_cluster}.membership_total"
                    deadline = time.monotonic() + 10
                    while envoy.stats().get(members) != 1 and time.monotonic() < deadline:
                        time.sleep(0.05)
                    assert envoy.stats().get(members) == 1, "Envoy did not take the endpoint update"
                    send(20)
                send(40)  # replica 0 has shut down: its stream ended, Envoy opens the next on replica 1

                def delivered() -> set[str]:
                    return {attributes(s.attributes).get("envoy.request_id", "") for _, s in sink.spans()}

                assert sink.wait_for(lambda: set(sent) <= delivered(), timeout=20), (
                    f"{len(set(sent) - delivered())} of {len(sent)} entries lost"
                )
                assert sink.wait_for(lambda: any(s.name == "TCP" for _, s in sink.spans()), timeout=10)
                spans = [
                    s for _, s in sink.spans() if attributes(s.attributes).get("envoy.request_id") in sent
                ]
                # the logged traceparent put the spans into the caller's trace
                assert {s.trace_id.hex() for s in spans} == {TRACE_ID}
                # both loggers' names arrive (the log records carry them)
                assert sink.wait_for(
                    lambda: log_names(sink) >= {"http_envoy_accesslog", "tcp_envoy_accesslog"}, 10
                )
            stats = envoy.stats()
            assert stats["access_logs.grpc_access_log.logs_dropped"] == 0
        finally:
            envoy.stop()


def log_names(sink: OTLPSink) -> set[str]:
    return {
        attributes(record.attributes).get("envoy.log_name", "")
        for request in sink.logs
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    }
