"""Span mapping: kinds, pairing, status per side, attributes, timing, both reporter modes."""

from __future__ import annotations

from typing import Any

from bridge.decode import EntryView
from bridge.identity import Direction, Ends, IdentitySource, Workload
from bridge.spans import build_spans
from bridge.spans.builder import HTTP_KEYS, TCP_KEYS, HttpDynamic, TcpDynamic
from bridge.spans.data import SPAN_KIND_CLIENT, SPAN_KIND_SERVER, STATUS_ERROR, STATUS_UNSET, SpanData

A = Workload(service="a", namespace="demo", workload="a-v1", instance="a-v1-1", source=IdentitySource.NODE)
B = Workload(service="b", namespace="demo", workload="b-v1", instance="b-v1-1", source=IdentitySource.NODE)
# B and A as the other side names them through metadata exchange
B_PEER = Workload(service="b", namespace="demo", workload="b-v1", source=IdentitySource.HEADER)
A_PEER = Workload(service="a", namespace="demo", workload="a-v1", source=IdentitySource.STRING)
EXTERNAL = Workload(service="api.example.com", source=IdentitySource.AUTHORITY)
UNKNOWN = Workload()

START = 1_700_000_000_000_000_000
MS = 1_000_000


def http_view(**overrides: Any) -> EntryView:
    fields: dict[str, Any] = dict(
        is_tcp=False,
        start_ns=START,
        last_downstream_tx_ns=12 * MS,
        method="GET",
        scheme="http",
        authority="b.demo:8080",
        path="/status/200?x=1",
        request_id="6f2c1c2e-rid",
        protocol_version="1.1",
        user_agent="curl/8",
        response_code=200,
        upstream_cluster="outbound|8080||b.demo.svc.cluster.local",
        upstream_remote_ip="10.0.0.2",
        upstream_remote_port=8080,
        downstream_remote_ip="10.0.0.1",
        downstream_remote_port=40000,
        downstream_local_ip="10.0.0.2",
        downstream_local_port=8080,
        route_name="default",
    )
    fields.update(overrides)
    return EntryView(**fields)


def grpc_view(code: str | None, *, trailers: bool, http_status: int = 200, **overrides: Any) -> EntryView:
    headers = {"content-type": "application/grpc"}
    trailer_map: dict[str, str] = {}
    if code is not None:
        (trailer_map if trailers else headers)["grpc-status"] = code
    return http_view(
        method="POST",
        path="/demo.Greeter/Lookup",
        response_code=http_status,
        request_headers={"content-type": "application/grpc"},
        response_headers=headers,
        response_trailers=trailer_map,
        protocol_version="2",
        **overrides,
    )


def outbound(peer: Workload = B_PEER) -> Ends:
    return Ends(local=A, peer=peer, direction=Direction.OUTBOUND, peer_error="")


def inbound(peer: Workload = A_PEER) -> Ends:
    return Ends(local=B, peer=peer, direction=Direction.INBOUND, peer_error="")


def only(spans: list[tuple[Workload, SpanData]]) -> tuple[Workload, SpanData]:
    assert len(spans) == 1
    return spans[0]


def test_outbound_entry_is_one_client_span_of_the_source_workload() -> None:
    resource, span = only(build_spans(http_view(), outbound(), "both").spans)
    attrs = dict(span.attributes)
    assert resource == A
    assert span.kind == SPAN_KIND_CLIENT
    assert span.name == "GET"
    assert span.status_code == STATUS_UNSET
    assert attrs["http.request.method"] == "GET"
    assert attrs["url.path"] == "/status/200"
    assert attrs["url.query"] == "x=1"
    assert attrs["url.full"] == "http://b.demo:8080/status/200?x=1"
    assert attrs["http.response.status_code"] == 200
    assert (attrs["server.address"], attrs["server.port"]) == ("b.demo", 8080)
    assert (attrs["network.peer.address"], attrs["network.peer.port"]) == ("10.0.0.2", 8080)
    assert attrs["network.protocol.version"] == "1.1"
    assert attrs["user_agent.original"] == "curl/8"
    assert attrs["envoy.upstream_cluster"] == "outbound|8080||b.demo.svc.cluster.local"
    assert attrs["envoy.route_name"] == "default"
    assert attrs["service.peer.name"] == "b"
    assert span.end_time_unix_nano - span.start_time_unix_nano == 12 * MS


