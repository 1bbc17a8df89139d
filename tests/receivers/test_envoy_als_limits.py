"""Unit tests of the receiver's guards: SPIFFE allow-list matching, the token bucket, truncation."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.decode import EntryView
from bridge.receivers.envoy_als import _protos
from bridge.receivers.envoy_als.limits import TokenBucket, encoded_entry_sizes, truncate_long_values
from bridge.receivers.envoy_als.receiver import _decode_entries
from bridge.receivers.envoy_als.spiffe import SpiffeAllowList, id_problem, pattern_problem
from tests.fixtures.als import http_entry, message

MESH = SpiffeAllowList(
    ["spiffe://cluster.local/ns/*/sa/*", "spiffe://other.example/ns/shop/sa/cart"],
)


@pytest.mark.parametrize(
    "spiffe_id",
    [
        "spiffe://cluster.local/ns/demo/sa/a",
        "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway-service-account",
        "spiffe://other.example/ns/shop/sa/cart",
    ],
)
def test_allowed_ids(spiffe_id: str) -> None:
    assert MESH.allows(spiffe_id)


@pytest.mark.parametrize(
    ("spiffe_id", "why"),
    [
        ("spiffe://cluster.local/ns/demo/sa/a/extra", "a star never matches a '/'"),
        ("spiffe://cluster.local/ns/demo", "too short for the pattern"),
        ("spiffe://cluster.local/ns/demo/sa/a?x=1", "a query is not part of a SPIFFE id"),
        ("spiffe://cluster.local/ns/../sa/a", "dot segments are not allowed"),
        ("spiffe://Cluster.Local/ns/demo/sa/a", "trust domains are lower case"),
        ("spiffe://evil.local/ns/demo/sa/a", "another trust domain"),
        ("spiffe://other.example/ns/shop/sa/cart2", "exact entries match exactly"),
        ("https://cluster.local/ns/demo/sa/a", "not a SPIFFE URI"),
        ("", "no id at all"),
    ],
)
def test_refused_ids(spiffe_id: str, why: str) -> None:
    assert not MESH.allows(spiffe_id), why


def test_star_inside_a_segment_matches_a_prefix() -> None:
    allow = SpiffeAllowList(["spiffe://cluster.local/ns/team-*/sa/*"])
    assert allow.allows("spiffe://cluster.local/ns/team-blue/sa/web")
    assert not allow.allows("spiffe://cluster.local/ns/blue/sa/web")


@pytest.mark.parametrize(
    ("pattern", "fragment"),
    [
        ("cluster.local/ns/a/sa/b", "must start with spiffe://"),
        ("spiffe://cluster.local/ns//sa/b", "no empty segment"),
        ("spiffe://cluster.local/ns/a/sa/b/", "no empty segment"),
        ("spiffe://cluster.local/ns/[ab]/sa/b", "letters, digits"),
        ("spiffe://cluster.local/ns/**", "'**' is not supported"),
    ],
)
def test_bad_patterns(pattern: str, fragment: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None and fragment in problem


def test_valid_patterns_and_ids() -> None:
    assert pattern_problem("spiffe://cluster.local/ns/*/sa/*") is None
    assert pattern_problem("spiffe://cluster.local") is None
    assert id_problem("spiffe://cluster.local/ns/demo/sa/a") is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_second_of_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10, clock=clock)
    assert bucket.take(25) == 10  # a full bucket: one second's worth
    assert bucket.take(1) == 0
    clock.now += 0.5
    assert bucket.take(25) == 5
    clock.now += 60  # a long pause refills to the burst, not beyond
    assert bucket.take(25) == 10


def test_bucket_keeps_fractions_between_messages() -> None:
    clock = FakeClock()
    bucket = TokenBucket(4, clock=clock)
    assert bucket.take(4) == 4
    granted = 0
    for _ in range(10):
        clock.now += 0.125  # half a token each time (exact in binary floating point)
        granted += bucket.take(1)
    assert granted == 5


def test_truncation_cuts_long_values_only() -> None:
    view = EntryView(
        is_tcp=False,
        path="/" + "p" * 99,
        authority="short",
        request_headers={"x-long": "h" * 50, "x-short": "ok"},
        response_trailers={"grpc-message": "m" * 11},
    )
    assert truncate_long_values(view, 10) == 3
    assert view.path == "/" + "p" * 9
    assert view.authority == "short"
    assert view.request_headers == {"x-long": "h" * 10, "x-short": "ok"}
    assert view.response_trailers == {"grpc-message": "m" * 10}
    assert truncate_long_values(view, 10) == 0  # already within the limit


def test_truncation_leaves_filter_state_alone() -> None:
    from bridge.decode import FilterStateValue

    state = {"upstream_peer": FilterStateValue("type.googleapis.com/x", b"v" * 100)}
    view = EntryView(is_tcp=True, filter_state=dict(state))
    assert truncate_long_values(view, 10) == 0
    assert view.filter_state == state


def _tcp_entry(cluster: str) -> Any:
    entry = _protos.TCPAccessLogEntry()
    entry.common_properties.upstream_cluster = cluster
    return entry


def _http_message(*clusters: str) -> Any:
    return message([http_entry(cluster=c) for c in clusters])


def _parsed_entries(raw: bytes) -> tuple[Any, str]:
    parsed = _protos.StreamAccessLogsMessage.FromString(raw)
    kind = parsed.WhichOneof("log_entries")
    if kind == "tcp_logs":
        return parsed.tcp_logs.log_entry, "tcp"
    return parsed.http_logs.log_entry, "http"


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited field (number < 16, payload < 128 bytes)."""
    assert number < 16 and len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_wire_sizes_are_the_entries_encoded_sizes() -> None:
    raw = _http_message("a", "bb" * 50, "").SerializeToString()
    entries, kind = _parsed_entries(raw)
    assert encoded_entry_sizes(raw, kind) == [e.ByteSize() for e in entries]
    tcp = _protos.StreamAccessLogsMessage()
    tcp.tcp_logs.log_entry.extend([_tcp_entry("x"), _tcp_entry("y" * 300)])
    raw = tcp.SerializeToString()
    assert encoded_entry_sizes(raw, "tcp") == [e.ByteSize() for e in tcp.tcp_logs.log_entry]


