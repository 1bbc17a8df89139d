"""`tail_sampling`: each policy, `and`, their OR, and one decision for both entries of a call."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.components import parse_config
from bridge.config.model import ComponentID
from bridge.processors.tail_sampling import TailSampler, TailSamplingConfig
from bridge.processors.tail_sampling.policies import call_duration_ns
from bridge.spans.probability import randomness_of, threshold_for
from tests.processors.sampling_cases import grpc_pair, pair

KEEP_THE_RIGHT_ONES = [
    {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
    {"name": "slow", "type": "latency", "latency": {"threshold_ms": 500}},
    {
        "name": "flagged",
        "type": "string_attribute",
        "string_attribute": {"key": "envoy.response_flags", "values": [".+"], "enabled_regex_matching": True},
    },
    {"name": "rest", "type": "probabilistic", "probabilistic": {"sampling_percentage": 5}},
]


def sampler(policies: list[dict[str, Any]]) -> TailSampler:
    """Through the config loader, as a user's file is read."""
    raw = {
        "receivers": {"envoy_als": None},
        "processors": {"tail_sampling": {"policies": policies}},
        "exporters": {"debug": None},
        "service": {
            "pipelines": {
                "traces": {
                    "receivers": ["envoy_als"],
                    "processors": ["tail_sampling"],
                    "exporters": ["debug"],
                }
            }
        },
    }
    config = parse_config(raw, environ={})
    tail = config.processors[ComponentID("tail_sampling")]
    assert isinstance(tail, TailSamplingConfig)
    return TailSampler("tail_sampling", tail)


def decisions(tail: TailSampler, entries: list[Any]) -> list[tuple[bool, str, str]]:
    out = []
    for view, ends, spans in entries:
        d = tail.decide(view, ends, spans)
        out.append((d.keep, d.policy, d.trace_state if d.keep else ""))
    return out


def by_chance(n: int, percentage: float, **overrides: Any) -> bool:
    trace_id = pair(n, **overrides)[0][2].spans[0][1].trace_id
    return randomness_of(trace_id) >= threshold_for(percentage)


@pytest.mark.parametrize(
    ("entries", "policy"),
    [
        (pair(1, response_code=503), "errors"),
        (pair(2, response_code=404), "errors"),  # ERROR on the client side only: both kept
        (grpc_pair(3, "5"), "errors"),  # NOT_FOUND: an error for the caller
        (grpc_pair(4, "14"), "errors"),  # UNAVAILABLE: for both sides
        (pair(5, server_ms=500), "slow"),
        (pair(6, server_ms=1500, network_ms=40), "slow"),
        (pair(7, response_code=200, response_flags="DI"), "flagged"),  # a fault-injected delay
    ],
)
def test_every_error_slow_and_flagged_call_is_kept_on_both_sides_at_th_0(
    entries: list[Any], policy: str
) -> None:
    tail = sampler(KEEP_THE_RIGHT_ONES)
    assert decisions(tail, entries) == [(True, f"tail_sampling/{policy}", "ot=th:0")] * 2


def test_the_rest_follow_the_probabilistic_policy_on_both_sides() -> None:
    tail = sampler(KEEP_THE_RIGHT_ONES)
    kept = 0
    for n in range(1000):
        client, server = decisions(tail, pair(100 + n, server_ms=20))
        assert client == server
        assert client[0] == by_chance(100 + n, 5)
        if client[0]:
            assert client[1:] == ("tail_sampling/rest", "ot=th:f333")
            kept += 1
        else:
            assert client[1] == "tail_sampling"
    assert 50 - 6 * 6.9 <= kept <= 50 + 6 * 6.9  # 5% of 1000, six standard deviations


def test_a_call_just_under_the_threshold_on_the_server_side_may_keep_its_client_side_alone() -> None:
    """The documented edge: the caller's reading holds the network time too."""
    (client_view, client_ends, _), (server_view, server_ends, _) = pair(8, server_ms=499, network_ms=5)
    assert (
        call_duration_ns(server_view, server_ends) < 500_000_000 <= call_duration_ns(client_view, client_ends)
    )
    tail = sampler(KEEP_THE_RIGHT_ONES[1:2])
    client, server = decisions(tail, pair(8, server_ms=499, network_ms=5))
    assert client[0] and not server[0]


def test_a_flag_one_side_logs_keeps_both_sides_when_the_code_is_an_error_for_the_caller() -> None:
    """The server's sidecar could not reach its app (UF, 503); the client's logs only the 503.
    A rate limit (RL, 429) is a 4xx: an error by the caller's rules, on both entries."""
    tail = sampler(KEEP_THE_RIGHT_ONES)
    for n, code, flag in [(60, 503, "UF"), (61, 429, "RL")]:
        got = decisions(tail, pair(n, response_code=code, server_only={"response_flags": flag}))
        assert [d[0] for d in got] == [True, True]