def test_inbound_entry_is_a_server_span_whose_parent_is_the_client_span() -> None:
    _, client = only(build_spans(http_view(), outbound(), "both").spans)
    resource, server = only(build_spans(http_view(), inbound(), "both").spans)
    attrs = dict(server.attributes)
    assert resource == B
    assert server.kind == SPAN_KIND_SERVER
    assert server.trace_id == client.trace_id
    assert server.parent_span_id == client.span_id
    assert server.span_id != client.span_id
    assert client.parent_span_id == b""  # no caller span was propagated
    assert attrs["client.address"] == "10.0.0.1"
    assert attrs["service.peer.name"] == "a"


def test_logged_traceparent_sets_trace_and_client_parent() -> None:
    headers = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    _, client = only(build_spans(http_view(request_headers=headers), outbound(), "both").spans)
    _, server = only(build_spans(http_view(request_headers=headers), inbound(), "both").spans)
    assert client.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert client.parent_span_id.hex() == "00f067aa0ba902b7"
    assert server.parent_span_id == client.span_id


def test_retries_reach_the_server_as_distinct_spans_under_one_client_span() -> None:
    first = only(
        build_spans(http_view(request_headers={"x-envoy-attempt-count": "1"}), inbound(), "both").spans
    )[1]
    second = only(
        build_spans(http_view(request_headers={"x-envoy-attempt-count": "2"}), inbound(), "both").spans
    )[1]
    assert first.span_id != second.span_id
    assert first.parent_span_id == second.parent_span_id


def test_hops_that_share_a_request_id_do_not_share_span_ids() -> None:
    """A forwards x-request-id to B, B forwards it to C: two different client spans."""
    _, a_to_b = only(build_spans(http_view(), outbound(), "both").spans)
    b_ends = Ends(
        local=B,
        peer=Workload(service="c", source=IdentitySource.HEADER),
        direction=Direction.OUTBOUND,
        peer_error="",
    )
    _, b_to_c = only(build_spans(http_view(authority="c.demo:8080"), b_ends, "both").spans)
    assert a_to_b.trace_id == b_to_c.trace_id
    assert a_to_b.span_id != b_to_c.span_id


def test_http_status_rules_per_side() -> None:
    def status(code: int, ends: Ends) -> tuple[int, str | None]:
        _, span = only(build_spans(http_view(response_code=code), ends, "both").spans)
        return span.status_code, dict(span.attributes).get("error.type")

    err, unset = STATUS_ERROR, STATUS_UNSET
    assert status(503, outbound()) == (err, "503")
    assert status(503, inbound()) == (err, "503")
    assert status(404, outbound()) == (err, "404")
    assert status(404, inbound()) == (unset, None)
    assert status(302, outbound()) == (unset, None)


def test_no_response_is_an_error_named_by_the_response_flags() -> None:
    view = http_view(response_code=0, response_flags="UF,URX", last_downstream_tx_ns=-1, duration_ns=3 * MS)
    _, span = only(build_spans(view, outbound(), "both").spans)
    assert span.status_code == STATUS_ERROR
    assert dict(span.attributes)["error.type"] == "UF,URX"
    assert span.end_time_unix_nano == START + 3 * MS  # falls back to `duration`


def test_grpc_trailers_only_not_found_is_a_client_error_but_not_a_server_error() -> None:
    view = grpc_view("5", trailers=False)
    _, client = only(build_spans(view, outbound(), "both").spans)
    _, server = only(build_spans(view, inbound(), "both").spans)
    client_attrs = dict(client.attributes)
    assert client.name == "demo.Greeter/Lookup"
    assert client_attrs["rpc.system.name"] == "grpc"
    assert client_attrs["rpc.method"] == "demo.Greeter/Lookup"
    assert client_attrs["rpc.response.status_code"] == "NOT_FOUND"
    assert client.status_code == STATUS_ERROR
    assert client_attrs["error.type"] == "NOT_FOUND"
    assert server.status_code == STATUS_UNSET