def test_wire_sizes_follow_upb_when_the_logs_field_repeats() -> None:
    # Two `http_logs` fields merge: upb concatenates their entries, and so does the walk.
    first = _protos.StreamAccessLogsMessage()
    first.http_logs.log_entry.add().common_properties.upstream_cluster = "one"
    second = _protos.StreamAccessLogsMessage()
    second.http_logs.log_entry.add().common_properties.upstream_cluster = "two" * 10
    raw = first.SerializeToString() + second.SerializeToString()
    entries, kind = _parsed_entries(raw)
    assert len(entries) == 2
    assert encoded_entry_sizes(raw, kind) == [e.ByteSize() for e in entries]


def test_wire_sizes_give_up_on_odd_shapes() -> None:
    http = _protos.StreamAccessLogsMessage()
    http.http_logs.log_entry.add()
    tcp = _protos.StreamAccessLogsMessage()
    tcp.tcp_logs.log_entry.add()
    switched = http.SerializeToString() + tcp.SerializeToString() + http.SerializeToString()
    assert encoded_entry_sizes(switched, "http") is None  # upb kept only the last http_logs
    assert encoded_entry_sizes(b"\x12\x05\x0a\x09", "http") is None  # an entry longer than its field
    assert encoded_entry_sizes(b"\x12", "http") is None  # a tag and nothing more
    assert encoded_entry_sizes(b"\x13\x14", "http") is None  # a group
    unknown = b"\x78\x01" + _field(2, b"\x10\x05" + _field(1, b"")) + b"\x7d\x00\x00\x00\x00"
    entries, kind = _parsed_entries(unknown)
    assert encoded_entry_sizes(unknown, kind) == [0] == [e.ByteSize() for e in entries]


def test_wire_sizes_cut_the_same_values_as_upb_sizes() -> None:
    # The second entry's cluster is written twice (upb keeps the last, short one): its wire size is
    # over the limit though no kept string is, so the walk only costs a needless check.
    long_then_short = _field(1, _field(15, b"L" * 40) + _field(15, b"s"))
    entry_two = bytes([0x0A, len(long_then_short)]) + long_then_short
    one = _protos.HTTPAccessLogEntry()
    one.request.path = "/" + "p" * 30
    one.request.request_headers["x-long"] = "h" * 25
    logs = _field(1, one.SerializeToString()) + entry_two
    raw = bytes([0x12, len(logs)]) + logs
    entries, kind = _parsed_entries(raw)
    sizes = encoded_entry_sizes(raw, kind)
    assert sizes is not None and sizes[1] > 20 >= entries[1].ByteSize()
    by_wire = _decode_entries(entries, kind, 20, sizes)
    by_upb = _decode_entries(entries, kind, 20)
    assert (by_wire.truncated, by_wire.views) == (by_upb.truncated, by_upb.views) == (2, by_upb.views)
    assert by_wire.views[0].path == "/" + "p" * 19