def test_a_flag_on_a_successful_call_keeps_only_the_side_that_logged_it() -> None:
    """The documented limit: flags are one proxy's facts; with a 2xx the other side has none."""
    tail = sampler(KEEP_THE_RIGHT_ONES[2:3])
    got = decisions(tail, pair(62, response_code=200, client_only={"response_flags": "DI"}))
    assert [d[0] for d in got] == [True, False]


def test_latency_upper_bound() -> None:
    tail = sampler(
        [{"name": "band", "type": "latency", "latency": {"threshold_ms": 100, "upper_threshold_ms": 200}}]
    )
    assert [d[0] for d in decisions(tail, pair(9, server_ms=150, network_ms=10))] == [True, True]
    assert [d[0] for d in decisions(tail, pair(10, server_ms=50))] == [False, False]
    assert [d[0] for d in decisions(tail, pair(11, server_ms=300))] == [False, False]


def test_status_code_unset_matches_successes_only() -> None:
    tail = sampler([{"name": "ok", "type": "status_code", "status_code": {"status_codes": ["UNSET"]}}])
    assert [d[0] for d in decisions(tail, pair(12))] == [True, True]
    assert [d[0] for d in decisions(tail, pair(13, response_code=500))] == [False, False]


def test_string_attribute_exact_regex_and_inverted() -> None:
    exact = sampler(
        [
            {
                "name": "m",
                "type": "string_attribute",
                "string_attribute": {"key": "http.request.method", "values": ["POST", "PUT"]},
            }
        ]
    )
    assert [d[0] for d in decisions(exact, pair(14, method="PUT"))] == [True, True]
    assert [d[0] for d in decisions(exact, pair(15, method="GET"))] == [False, False]
    regex = sampler(
        [
            {
                "name": "p",
                "type": "string_attribute",
                "string_attribute": {
                    "key": "url.path",
                    "values": ["/api/.*"],
                    "enabled_regex_matching": True,
                },
            }
        ]
    )
    assert [d[0] for d in decisions(regex, pair(16, path="/api/v1/x"))] == [True, True]
    assert [d[0] for d in decisions(regex, pair(17, path="/x/api/v1"))] == [False, False]  # matched whole
    inverted = sampler(
        [
            {
                "name": "not-health",
                "type": "string_attribute",
                "string_attribute": {"key": "url.path", "values": ["/healthz"], "invert_match": True},
            }
        ]
    )
    assert [d[0] for d in decisions(inverted, pair(18, path="/healthz"))] == [False, False]
    assert [d[0] for d in decisions(inverted, pair(19, path="/orders"))] == [True, True]


def test_numeric_attribute_range_open_ends_and_inverted() -> None:
    def keeps(spec: dict[str, Any], code: int) -> list[bool]:
        tail = sampler(
            [
                {
                    "name": "n",
                    "type": "numeric_attribute",
                    "numeric_attribute": {"key": "http.response.status_code", **spec},
                }
            ]
        )
        return [d[0] for d in decisions(tail, pair(20 + code, response_code=code))]

    assert keeps({"min_value": 400, "max_value": 499}, 429) == [True, True]
    assert keeps({"min_value": 400, "max_value": 499}, 503) == [False, False]
    assert keeps({"min_value": 500}, 503) == [True, True]
    assert keeps({"max_value": 299}, 200) == [True, True]
    assert keeps({"min_value": 500, "invert_match": True}, 200) == [True, True]


def test_and_needs_every_sub_policy_and_records_the_largest_threshold() -> None:
    slow_posts_half = {
        "name": "slow-posts",
        "type": "and",
        "and": {
            "and_sub_policy": [
                {
                    "name": "post",
                    "type": "string_attribute",
                    "string_attribute": {"key": "http.request.method", "values": ["POST"]},
                },
                {"name": "slow", "type": "latency", "latency": {"threshold_ms": 100}},
                {"name": "half", "type": "probabilistic", "probabilistic": {"sampling_percentage": 50}},
            ]
        },
    }
    tail = sampler([slow_posts_half])
    assert [d[0] for d in decisions(tail, pair(30, method="GET", server_ms=300))] == [False, False]
    assert [d[0] for d in decisions(tail, pair(31, method="POST", server_ms=10))] == [False, False]
    results = set()
    for n in range(200):
        got = decisions(tail, pair(40 + n, method="POST", server_ms=300))
        assert got[0] == got[1]
        assert got[0][0] == by_chance(40 + n, 50, method="POST", server_ms=300)
        if got[0][0]:
            assert got[0][1:] == ("tail_sampling/slow-posts", "ot=th:8")
        results.add(got[0][0])
    assert results == {True, False}


def test_policies_are_ored_and_the_first_that_keeps_names_the_decision() -> None:
    tail = sampler(
        [
            {"name": "all", "type": "probabilistic", "probabilistic": {"sampling_percentage": 100}},
            {"name": "errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        ]
    )
    assert decisions(tail, pair(50, response_code=500))[0] == (True, "tail_sampling/all", "ot=th:0")