def test_grpc_status_in_trailers_and_server_error_codes() -> None:
    ok = only(build_spans(grpc_view("0", trailers=True), outbound(), "both").spans)[1]
    assert ok.status_code == STATUS_UNSET
    assert dict(ok.attributes)["rpc.response.status_code"] == "OK"
    internal = only(build_spans(grpc_view("13", trailers=True), inbound(), "both").spans)[1]
    assert internal.status_code == STATUS_ERROR
    # an HTTP 503 with no grpc-status logged: no invented code, the HTTP rules decide
    unavailable = only(build_spans(grpc_view(None, trailers=True, http_status=503), inbound(), "both").spans)[
        1
    ]
    attrs = dict(unavailable.attributes)
    assert "rpc.response.status_code" not in attrs
    assert attrs["als_bridge.grpc_status_logged"] is False
    assert unavailable.status_code == STATUS_ERROR
    assert attrs["error.type"] == "503"


def test_grpc_without_any_logged_header_is_recognised_by_http2_post_and_path() -> None:
    """What Istio's default ALS config logs: no content-type, no grpc-status."""
    view = http_view(method="POST", path="/demo.Greeter/Lookup", protocol_version="2", response_code=200)
    _, client = only(build_spans(view, outbound(), "both").spans)
    attrs = dict(client.attributes)
    assert client.name == "demo.Greeter/Lookup"
    assert attrs["rpc.system.name"] == "grpc"
    assert attrs["rpc.method"] == "demo.Greeter/Lookup"
    assert "rpc.response.status_code" not in attrs
    assert attrs["als_bridge.grpc_status_logged"] is False
    assert client.status_code == STATUS_UNSET  # HTTP 200: the HTTP rules


def test_server_side_mode_synthesizes_the_client_span_from_the_caller_metadata() -> None:
    spans = build_spans(http_view(), inbound(), "server_side").spans
    assert len(spans) == 2
    (server_res, server), (client_res, client) = spans
    assert (server_res, client_res) == (B, A_PEER)
    assert client.kind == SPAN_KIND_CLIENT
    assert server.parent_span_id == client.span_id
    # the same ids as the client sidecar would have produced in `both` mode
    _, real_client = only(build_spans(http_view(), outbound(), "both").spans)
    assert client.span_id == real_client.span_id
    assert dict(client.attributes)["service.peer.name"] == "b"
    assert dict(client.attributes)["als_bridge.synthesized"] is True


def test_caller_without_mx_metadata_gives_a_server_span_with_no_dangling_parent() -> None:
    for mode in ("both", "server_side"):
        _, span = only(build_spans(http_view(), inbound(UNKNOWN), mode).spans)  # type: ignore[arg-type]
        assert span.kind == SPAN_KIND_SERVER
        assert span.parent_span_id == b""


def test_destination_without_sidecar_gives_a_client_span_only() -> None:
    ends = outbound(EXTERNAL)
    assert len(build_spans(http_view(), ends, "both").spans) == 1
    resource, span = only(build_spans(http_view(), ends, "server_side").spans)
    assert resource == A and span.kind == SPAN_KIND_CLIENT
    # ...while a meshed destination's call is left to its server sidecar in server_side mode
    assert build_spans(http_view(), outbound(), "server_side").spans == []


def test_tcp_connection_sides_pair_by_socket_addresses() -> None:
    common = dict(
        is_tcp=True,
        start_ns=START,
        duration_ns=50 * MS,
        upstream_cluster="outbound|9000||b-tcp.demo.svc.cluster.local",
    )
    client_view = EntryView(
        **common,  # type: ignore[arg-type]
        upstream_local_ip="10.0.0.1",
        upstream_local_port=5555,
        upstream_remote_ip="10.0.0.2",
        upstream_remote_port=9000,
        tcp_received_bytes=11,
        tcp_sent_bytes=22,
    )
    server_view = EntryView(
        **common,  # type: ignore[arg-type]
        downstream_remote_ip="10.0.0.1",
        downstream_remote_port=5555,
        downstream_local_ip="10.0.0.2",
        downstream_local_port=9000,
        tcp_received_bytes=22,
        tcp_sent_bytes=11,
    )
    _, client = only(build_spans(client_view, outbound(), "both").spans)
    _, server = only(build_spans(server_view, inbound(), "both").spans)
    attrs = dict(client.attributes)
    assert client.name == "TCP"
    assert (attrs["envoy.tcp.received_bytes"], attrs["envoy.tcp.sent_bytes"]) == (11, 22)
    assert attrs["network.transport"] == "tcp"
    assert server.trace_id == client.trace_id
    assert server.parent_span_id == client.span_id
    assert server.end_time_unix_nano == START + 50 * MS


