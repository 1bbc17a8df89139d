"""`probabilistic_sampler`: a decision from the trace id alone, recorded as OTel's `th`."""

from __future__ import annotations

import math
import os

import pytest

from bridge.processors.probabilistic_sampler import ProbabilisticSampler, ProbabilisticSamplerConfig
from bridge.spans.probability import (
    hash_seed_randomness,
    hash_seed_threshold,
    probability_of,
    randomness_of,
)
from tests.processors.sampling_cases import pair

N = 4000


def kept_share(sampler: ProbabilisticSampler, trace_ids: list[bytes]) -> int:
    return sum(sampler.decide_trace(t).keep for t in trace_ids)


def six_sigma(n: int, p: float) -> tuple[float, float]:
    spread = 6 * math.sqrt(n * p * (1 - p))
    return n * p - spread, n * p + spread


@pytest.mark.parametrize("mode", ["proportional", "hash_seed"])
@pytest.mark.parametrize("percentage", [50.0, 10.0, 1.0])
def test_keeps_the_configured_share(mode: str, percentage: float) -> None:
    config = ProbabilisticSamplerConfig(percentage, hash_seed=7 if mode == "hash_seed" else 0)
    sampler = ProbabilisticSampler("probabilistic_sampler", config)
    trace_ids = [os.urandom(16) for _ in range(N)]
    low, high = six_sigma(N, percentage / 100)
    assert low <= kept_share(sampler, trace_ids) <= high


def test_both_spans_of_every_call_get_one_decision_and_record_the_threshold() -> None:
    sampler = ProbabilisticSampler("probabilistic_sampler", ProbabilisticSamplerConfig(25))
    kept = 0
    for n in range(400):
        decisions = [sampler.decide(view, ends, spans) for view, ends, spans in pair(n)]
        assert decisions[0] == decisions[1]
        kept += decisions[0].keep
        assert decisions[0].trace_state == "ot=th:c"  # 25%: the example of the Collector's README
    assert 0 < kept < 400


def test_two_samplers_of_the_same_config_agree_and_a_smaller_share_is_a_subset() -> None:
    """Replicas and workers build their own samplers: the decision is the trace id's alone."""
    ids = [os.urandom(16) for _ in range(2000)]
    one, two = (ProbabilisticSampler("p", ProbabilisticSamplerConfig(30)) for _ in range(2))
    assert [one.decide_trace(t) for t in ids] == [two.decide_trace(t) for t in ids]
    five = ProbabilisticSampler("p", ProbabilisticSamplerConfig(5))
    assert all(one.decide_trace(t).keep for t in ids if five.decide_trace(t).keep)


def test_the_threshold_reads_back_as_the_share_and_r_is_the_trace_ids_last_seven_bytes() -> None:
    sampler = ProbabilisticSampler("p", ProbabilisticSamplerConfig(10))
    assert abs(probability_of(sampler.threshold) - 0.10) < 1e-4  # 4 hex digits of precision
    assert randomness_of(bytes(9) + bytes.fromhex("ffffffffffffff")) == 2**56 - 1
    at = bytes(9) + sampler.threshold.to_bytes(7, "big")
    below = bytes(9) + (sampler.threshold - 1).to_bytes(7, "big")
    assert sampler.decide_trace(at).keep and not sampler.decide_trace(below).keep


@pytest.mark.parametrize(("percentage", "keeps"), [(100, True), (250, True), (0, False)])
def test_all_or_nothing(percentage: float, keeps: bool) -> None:
    sampler = ProbabilisticSampler("p", ProbabilisticSamplerConfig(percentage))
    assert all(sampler.decide_trace(os.urandom(16)).keep is keeps for _ in range(200))


def test_hash_seed_mode_is_the_collectors_14_bit_bucket_and_records_its_randomness() -> None:
    """FNV-1a 32 over the seed's little-endian bytes and the trace id; kept when the low 14
    bits of the hash are below the percentage's bucket count (floor(pct * 2^14 / 100))."""
    assert hash_seed_threshold(10) == (16384 - 1638) << 42
    sampler = ProbabilisticSampler("p", ProbabilisticSamplerConfig(10, hash_seed=42))
    for _ in range(500):
        trace_id = os.urandom(16)
        decision = sampler.decide_trace(trace_id)
        assert decision.randomness == hash_seed_randomness(trace_id, 42)
        bucket = decision.randomness & 0x3FFF
        assert decision.keep == (bucket < 1638)
        assert decision.trace_state == f"ot=th:e668;rv:{decision.randomness:014x}"


def test_fnv_is_the_standard_fnv1a32() -> None:
    from bridge.spans.probability import _fnv1a32

    assert _fnv1a32(b"") == 0x811C9DC5
    assert _fnv1a32(b"a") == 0xE40C292C
    assert _fnv1a32(b"foobar") == 0xBF9CF968
