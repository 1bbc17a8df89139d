"""Golden test: the hand-written wire encoder gives the same OTLP as the protobuf API.

The pipeline writes trace requests directly in wire format (`bridge.otlp_wire`); the reference
(`bridge.otlp.encode_traces_reference`) builds the same request with protobuf objects. Both are
parsed and compared message by message, for a corpus of real conversions and for generated spans.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bridge.decode import EntryView
from bridge.identity import Direction, Ends, IdentitySource, Workload
from bridge.otlp import encode_traces_reference
from bridge.otlp_wire import encode_traces
from bridge.spans import build_spans
from bridge.spans.data import SpanData, span_data

A = Workload(
    service="a", namespace="demo", workload="a-v1", instance="a-1", cluster="K", source=IdentitySource.NODE
)
B = Workload(service="b", namespace="demo", workload="b-v1", instance="b-1", source=IdentitySource.NODE)
VM = Workload(
    service="legacy",
    namespace="vms",
    workload="legacy",
    instance="vm-7",
    is_vm=True,
    source=IdentitySource.NODE,
)
PEERS = [
    Workload(service="b", namespace="demo", workload="b-v1", source=IdentitySource.STRUCT),
    Workload(service="a", namespace="demo", workload="a-v1", source=IdentitySource.FLATNODE),
    Workload(service="db", source=IdentitySource.STATIC),
    Workload(service="api.example.com", source=IdentitySource.AUTHORITY),
    Workload(ip="10.1.2.3", source=IdentitySource.UNKNOWN),
    Workload(),
]


def _views() -> list[EntryView]:
    base: dict[str, Any] = dict(
        is_tcp=False,
        start_ns=1_700_000_000_123_456_789,
        last_downstream_tx_ns=4_000_000,
        method="GET",
        scheme="http",
        authority="b.demo:8080",
        path="/x?y=1",
        request_id="rid-1",
        protocol_version="1.1",
        response_code=200,
        upstream_cluster="outbound|8080||b.demo.svc.cluster.local",
        upstream_remote_ip="10.0.0.2",
        upstream_remote_port=8080,
        downstream_remote_ip="10.0.0.1",
        downstream_remote_port=51000,
    )
    grpc = {"content-type": "application/grpc"}
    return [
        EntryView(**base),
        EntryView(**{**base, "response_code": 503, "response_flags": "UF,URX", "user_agent": "ünïcode/1 ☃"}),
        EntryView(**{**base, "response_code": 0, "last_downstream_tx_ns": -1, "request_id": ""}),
        EntryView(
            **{
                **base,
                "request_headers": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
            }
        ),
        EntryView(
            **{**base, "request_headers": grpc, "response_headers": {"grpc-status": "5"}, "path": "/p.S/M"}
        ),
        EntryView(
            **{**base, "request_body_bytes": 2**64 - 1, "response_body_bytes": 2**40, "attempt_count": 3}
        ),
        EntryView(
            is_tcp=True,
            start_ns=1,
            duration_ns=9,
            tcp_received_bytes=5,
            tcp_sent_bytes=0,
            response_flags="UF",
        ),
        EntryView(**{**base, "authority": "", "scheme": "", "method": ""}),
    ]


def _corpus() -> list[tuple[Workload, SpanData]]:
    items: list[tuple[Workload, SpanData]] = []
    for view in _views():
        for local in (A, B, VM):
            for peer in PEERS:
                for direction in Direction:
                    ends = Ends(local=local, peer=peer, direction=direction, peer_error="")
                    for mode in ("both", "server_side"):
                        items.extend(build_spans(view, ends, mode).spans)  # type: ignore[arg-type]
    return items


def _parse(request: Any) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(request.SerializeToString())


def test_corpus_encodes_identically() -> None:
    items = _corpus()
    assert len(items) > 300
    fast, reference = _parse(encode_traces(items)), _parse(encode_traces_reference(items))
    assert len(fast.resource_spans) == len(reference.resource_spans)
    for got, want in zip(fast.resource_spans, reference.resource_spans, strict=True):
        assert got.resource == want.resource
        assert got.schema_url == want.schema_url
        for got_scope, want_scope in zip(got.scope_spans, want.scope_spans, strict=True):
            assert got_scope.scope == want_scope.scope
            for got_span, want_span in zip(got_scope.spans, want_scope.spans, strict=True):
                assert got_span == want_span
    assert fast == reference
    assert encode_traces(items).items == len(items)


_values = st.one_of(
    st.text(max_size=40),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.floats(allow_nan=False),
)
_spans = st.builds(
    span_data,
    trace_id=st.binary(min_size=16, max_size=16),
    span_id=st.binary(min_size=8, max_size=8),
    parent_span_id=st.one_of(st.just(b""), st.binary(min_size=8, max_size=8)),
    name=st.text(max_size=30),
    kind=st.sampled_from([0, 2, 3]),
    start_time_unix_nano=st.integers(min_value=0, max_value=2**63 - 1),
    end_time_unix_nano=st.integers(min_value=0, max_value=2**63 - 1),
    attributes=st.lists(st.tuples(st.text(max_size=20), _values), max_size=12),
    status_code=st.sampled_from([0, 2]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([A, B, VM, *PEERS]), _spans), min_size=1, max_size=8))
def test_generated_spans_encode_identically(items: list[tuple[Workload, SpanData]]) -> None:
    assert _parse(encode_traces(items)) == _parse(encode_traces_reference(items))