def test_tcp_connect_failure_is_an_error() -> None:
    view = EntryView(is_tcp=True, start_ns=START, response_flags="UF")
    _, span = only(build_spans(view, outbound(EXTERNAL), "both").spans)
    assert span.status_code == STATUS_ERROR
    assert dict(span.attributes)["error.type"] == "UF"


def test_dynamic_values_read_by_name_are_what_the_entry_logged() -> None:
    view = http_view(request_body_bytes=11, response_body_bytes=22, attempt_count=3)
    _, span = only(build_spans(view, outbound(), "both").spans)
    values = HttpDynamic._make(span.dynamic_values)
    assert values == HttpDynamic(
        path="/status/200",
        query="x=1",
        request_body_size=11,
        response_body_size=22,
        request_id="6f2c1c2e-rid",
        attempt_count=3,
        peer_port=8080,
        url="http://b.demo:8080/status/200?x=1",
    )
    assert span.shape.dynamic_keys == tuple(HTTP_KEYS)
    assert dict(span.dynamic) == {k: v for k, v in zip(HTTP_KEYS, values, strict=True)}


def test_tcp_dynamic_values_read_by_name() -> None:
    view = EntryView(is_tcp=True, start_ns=START, upstream_remote_ip="10.0.0.2", upstream_remote_port=9000,
                     tcp_received_bytes=11, tcp_sent_bytes=22)  # fmt: skip
    _, span = only(build_spans(view, outbound(), "both").spans)
    assert TcpDynamic._make(span.dynamic_values) == TcpDynamic(
        received_bytes=11, sent_bytes=22, peer_port=9000
    )
    assert span.shape.dynamic_keys == tuple(TCP_KEYS)


GATEWAY = Workload(
    service="istio-ingressgateway",
    namespace="istio-system",
    workload="istio-ingressgateway",
    instance="istio-ingressgateway-1",
    is_gateway=True,
    source=IdentitySource.NODE,
)


def test_a_gateway_entry_is_the_server_span_it_received_and_its_client_child() -> None:
    ends = Ends(local=GATEWAY, peer=B_PEER, direction=Direction.OUTBOUND, peer_error="")
    span_set = build_spans(http_view(), ends, "both")
    (res_s, received), (res_c, sent) = span_set.spans
    assert res_s is res_c is GATEWAY
    assert (received.kind, sent.kind) == (SPAN_KIND_SERVER, SPAN_KIND_CLIENT)
    assert received.parent_span_id == b""  # no trace context logged: the root
    assert sent.parent_span_id == received.span_id
    assert received.trace_id == sent.trace_id
    assert received.attribute("service.peer.name") is None  # its caller is not known
    assert sent.attribute("service.peer.name") == "b"
    assert span_set.own is sent
    # the destination's SERVER span pairs with the gateway's CLIENT span
    caller = Workload(
        service="istio-ingressgateway", namespace="istio-system", workload="istio-ingressgateway",
        source=IdentitySource.STRUCT,
    )  # fmt: skip
    inbound_ends = Ends(local=B, peer=caller, direction=Direction.INBOUND, peer_error="")
    ((_, server),) = build_spans(http_view(), inbound_ends, "both").spans
    assert server.parent_span_id == sent.span_id
    # server_side mode: the destination synthesizes the CLIENT span; the gateway keeps its SERVER span
    ((_, only_received),) = build_spans(http_view(), ends, "server_side").spans
    assert only_received.kind == SPAN_KIND_SERVER
