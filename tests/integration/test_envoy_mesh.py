"""Real Envoy sidecars -> real ALS -> the running bridge -> OTLP -> a real OTLP receiver.

Two Envoy processes act as Istio sidecars (client sidecar for workload a, server sidecar for
workload b), with Istio-style node metadata and cluster names; each request is tagged with its
own x-request-id so the test can find both of its spans.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bridge.demo import Mesh
from tests.support.bridge import running_bridge, traces_and_logs_config
from tests.support.otlp_sink import Got, OTLPSink, attributes

pytestmark = pytest.mark.envoy

CLIENT, SERVER = Span.SpanKind.SPAN_KIND_CLIENT, Span.SpanKind.SPAN_KIND_SERVER
ERROR, UNSET = Status.STATUS_CODE_ERROR, Status.STATUS_CODE_UNSET


@dataclass
class Traffic:
    """What the test sent, by name, and the request id each call carried."""

    reporters: str
    ids: dict[str, str]
    sink: OTLPSink
    mesh: Mesh

    def spans_of(self, name: str) -> list[Got]:
        rid = self.ids[name]
        return [
            Got(r, s) for r, s in self.sink.spans() if attributes(s.attributes).get("envoy.request_id") == rid
        ]

    def pair(self, name: str) -> tuple[Got, Got]:
        spans = self.spans_of(name)
        kinds = sorted(g.span.kind for g in spans)
        assert kinds == [SERVER, CLIENT], f"{name}: expected one CLIENT and one SERVER span, got {kinds}"
        client = next(g for g in spans if g.span.kind == CLIENT)
        server = next(g for g in spans if g.span.kind == SERVER)
        return client, server


def _send_traffic(mesh: Mesh) -> dict[str, str]:
    ids = {
        name: f"{name}-{uuid.uuid4()}"
        for name in ("ok", "unavailable", "no_route", "grpc_ok", "grpc_not_found")
    }
    assert mesh.http_get("/status/200", headers={"x-request-id": ids["ok"]}) == 200
    assert mesh.http_get("/status/503", headers={"x-request-id": ids["unavailable"]}) == 503
    assert mesh.http_get("/nowhere", headers={"x-request-id": ids["no_route"]}) == 404
    assert mesh.grpc_lookup("alice", metadata=[("x-request-id", ids["grpc_ok"])]) == grpc.StatusCode.OK
    assert (
        mesh.grpc_lookup("nobody", metadata=[("x-request-id", ids["grpc_not_found"])])
        == grpc.StatusCode.NOT_FOUND
    )
    assert mesh.tcp_roundtrip(b"hello over tcp\n") == b"hello over tcp\n"
    return ids


def _expected_span_count(reporters: str) -> int:
    if reporters == "both":
        # 4 requests x 2 spans, the no-route request's CLIENT span, TCP client + server span
        return 4 * 2 + 1 + 2
    # only the server sidecar logs: the no-route request (answered by the client sidecar) has
    # no entry at all, and TCP carries no mx metadata to synthesize a CLIENT span from
    return 4 * 2 + 1


@pytest.fixture(scope="module", params=["both", "server_side"])
def traffic(request: pytest.FixtureRequest) -> Iterator[Traffic]:
    reporters: str = request.param
    with OTLPSink() as sink:
        # both: OTLP/gRPC; server_side: OTLP/HTTP, so both exporters see real Envoy traffic
        exporter = (
            {"otlp_grpc": sink.grpc_endpoint} if reporters == "both" else {"otlp_http": sink.http_endpoint}
        )
        config = traces_and_logs_config(reporters=reporters, **exporter)
        with running_bridge(config) as service:
            port = service.receivers[0].port
            with Mesh(als_address=f"127.0.0.1:{port}", reporters=reporters) as mesh:
                ids = _send_traffic(mesh)
                want = _expected_span_count(reporters)
                assert sink.wait_for(lambda: len(sink.spans()) >= want, timeout=20), (
                    f"got {len(sink.spans())} spans, want {want}"
                )
                yield Traffic(reporters, ids, sink, mesh)


def test_every_request_is_one_client_and_one_server_span_in_one_trace(traffic: Traffic) -> None:
    for name in ("ok", "unavailable", "grpc_ok", "grpc_not_found"):
        client, server = traffic.pair(name)
        assert client.span.trace_id == server.span.trace_id, name
        assert server.span.parent_span_id == client.span.span_id, name
    all_ids = [s.span_id for _, s in traffic.sink.spans()]
    assert len(all_ids) == len(set(all_ids)), "a span id appears twice"


def test_resources_are_the_workloads_of_both_ends(traffic: Traffic) -> None:
    a, b = Mesh.node_metadata("a"), Mesh.node_metadata("b")
    client, server = traffic.pair("ok")
    assert client.resource["service.name"] == "a"
    assert client.resource["service.namespace"] == "demo"
    assert client.resource["k8s.namespace.name"] == "demo"
    assert client.resource["service.version"] == "v1"
    assert client.resource["k8s.deployment.name"] == a["WORKLOAD_NAME"]
    assert client.resource["k8s.cluster.name"] == a["CLUSTER_ID"]
    assert server.resource["service.name"] == "b"
    assert server.resource["k8s.deployment.name"] == b["WORKLOAD_NAME"]
    assert server.resource["k8s.pod.name"] == b["NAME"]
    assert server.resource["service.instance.id"] == f"{b['NAME']}.demo"
    assert client.attrs["service.peer.name"] == "b"
    assert server.attrs["service.peer.name"] == "a"


def test_http_attributes_and_status(traffic: Traffic) -> None:
    client, server = traffic.pair("ok")
    assert client.span.name == server.span.name == "GET"
    assert client.attrs["http.request.method"] == "GET"
    assert client.attrs["url.path"] == server.attrs["url.path"] == "/status/200"
    assert client.attrs["http.response.status_code"] == 200
    if traffic.reporters == "both":
        assert client.attrs["envoy.upstream_cluster"] == "outbound|8080||b.demo.svc.cluster.local"
    else:  # synthesized from the server's entry: no client-side Envoy facts to report
        assert "envoy.upstream_cluster" not in client.attrs
        assert client.attrs["als_bridge.synthesized"] is True
    assert server.attrs["envoy.upstream_cluster"].startswith("inbound|")
    assert client.span.status.code == server.span.status.code == UNSET
    assert client.span.end_time_unix_nano >= client.span.start_time_unix_nano > 0
    client, server = traffic.pair("unavailable")
    assert client.span.status.code == server.span.status.code == ERROR
    assert client.attrs["error.type"] == "503"


def test_no_route_is_a_client_span_only_with_envoy_flags(traffic: Traffic) -> None:
    spans = traffic.spans_of("no_route")
    if traffic.reporters == "server_side":
        assert spans == []  # the client sidecar answered it and reports nothing in this mode
        return
    assert [g.span.kind for g in spans] == [CLIENT]
    (client,) = spans
    assert client.resource["service.name"] == "a"
    assert client.attrs["http.response.status_code"] == 404
    assert client.attrs["envoy.response_flags"] == "NR"
    assert client.attrs["envoy.response_code_details"] == "route_not_found"
    assert client.span.status.code == ERROR


def test_grpc_status_per_side(traffic: Traffic) -> None:
    client, server = traffic.pair("grpc_ok")
    assert client.span.name == "demo.Greeter/Lookup"
    assert client.attrs["rpc.system.name"] == "grpc"
    assert client.attrs["rpc.response.status_code"] == "OK"
    client, server = traffic.pair("grpc_not_found")  # trailers-only reply: grpc-status in headers
    assert client.attrs["rpc.response.status_code"] == server.attrs["rpc.response.status_code"] == "NOT_FOUND"
    assert client.span.status.code == ERROR
    assert server.span.status.code == UNSET


def test_tcp_connection_spans(traffic: Traffic) -> None:
    tcp = [(r, s) for r, s in traffic.sink.spans() if s.name == "TCP"]
    kinds = sorted(s.kind for _, s in tcp)
    payload = len(b"hello over tcp\n")
    if traffic.reporters == "server_side":
        assert kinds == [SERVER]
        resource, server = tcp[0]
        assert resource["service.name"] == "b"
        assert attributes(server.attributes)["envoy.tcp.received_bytes"] == payload
        return
    assert kinds == [SERVER, CLIENT]
    by_kind = {s.kind: (r, s) for r, s in tcp}
    (client_res, client), (server_res, server) = by_kind[CLIENT], by_kind[SERVER]
    assert client.trace_id == server.trace_id
    assert (client_res["service.name"], server_res["service.name"]) == ("a", "b")
    assert attributes(server.attributes)["envoy.tcp.received_bytes"] == payload
    assert attributes(server.attributes)["envoy.tcp.sent_bytes"] == payload


def test_log_records_carry_their_span_ids(traffic: Traffic) -> None:
    assert traffic.sink.wait_for(lambda: len(traffic.sink.logs) > 0, timeout=10)
    span_ids = {(s.trace_id, s.span_id) for _, s in traffic.sink.spans()}
    records = [
        lr
        for request in traffic.sink.logs
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for lr in sl.log_records
    ]
    assert records
    for record in records:
        assert (record.trace_id, record.span_id) in span_ids or record.span_id == b""
    ok = [r for r in records if attributes(r.attributes).get("envoy.request_id") == traffic.ids["ok"]]
    assert {attributes(r.attributes)["envoy.log_type"] for r in ok} == {"http"}
