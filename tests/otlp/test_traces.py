"""Golden test: the hand-written wire encoder gives the same OTLP as the protobuf API.

The pipeline writes trace requests directly in wire format (`bridge.otlp.traces`); the reference
(`tests.otlp.reference.encode_traces_reference`) builds the same request with protobuf objects. Both are
parsed and compared message by message, for a corpus of real conversions and for generated spans.

The corpus goes through the fast path (`build_spans` with its cached plans and shapes, then
`encode_traces`) and through the reference conversion (`tests/spans/reference.py`: one plain
attribute list per span, then the protobuf API); both must give the same OTLP.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bridge.decode import EntryView
from bridge.identity import Direction, Ends, IdentitySource, Workload
from bridge.otlp import TraceEncoder
from bridge.spans import build_spans, builder
from bridge.spans.data import SpanData, span_data
from tests.otlp.reference import encode_traces_reference
from tests.spans.reference import reference_facts, reference_spans


def encode_traces(items: list[tuple[Workload, SpanData]]) -> Any:
    return TraceEncoder().encode(items)


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


def _http_base(rng: random.Random) -> dict[str, Any]:
    return dict(
        is_tcp=False,
        start_ns=1_700_000_000_123_456_789 + rng.randrange(10**9),
        last_downstream_tx_ns=rng.randrange(1, 4_000_000),
        method="GET",
        scheme="http",
        authority="b.demo:8080",
        path=f"/x/{rng.randrange(5)}?y={rng.randrange(1000)}",
        request_id=f"rid-{rng.randrange(10**6)}",
        protocol_version="1.1",
        response_code=200,
        upstream_cluster="outbound|8080||b.demo.svc.cluster.local",
        route_name="default",
        upstream_remote_ip="10.0.0.2",
        upstream_remote_port=8080,
        downstream_remote_ip="10.0.0.1",
        downstream_remote_port=rng.randrange(30000, 60000),
        downstream_local_ip="10.0.0.2",
        downstream_local_port=8080,
        request_body_bytes=rng.choice([0, 17, 2**40]),
        response_body_bytes=rng.choice([0, 5, 2**64 - 1]),
    )


TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
GRPC = {"content-type": "application/grpc"}
# Variations of one HTTP entry, each a change from the base: trace headers of every kind and
# none, retries, errors, response flags, gRPC statuses, IPv6 and port-less authorities, ...
HTTP_VARIANTS: list[dict[str, Any]] = [
    {},
    {"request_headers": {"traceparent": TRACEPARENT}},
    {"request_headers": {"b3": "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"}},
    {"request_headers": {"x-b3-traceid": "64fe8b2a57d3eff7", "x-b3-spanid": "e457b5a2e4d86bd1"}},
    {"request_headers": {"traceparent": "ff-bad"}},
    {"request_id": "", "request_headers": {}},  # no context at all: random ids
    {"request_headers": {"x-envoy-attempt-count": "2"}, "attempt_count": 3},
    {"response_code": 503, "response_flags": "UF,URX", "user_agent": "ünïcode/1 ☃"},
    {"response_code": 404, "response_code_details": "route_not_found"},
    {"response_code": 0, "last_downstream_tx_ns": -1, "duration_ns": 7, "response_flags": "UC"},
    {"response_code": 0, "last_downstream_tx_ns": -1},
    {"authority": "[fd00::1]:9090", "upstream_remote_ip": "fd00::1"},
    {"authority": "[fd00::2]", "scheme": "https"},
    {"authority": "api.example.com", "scheme": "https", "path": "/"},
    {"authority": "odd:port", "scheme": "ftp"},
    {"authority": "", "scheme": "", "method": ""},
    {"downstream_direct_remote_ip": "10.9.9.9", "protocol_version": "2"},
    {"downstream_remote_ip": "", "downstream_local_ip": "", "upstream_remote_ip": ""},
    {"connection_termination_details": "rbac_denied", "upstream_transport_failure_reason": "TLS"},
    {"request_headers": GRPC, "response_trailers": {"grpc-status": "0"}, "path": "/p.S/M"},
    {"request_headers": GRPC, "response_headers": {"grpc-status": "5"}, "path": "/p.S/M"},
    {"request_headers": GRPC, "response_trailers": {"grpc-status": "13"}, "path": "/p.S/N"},
    {"request_headers": GRPC, "response_code": 503, "path": "/p.S/M"},
    {"request_headers": GRPC, "response_trailers": {"grpc-status": "x"}, "path": "/"},
    {"request_headers": {**GRPC, "traceparent": TRACEPARENT}, "path": "/p.S/M?q"},
]


# One static field changed at a time, on a base with a full authority and on one without (where
# the socket addresses stand in for it): each must give its own cached plan, so the corpus fails
# if a field that a static attribute is made from were left out of the plan's key.
SINGLE_FIELD_CHANGES: list[dict[str, Any]] = [
    {"is_tcp": True},
    {"method": "POST"},
    {"scheme": "https"},
    {"authority": "c.demo:8080"},
    {"response_code": 201},
    {"protocol_version": "2"},
    {"user_agent": "curl/8"},
    {"response_code_details": "via_upstream"},
    {"response_flags": "DC"},
    {"upstream_cluster": "outbound|80||c.demo.svc.cluster.local"},
    {"route_name": "other"},
    {"connection_termination_details": "closed"},
    {"upstream_transport_failure_reason": "reset"},
    {"upstream_remote_ip": "10.0.0.7"},
    {"upstream_remote_port": 9999},
    {"downstream_local_ip": "10.0.0.8"},
    {"downstream_local_port": 9998},
    {"downstream_remote_ip": "10.0.0.9"},
    {"downstream_direct_remote_ip": "10.0.0.10"},
]
NO_AUTHORITY = {"authority": "", "scheme": ""}


def _tcp_view(rng: random.Random, flags: str) -> EntryView:
    return EntryView(
        is_tcp=True,
        start_ns=1 + rng.randrange(10**6),
        duration_ns=rng.randrange(1, 10**6),
        tcp_received_bytes=rng.randrange(0, 10**6),
        tcp_sent_bytes=rng.choice([0, 9]),
        response_flags=flags,
        upstream_cluster="outbound|9000||db.demo.svc.cluster.local",
        upstream_local_ip="10.0.0.1",
        upstream_local_port=rng.randrange(30000, 60000),
        upstream_remote_ip="10.0.0.3",
        upstream_remote_port=9000,
        downstream_remote_ip="10.0.0.1",
        downstream_remote_port=rng.randrange(30000, 60000),
        downstream_local_ip="10.0.0.3",
        downstream_local_port=9000,
    )


def _views(rng: random.Random) -> list[EntryView]:
    views = [EntryView(**{**_http_base(rng), **variant}) for variant in HTTP_VARIANTS]
    for base in ({}, NO_AUTHORITY):
        views.append(EntryView(**{**_http_base(rng), **base}))
        views += [EntryView(**{**_http_base(rng), **base, **change}) for change in SINGLE_FIELD_CHANGES]
    views += [_tcp_view(rng, flags) for flags in ("", "UF", "UH,DC", "DC")]
    return views


# Equal to A but another object: caches keyed by object identity must still give A's output.
A_TWIN = Workload(**{f: getattr(A, f) for f in A.__dataclass_fields__})
LOCALS = (A, B, VM, A_TWIN)
_ZERO_RANDOM = bytes(range(1, 33))


def _conversions(rounds: int = 2) -> list[tuple[EntryView, Ends, str]]:
    """Every view with every pair of ends, direction and reporters mode, `rounds` times over
    with fresh per-entry values (the second round finds the static parts cached)."""
    rng = random.Random(5)
    out = []
    for _ in range(rounds):
        for view in _views(rng):
            for local in LOCALS:
                for peer in PEERS:
                    for direction in Direction:
                        ends = Ends(local=local, peer=peer, direction=direction, peer_error="")
                        for mode in ("both", "server_side"):
                            out.append((view, ends, mode))
    return out


def _parse(request: Any) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest.FromString(request.SerializeToString())


def test_fast_path_gives_the_same_otlp_as_the_reference_conversion(monkeypatch: Any) -> None:
    """The golden test: build_spans + encode_traces against a plain per-span attribute list
    encoded with the protobuf API, for the whole corpus, message by message."""
    monkeypatch.setattr(builder, "_random_bytes", lambda n: _ZERO_RANDOM[:n])
    fast: list[tuple[Workload, SpanData]] = []
    reference: list[tuple[Workload, SpanData]] = []
    for view, ends, mode in _conversions():
        span_set = build_spans(view, ends, mode)  # type: ignore[arg-type]
        fast.extend(span_set.spans)
        reference.extend(reference_spans(view, ends, mode, lambda n: _ZERO_RANDOM[:n]))
        assert span_set.attributes == reference_facts(view)
    assert len(fast) > 2000
    got, want = _parse(encode_traces(fast)), _parse(encode_traces_reference(reference))
    assert len(got.resource_spans) == len(want.resource_spans)
    for got_rs, want_rs in zip(got.resource_spans, want.resource_spans, strict=True):
        assert got_rs.resource == want_rs.resource
        assert got_rs.schema_url == want_rs.schema_url
        for got_scope, want_scope in zip(got_rs.scope_spans, want_rs.scope_spans, strict=True):
            assert got_scope.scope == want_scope.scope
            for got_span, want_span in zip(got_scope.spans, want_scope.spans, strict=True):
                assert got_span == want_span
    assert got == want
    assert encode_traces(fast).items == len(fast)


def test_wire_and_protobuf_encoders_agree_on_built_spans() -> None:
    """The same spans (shapes and dynamic values) through both encoders; byte for byte, as
    both write fields in field-number order."""
    items = [item for view, ends, mode in _conversions(1) for item in build_spans(view, ends, mode).spans]  # type: ignore[arg-type]
    fast, reference = encode_traces(items), encode_traces_reference(items)
    assert _parse(fast) == _parse(reference)
    assert fast.SerializeToString() == reference.SerializeToString()


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


def _sampled(span: SpanData, trace_state: str) -> SpanData:
    span.trace_state = trace_state
    return span


# a sampler's tracestate on some spans (`bridge.spans.probability.trace_state`'s shapes)
_spans = st.builds(
    _sampled,
    _spans,
    st.sampled_from(["", "ot=th:0", "ot=th:8", "ot=th:f333", "ot=th:e668;rv:83fc04f43d5f00"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([A, B, VM, *PEERS]), _spans), min_size=1, max_size=8))
def test_generated_spans_encode_identically(items: list[tuple[Workload, SpanData]]) -> None:
    assert _parse(encode_traces(items)) == _parse(encode_traces_reference(items))


def test_metrics_request_equals_the_protobuf_built_one() -> None:
    """`encode_metrics` sums the enclosing lengths instead of measuring joined copies; the request
    must still be exactly what protobuf builds, small and multi-byte lengths alike."""
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric, ResourceMetrics

    from bridge.otlp import SCHEMA_URL, SCOPE, MetricResource, MetricsEncoder, metric_resource

    def metric(name: str, points: int) -> Metric:
        m = Metric(name=name, unit="s")
        for i in range(points):
            m.sum.data_points.add(as_int=i).attributes.add(key="peer", value={"string_value": f"p{i}" * 20})
        return m

    bridge, workload = (
        MetricResource(None, "b-1"),
        MetricResource(Workload(workload="w", namespace="ns"), "b-1"),
    )
    metrics = [(bridge, metric("a", 1)), (workload, metric("b", 400)), (bridge, metric("c", 0))]
    encoded = MetricsEncoder().encode(
        [(key, (m.SerializeToString(), len(m.sum.data_points))) for key, m in metrics]
    )
    want = ExportMetricsServiceRequest()
    for key in (bridge, workload):
        rm = ResourceMetrics(resource=metric_resource(key), schema_url=SCHEMA_URL)
        rm.scope_metrics.add(scope=SCOPE).metrics.extend([m for k, m in metrics if k == key])
        want.resource_metrics.append(rm)
    assert len(encoded.payload) > 16_384  # three-byte lengths are exercised
    assert ExportMetricsServiceRequest.FromString(encoded.payload) == want
    assert encoded.payload == want.SerializeToString()
    assert encoded.items == 401


def test_tracestate_is_written_as_the_opentelemetry_sdk_writes_it() -> None:
    """Golden against the SDK's OTLP encoder: a span whose context carries `ot=th:c`."""
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace", reason="the SDK is in the bench extra")
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.trace import SpanContext, TraceState

    trace_id, span_id = bytes(range(1, 17)), bytes(range(1, 9))
    context = SpanContext(
        int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big"), is_remote=False,
        trace_state=TraceState([("ot", "th:c")]),
    )  # fmt: skip
    sdk_span = sdk_trace.ReadableSpan(name="GET", context=context, start_time=1, end_time=2)
    want = encode_spans([sdk_span]).resource_spans[0].scope_spans[0].spans[0]
    ours = span_data(trace_id, span_id, b"", "GET", 0, 1, 2, [])
    ours.trace_state = "ot=th:c"
    got = _parse(encode_traces([(A, ours)])).resource_spans[0].scope_spans[0].spans[0]
    assert want.trace_state == "ot=th:c"
    assert got.trace_state == want.trace_state
    assert (got.trace_id, got.span_id) == (want.trace_id, want.span_id)
