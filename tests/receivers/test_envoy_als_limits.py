"""Unit tests of the receiver's guards: SPIFFE allow-list matching, the token bucket, truncation."""

from __future__ import annotations

import pytest

from bridge.decode import EntryView
from bridge.receivers.envoy_als.limits import TokenBucket, truncate_long_values
from bridge.receivers.envoy_als.spiffe import SpiffeAllowList, id_problem, pattern_problem

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
