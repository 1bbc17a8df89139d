"""Istio as it is really configured: real Envoy proxies with the access logging Istio generates
by default (no headers logged, filter state only), Kubernetes pods, VMs, gateways, two clusters.

One topology (`bridge.demo.istio_mesh`), every proxy with the ALS config of one Istio setting:

| proxy    | workload                              | cluster   | ALS config Istio generates for   |
|----------|---------------------------------------|-----------|----------------------------------|
| ingress  | gateway (`router~`), istio-system     | cluster-1 | MeshConfig, Istio 1.24+          |
| frontend | Kubernetes pod (Deployment frontend-v1)| cluster-1 | MeshConfig, Istio 1.24+          |
| checkout | VM (WorkloadGroup checkout)           | cluster-1 | Telemetry provider, Istio 1.24+  |
| payment  | VM (WorkloadGroup payment)            | cluster-1 | MeshConfig, Istio 1.23 (FlatNode)|
| catalog  | Kubernetes pod, gRPC                  | cluster-2 | Telemetry provider, Istio 1.22   |
| egress   | gateway (`router~`), istio-system     | cluster-1 | MeshConfig, Istio 1.24+          |
| waypoint | ambient waypoint (`waypoint~`)        | cluster-1 | MeshConfig, Istio 1.24+          |

Calls: outside -> ingress -> frontend (no trace context, no request id), frontend -> checkout
(Kubernetes -> VM), checkout -> payment (VM -> VM, HTTP 503 and TCP), checkout -> catalog and
frontend -> catalog (gRPC OK and NOT_FOUND, across clusters), payment -> egress -> a service
outside the mesh, and ratings -> reviews in ambient mode through a waypoint (neither has a
proxy of its own; the waypoint names both by workload discovery). The bridge sends spans to an OTLP sink and metrics to a real VictoriaMetrics
and a real Prometheus; the checks are on both.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bridge.config.model import ComponentID
from bridge.demo._apps import GRPC_METHOD, GRPC_SERVICE
from bridge.demo.istio import IstioWorkload
from bridge.demo.istio_mesh import AlsPath, Inbound, IstioMesh, Outbound, Proxy
from tests.support.backends import Prometheus, VictoriaMetrics, _Store
from tests.support.bridge import running_bridge
from tests.support.otlp_sink import Got, OTLPSink

pytestmark = [pytest.mark.envoy, pytest.mark.backends, pytest.mark.slow]

CLIENT, SERVER = Span.SpanKind.SPAN_KIND_CLIENT, Span.SpanKind.SPAN_KIND_SERVER
ERROR, UNSET = Status.STATUS_CODE_ERROR, Status.STATUS_CODE_UNSET
NS = "shop"
GRPC_NAME = f"{GRPC_SERVICE}/{GRPC_METHOD}"


def _svc(name: str) -> str:
    return f"{name}.{NS}.svc.cluster.local"


INGRESS = IstioWorkload(
    app="istio-ingressgateway",
    namespace="istio-system",
    version="",
    kind="gateway",
    instance="istio-ingressgateway-6c7d9-qq8rt",
    ip="10.1.0.2",
    cluster_id="cluster-1",
    labels={"istio": "ingressgateway"},
)
EGRESS = IstioWorkload(
    app="istio-egressgateway",
    namespace="istio-system",
    version="",
    kind="gateway",
    instance="istio-egressgateway-7f8b5-k2x9z",
    ip="10.1.0.3",
    cluster_id="cluster-1",
    labels={"istio": "egressgateway"},
)
FRONTEND = IstioWorkload(
    app="frontend", namespace=NS, version="v1", kind="pod", instance="frontend-v1-5f6d8-abcde", ip="10.1.0.10",
    cluster_id="cluster-1",
)  # fmt: skip
CHECKOUT = IstioWorkload(
    app="checkout", namespace=NS, version="v2", kind="vm", instance="vm-checkout-1", ip="10.20.0.5",
    cluster_id="cluster-1", labels={"tier": "backend"},
)  # fmt: skip
PAYMENT = IstioWorkload(
    app="payment", namespace=NS, version="v1", kind="vm", instance="vm-payment-7", ip="10.20.0.9",
    cluster_id="cluster-1", istio_version="1.23.4",
)  # fmt: skip
CATALOG = IstioWorkload(
    app="catalog", namespace=NS, version="v3", kind="pod", instance="catalog-v3-86b7c-mnop1", ip="10.2.0.7",
    cluster_id="cluster-2", istio_version="1.22.6",
)  # fmt: skip
BANK = "api.bank.example"
WAYPOINT = IstioWorkload(
    app="waypoint", namespace=NS, version="", kind="waypoint", instance="waypoint-6d5f7-wp001", ip="10.1.0.20",
    cluster_id="cluster-1", labels={"gateway.networking.k8s.io/gateway-name": "waypoint"},
)  # fmt: skip
# ambient workloads: no proxy of their own, known to the waypoint by workload discovery
RATINGS = IstioWorkload(
    app="ratings", namespace=NS, version="v1", kind="pod", instance="ratings-v1-7dc98-r4t1n"
)
REVIEWS = IstioWorkload(
    app="reviews", namespace=NS, version="v2", kind="pod", instance="reviews-v2-5b8f4-v2a9z"
)


def _proxies() -> list[Proxy]:
    """Servers before their clients (a client's cluster points at the server's listener)."""
    waypoint_route = Outbound(
        "waypoint_http",
        "http",
        _svc("reviews"),
        9080,
        None,
        cluster=f"inbound-vip|9080|http|{_svc('reviews')}",  # how pilot names a waypoint's service cluster
        discovered=REVIEWS,
        callers=RATINGS,
    )
    return [
        Proxy("waypoint", WAYPOINT, AlsPath("meshconfig"), outbound=[waypoint_route]),
        Proxy("catalog", CATALOG, AlsPath("telemetry", "1.22.6"), inbound=[Inbound("inbound_grpc", "grpc")]),
        Proxy(
            "egress",
            EGRESS,
            AlsPath("meshconfig"),
            outbound=[Outbound("gateway_http", "http", BANK, 80, None)],
        ),
        Proxy(
            "payment",
            PAYMENT,
            AlsPath("meshconfig", "1.23.4"),
            inbound=[Inbound("inbound_http", "http"), Inbound("inbound_tcp", "tcp")],
            outbound=[
                Outbound(
                    "to_bank",
                    "http",
                    "istio-egressgateway.istio-system.svc.cluster.local",
                    80,
                    ("egress", "gateway_http"),
                )
            ],
        ),
        Proxy(
            "checkout",
            CHECKOUT,
            AlsPath("telemetry"),
            inbound=[Inbound("inbound_http", "http")],
            outbound=[
                Outbound("to_payment", "http", _svc("payment"), 8080, ("payment", "inbound_http")),
                Outbound("to_payment_tcp", "tcp", _svc("payment-db"), 5432, ("payment", "inbound_tcp")),
                Outbound("to_catalog", "grpc", _svc("catalog"), 9090, ("catalog", "inbound_grpc")),
            ],
        ),
        Proxy(
            "frontend",
            FRONTEND,
            AlsPath("meshconfig"),
            inbound=[Inbound("inbound_http", "http")],
            outbound=[
                Outbound("to_checkout", "http", _svc("checkout"), 8080, ("checkout", "inbound_http")),
                Outbound("to_catalog", "grpc", _svc("catalog"), 9090, ("catalog", "inbound_grpc")),
            ],
        ),
        Proxy(
            "ingress",
            INGRESS,
            AlsPath("meshconfig"),
            outbound=[Outbound("gateway_http", "http", _svc("frontend"), 8080, ("frontend", "inbound_http"))],
        ),
    ]


def _get(port: int, path: str, host: str, request_id: str | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        headers = {"host": host, **({"x-request-id": request_id} if request_id else {})}
        conn.request("GET", path, headers=headers)
        reply = conn.getresponse()
        reply.read()
        return reply.status
    finally:
        conn.close()


def _lookup(port: int, key: str, request_id: str) -> grpc.StatusCode:
    authority = ("grpc.default_authority", f"{_svc('catalog')}:9090")
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[authority]) as channel:
        try:
            channel.unary_unary(f"/{GRPC_NAME}")(
                key.encode(), timeout=5, metadata=[("x-request-id", request_id)]
            )
        except grpc.RpcError as error:
            return error.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _tcp(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"ledger\n")
        sock.shutdown(socket.SHUT_WR)
        return sock.recv(1024)


def _send(mesh: IstioMesh) -> None:
    assert _get(mesh.port("ingress", "gateway_http"), "/status/200", "shop.example.com") == 200
    assert (
        _get(mesh.port("frontend", "to_checkout"), "/status/200", f"{_svc('checkout')}:8080", "k8s-to-vm")
        == 200
    )
    assert (
        _get(mesh.port("checkout", "to_payment"), "/status/503", f"{_svc('payment')}:8080", "vm-to-vm") == 503
    )
    assert _lookup(mesh.port("checkout", "to_catalog"), "alice", "vm-to-k8s-ok") == grpc.StatusCode.OK
    assert _lookup(mesh.port("checkout", "to_catalog"), "nobody", "vm-to-k8s-nf") == grpc.StatusCode.NOT_FOUND
    assert _lookup(mesh.port("frontend", "to_catalog"), "alice", "k8s-to-k8s") == grpc.StatusCode.OK
    assert _get(mesh.port("payment", "to_bank"), "/status/200", BANK, "egress") == 200
    assert _tcp(mesh.port("checkout", "to_payment_tcp")) == b"ledger\n"
    assert (
        _get(mesh.port("waypoint", "waypoint_http"), "/status/200", f"{_svc('reviews')}:9080", "ambient")
        == 200
    )


SPANS = 3 + 2 + 2 + 2 * 2 + 2 + 3 + 2 + 2  # see _send, in order
ISTIO_REQUESTS = 2 + 2 + 2 + 2 * 2 + 2 + 2 + 1  # both reporters per sidecar hop; gateways and waypoint once


@dataclass
class Run:
    spans: list[Got]
    vm: VictoriaMetrics
    prom: Prometheus

    def by_request(self, request_id: str) -> list[Got]:
        return [g for g in self.spans if g.attrs.get("envoy.request_id") == request_id]

    def pair(self, request_id: str) -> tuple[Got, Got]:
        spans = self.by_request(request_id)
        assert sorted(g.span.kind for g in spans) == [SERVER, CLIENT], (request_id, spans)
        client = next(g for g in spans if g.span.kind == CLIENT)
        server = next(g for g in spans if g.span.kind == SERVER)
        assert client.span.trace_id == server.span.trace_id, request_id
        assert server.span.parent_span_id == client.span.span_id, request_id
        return client, server


def _config(sink: OTLPSink, vm_url: str) -> dict[str, Any]:
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0", "metrics": {"interval": "500ms"}}},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {
            "otlp": {"endpoint": sink.grpc_endpoint, "tls": {"insecure": True}},
            "otlphttp/vm": {"endpoint": "http://127.0.0.1:1", "metrics_endpoint": vm_url},
            "prometheus": {"endpoint": "127.0.0.1:0"},
        },
        "service": {
            "pipelines": {
                "traces": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": ["otlp"]},
                "metrics": {
                    "receivers": ["envoy_als"],
                    "processors": ["batch"],
                    "exporters": ["otlphttp/vm", "prometheus"],
                },
            }
        },
    }


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    with (
        OTLPSink() as sink,
        VictoriaMetrics() as vm,
        running_bridge(_config(sink, vm.otlp_metrics_url)) as service,
    ):
        prom_port: int = service.exporters[ComponentID("prometheus")].exporter.port  # type: ignore[attr-defined]
        with Prometheus([f"127.0.0.1:{prom_port}"]) as prom:
            with IstioMesh(f"127.0.0.1:{service.receivers[0].port}", _proxies()) as mesh:
                _send(mesh)
                # Istio sets no flush interval: Envoy's default of 1 s applies
                assert sink.wait_for(lambda: len(sink.spans()) >= SPANS, timeout=30), (
                    f"got {len(sink.spans())} spans, want {SPANS}"
                )
                for store in (vm, prom):
                    store.wait_for_query(
                        "sum(istio_requests_total)",
                        lambda r: bool(r) and r[0][1] == ISTIO_REQUESTS,
                        timeout=30,
                    )
            yield Run([Got(r, s) for r, s in sink.spans()], vm, prom)


# -- spans -------------------------------------------------------------------------------------


def test_exactly_the_spans_of_the_calls(run: Run) -> None:
    assert len(run.spans) == SPANS
    ids = [g.span.span_id for g in run.spans]
    assert len(ids) == len(set(ids))


def test_kubernetes_to_vm_pairs_with_both_resources(run: Run) -> None:
    client, server = run.pair("k8s-to-vm")
    assert client.resource["service.name"] == "frontend"
    assert client.resource["k8s.pod.name"] == FRONTEND.instance
    assert client.resource["k8s.deployment.name"] == "frontend-v1"
    assert client.resource["k8s.cluster.name"] == "cluster-1"
    assert server.resource == {
        "service.name": "checkout",
        "service.namespace": NS,
        "service.version": "v2",
        "service.instance.id": f"vm-checkout-1.{NS}",
        "host.name": "vm-checkout-1",
        "istio.mesh.id": "cluster.local",
    }
    assert client.attrs["service.peer.name"] == "checkout"  # the VM, from the 1.24 peer Struct
    assert server.attrs["service.peer.name"] == "frontend"
    assert client.span.name == server.span.name == "GET"
    assert client.span.status.code == server.span.status.code == UNSET


def test_vm_to_vm_pairs_and_keeps_the_http_status_rules(run: Run) -> None:
    client, server = run.pair("vm-to-vm")
    assert client.resource["host.name"] == "vm-checkout-1"
    assert server.resource["host.name"] == "vm-payment-7"
    for got in (client, server):
        assert "k8s.pod.name" not in got.resource
    # payment (1.23) named its caller from a FlatNode, checkout (1.24) its server from a Struct
    assert server.attrs["service.peer.name"] == "checkout"
    assert client.attrs["service.peer.name"] == "payment"
    assert client.span.status.code == server.span.status.code == ERROR


def test_grpc_without_content_type_vm_to_kubernetes_across_clusters(run: Run) -> None:
    for request_id in ("vm-to-k8s-ok", "vm-to-k8s-nf"):
        client, server = run.pair(request_id)
        assert client.resource["host.name"] == "vm-checkout-1"
        assert server.resource["k8s.pod.name"] == CATALOG.instance
        assert server.resource["k8s.cluster.name"] == "cluster-2"
        for got in (client, server):
            assert got.span.name == GRPC_NAME
            assert got.attrs["rpc.system.name"] == "grpc"
            assert got.attrs["rpc.method"] == GRPC_NAME
            # Istio logs no grpc-status by default: none is invented, HTTP 200 rules apply
            assert "rpc.response.status_code" not in got.attrs
            assert got.attrs["als_bridge.grpc_status_logged"] is False
            assert got.span.status.code == UNSET
    client, server = run.pair("k8s-to-k8s")
    assert (client.resource["k8s.cluster.name"], server.resource["k8s.cluster.name"]) == (
        "cluster-1",
        "cluster-2",
    )


def test_ingress_gateway_is_the_root_of_a_trace_that_came_without_context(run: Run) -> None:
    ingress = [g for g in run.spans if g.resource["service.name"] == "istio-ingressgateway"]
    assert sorted(g.span.kind for g in ingress) == [SERVER, CLIENT]
    received = next(g for g in ingress if g.span.kind == SERVER)
    sent = next(g for g in ingress if g.span.kind == CLIENT)
    assert received.span.parent_span_id == b""  # the root: no trace context came in
    assert sent.span.parent_span_id == received.span.span_id
    assert received.resource["k8s.deployment.name"] == "istio-ingressgateway"
    assert received.resource["k8s.namespace.name"] == "istio-system"
    assert "service.peer.name" not in received.attrs  # its caller is outside the mesh
    assert sent.attrs["service.peer.name"] == "frontend"
    # Envoy made the request id at the gateway; the frontend's SERVER span is the CLIENT's child
    rid = sent.attrs["envoy.request_id"]
    frontend = [g for g in run.by_request(rid) if g.resource["service.name"] == "frontend"]
    assert [g.span.kind for g in frontend] == [SERVER]
    assert frontend[0].span.parent_span_id == sent.span.span_id
    assert frontend[0].attrs["service.peer.name"] == "istio-ingressgateway"
    assert {g.span.trace_id for g in (received, sent, frontend[0])} == {received.span.trace_id}


def test_egress_gateway_to_a_service_outside_the_mesh(run: Run) -> None:
    spans = run.by_request("egress")
    payment = [g for g in spans if g.resource["service.name"] == "payment"]
    egress = [g for g in spans if g.resource["service.name"] == "istio-egressgateway"]
    assert [g.span.kind for g in payment] == [CLIENT]
    assert payment[0].attrs["service.peer.name"] == "istio-egressgateway"  # by its cluster name
    assert sorted(g.span.kind for g in egress) == [SERVER, CLIENT]
    sent = next(g for g in egress if g.span.kind == CLIENT)
    received = next(g for g in egress if g.span.kind == SERVER)
    assert sent.span.parent_span_id == received.span.span_id
    assert sent.attrs["service.peer.name"] == BANK
    assert sent.attrs["envoy.upstream_cluster"] == f"outbound|80||{BANK}"
    assert {g.span.trace_id for g in spans} == {payment[0].span.trace_id}


def test_tcp_between_vms(run: Run) -> None:
    tcp = [g for g in run.spans if g.span.name == "TCP"]
    assert sorted(g.span.kind for g in tcp) == [SERVER, CLIENT]
    client = next(g for g in tcp if g.span.kind == CLIENT)
    server = next(g for g in tcp if g.span.kind == SERVER)
    assert client.span.trace_id == server.span.trace_id
    assert (client.resource["host.name"], server.resource["host.name"]) == ("vm-checkout-1", "vm-payment-7")
    assert server.attrs["service.peer.name"] == "checkout"


# -- metrics in the real stores ----------------------------------------------------------------


def _by(result: list[tuple[dict[str, str], float]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(m.get(label, "") for label in labels): v for m, v in result}


@pytest.mark.parametrize("store_name", ["victoria-metrics", "prometheus"])
def test_istio_metrics_for_vms_gateways_grpc_and_clusters(run: Run, store_name: str) -> None:
    store: _Store = run.vm if store_name == "victoria-metrics" else run.prom
    labels = ("reporter", "source_workload", "destination_workload", "request_protocol", "response_code")
    q = "sum by (reporter, source_workload, destination_workload, request_protocol, response_code) (istio_requests_total)"
    assert _by(store.query(q), *labels) == {
        ("source", "istio-ingressgateway", "frontend-v1", "http", "200"): 1,
        ("destination", "istio-ingressgateway", "frontend-v1", "http", "200"): 1,
        ("source", "frontend-v1", "checkout", "http", "200"): 1,
        ("destination", "frontend-v1", "checkout", "http", "200"): 1,
        ("source", "checkout", "payment", "http", "503"): 1,
        ("destination", "checkout", "payment", "http", "503"): 1,
        ("source", "checkout", "catalog-v3", "grpc", "200"): 2,
        ("destination", "checkout", "catalog-v3", "grpc", "200"): 2,
        ("source", "frontend-v1", "catalog-v3", "grpc", "200"): 1,
        ("destination", "frontend-v1", "catalog-v3", "grpc", "200"): 1,
        ("source", "payment", "unknown", "http", "200"): 1,  # to the egress gateway: no mx
        ("source", "istio-egressgateway", "unknown", "http", "200"): 1,  # to a service outside
        ("waypoint", "ratings-v1", "reviews-v2", "http", "200"): 1,  # ambient, through the waypoint
    }
    # what the dashboards and Kiali select VM workloads by
    q = 'sum by (source_canonical_service, source_canonical_revision, source_app, source_version, destination_canonical_service, destination_canonical_revision, destination_cluster) (istio_requests_total{reporter="destination", destination_workload="payment"})'
    ((metric, value),) = store.query(q)
    assert value == 1
    assert metric == {
        "source_canonical_service": "checkout",
        "source_canonical_revision": "v2",
        "source_app": "checkout",
        "source_version": "v2",
        "destination_canonical_service": "payment",
        "destination_canonical_revision": "v1",
        "destination_cluster": "cluster-1",
    }
    q = 'sum by (source_cluster, destination_cluster) (istio_requests_total{reporter="destination", destination_workload="catalog-v3"})'
    assert _by(store.query(q), "source_cluster", "destination_cluster") == {("cluster-1", "cluster-2"): 3}
    q = 'sum by (grpc_response_status) (istio_requests_total{request_protocol="grpc"})'
    assert _by(store.query(q), "grpc_response_status") == {("",): 6}  # not logged: left empty, as Istio
    q = 'sum(istio_tcp_connections_opened_total{reporter="destination", source_workload="checkout", destination_workload="payment"})'
    assert _by(store.query(q)) == {(): 1}
    q = 'sum by (destination_service) (istio_requests_total{reporter="source", source_workload="istio-egressgateway"})'
    assert _by(store.query(q), "destination_service") == {(BANK,): 1}
    q = 'sum by (destination_service, destination_canonical_service) (istio_requests_total{reporter="waypoint"})'
    assert _by(store.query(q), "destination_service", "destination_canonical_service") == {
        (_svc("reviews"), "reviews"): 1
    }


@pytest.mark.parametrize("store_name", ["victoria-metrics", "prometheus"])
def test_service_graph_and_span_metrics(run: Run, store_name: str) -> None:
    store: _Store = run.vm if store_name == "victoria-metrics" else run.prom
    q = "sum by (client, server, connection_type) (traces_service_graph_request_total)"
    assert _by(store.query(q), "client", "server", "connection_type") == {
        ("user", "istio-ingressgateway", "virtual_node"): 1,
        ("istio-ingressgateway", "frontend", ""): 1,
        ("frontend", "checkout", ""): 1,
        ("checkout", "payment", ""): 2,  # HTTP and TCP
        ("checkout", "catalog", ""): 2,
        ("frontend", "catalog", ""): 1,
        ("payment", "istio-egressgateway", "virtual_node"): 1,
        ("user", "istio-egressgateway", "virtual_node"): 1,  # no mTLS here: its caller is unnamed
        ("istio-egressgateway", BANK, "virtual_node"): 1,
        ("ratings", "reviews", ""): 1,  # counted from the waypoint's entry
    }
    q = "sum by (client, server) (traces_service_graph_request_failed_total)"
    assert _by(store.query(q), "client", "server") == {("checkout", "payment"): 1}
    q = 'sum by (span_name, span_kind) (traces_span_metrics_calls_total{service_name="catalog"})'
    assert _by(store.query(q), "span_name", "span_kind") == {(GRPC_NAME, "SPAN_KIND_SERVER"): 3}
    q = 'sum by (span_kind) (traces_span_metrics_calls_total{service_name="istio-ingressgateway"})'
    assert _by(store.query(q), "span_kind") == {("SPAN_KIND_SERVER",): 1, ("SPAN_KIND_CLIENT",): 1}
    q = "sum by (rpc_method, rpc_response_status_code) (rpc_client_call_duration_seconds_count)"
    assert _by(store.query(q), "rpc_method", "rpc_response_status_code") == {(GRPC_NAME, ""): 3}


def test_ambient_waypoint_names_both_ends(run: Run) -> None:
    spans = run.by_request("ambient")
    assert sorted(g.span.kind for g in spans) == [SERVER, CLIENT]
    received = next(g for g in spans if g.span.kind == SERVER)
    sent = next(g for g in spans if g.span.kind == CLIENT)
    for got in (received, sent):
        assert got.resource["service.name"] == "waypoint"
        assert got.resource["k8s.deployment.name"] == "waypoint"
    assert received.attrs["service.peer.name"] == "ratings"
    assert sent.attrs["service.peer.name"] == "reviews"
    assert sent.span.parent_span_id == received.span.span_id
    assert received.span.parent_span_id == b""  # ztunnel, the caller's side, logs nothing
