"""The `tail_sampling` policies as plain functions of one entry.

Each policy answers one question about a call: "at which rejection threshold T would you keep
it?" (see `bridge.spans.probability`): 0 when a fact of the call matches (status, latency,
an attribute), the percentage's T for `probabilistic`, None when it never would. Policies are
ORed, so the call is kept when its randomness R reaches the smallest T; `and` needs every
sub-policy, so it takes the largest. The smallest T is also the call's true sampling
probability given its facts, which is what its spans record in `tracestate` (`th:0` for a call
kept because it failed or was slow, the percentage's T for one kept by chance).

Pairs: a call's CLIENT and SERVER entries come from two sidecars and may reach two replicas.
They get the same decision when every policy reads facts both entries carry with the same
value; see the README ("Sampling") for which do, and where a pair can split.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bridge.decode import EntryView
from bridge.identity import Direction, Ends
from bridge.processors.tail_sampling.config import (
    LatencyConfig,
    NumericAttributeConfig,
    PolicyConfig,
    StatusCodeConfig,
    StringAttributeConfig,
    SubPolicyConfig,
)
from bridge.spans import SpanSet
from bridge.spans.data import STATUS_ERROR, STATUS_UNSET
from bridge.spans.probability import ALWAYS, threshold_for

# (entry, its ends, its spans) -> the threshold at which the policy keeps the call, or None
Policy = Callable[[EntryView, Ends, SpanSet], int | None]

_STATUS = {"ERROR": STATUS_ERROR, "UNSET": STATUS_UNSET, "OK": 1}


def status_code(config: StatusCodeConfig) -> Policy:
    """The call's status by the caller's rules (`SpanSet.call_status`): a 404 or a gRPC
    NOT_FOUND is ERROR for both entries of the call, as the Collector's trace-level policy sees
    a trace with an ERROR client span."""
    wanted = frozenset(_STATUS[code] for code in config.status_codes)

    def policy(view: EntryView, ends: Ends, span_set: SpanSet) -> int | None:
        return ALWAYS if span_set.call_status in wanted else None

    return policy


def call_duration_ns(view: EntryView, ends: Ends) -> int:
    """The duration a latency policy compares, chosen so that the caller's entry never reads
    less than the callee's: the callee's entry (inbound) reads its own span's duration; the
    caller's entry (outbound) reads the time to the last byte received from its upstream, which
    contains the callee's whole span plus the network both ways (its span's duration when the
    upstream never answered). So a call whose server side reaches a threshold is over it on
    both sides. A TCP connection reads its span's duration on both sides (no such containment
    is known for a connection's last byte)."""
    if ends.direction is Direction.OUTBOUND and view.last_upstream_rx_ns >= 0 and not view.is_tcp:
        return view.last_upstream_rx_ns
    return view.end_ns - view.start_ns


def latency(config: LatencyConfig) -> Policy:
    low = config.threshold_ms * 1_000_000
    high = config.upper_threshold_ms * 1_000_000 or None

    def policy(view: EntryView, ends: Ends, span_set: SpanSet) -> int | None:
        duration = call_duration_ns(view, ends)
        if duration >= low and (high is None or duration <= high):
            return ALWAYS
        return None

    return policy


def probabilistic(percentage: float) -> Policy:
    threshold = threshold_for(percentage)

    def policy(view: EntryView, ends: Ends, span_set: SpanSet) -> int | None:
        return threshold

    return policy


def _own_attribute(span_set: SpanSet, key: str) -> object:
    span = span_set.own if span_set.own is not None else span_set.spans[0][1]
    return span.attribute(key)


def string_attribute(config: StringAttributeConfig) -> Policy:
    """A span attribute of the entry's own span (the reporting side's) against the values."""
    key, invert = config.key, config.invert_match
    match: Callable[[str], bool]
    if config.enabled_regex_matching:
        pattern = re.compile("|".join(f"(?:{v})" for v in config.values))
        match = lambda value: pattern.fullmatch(value) is not None  # noqa: E731
    else:
        values = frozenset(config.values)
        match = values.__contains__

    def policy(view: EntryView, ends: Ends, span_set: SpanSet) -> int | None:
        value = _own_attribute(span_set, key)
        matched = isinstance(value, str) and match(value)
        return ALWAYS if matched != invert else None

    return policy


def numeric_attribute(config: NumericAttributeConfig) -> Policy:
    key, invert = config.key, config.invert_match
    low = config.min_value if config.min_value is not None else -(2**63)
    high = config.max_value if config.max_value is not None else 2**63 - 1

    def policy(view: EntryView, ends: Ends, span_set: SpanSet) -> int | None:
        value = _own_attribute(span_set, key)
        matched = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return ALWAYS if matched != invert else None

    return policy


def all_of(policies: Sequence[Policy]) -> Policy:
    """`and`: kept only when every sub-policy would keep it, so at the largest threshold."""

    def policy(view: EntryView, ends: Ends, span_set: SpanSet) -> int | None:
        highest = ALWAYS
        for one in policies:
            threshold = one(view, ends, span_set)
            if threshold is None:
                return None
            highest = max(highest, threshold)
        return highest

    return policy


def build_policy(config: SubPolicyConfig) -> Policy:
    """The function of one configured policy (its config is validated: its block is set)."""
    if config.type == "status_code" and config.status_code is not None:
        return status_code(config.status_code)
    if config.type == "latency" and config.latency is not None:
        return latency(config.latency)
    if config.type == "probabilistic" and config.probabilistic is not None:
        return probabilistic(config.probabilistic.sampling_percentage)
    if config.type == "string_attribute" and config.string_attribute is not None:
        return string_attribute(config.string_attribute)
    if config.type == "numeric_attribute" and config.numeric_attribute is not None:
        return numeric_attribute(config.numeric_attribute)
    if isinstance(config, PolicyConfig) and config.type == "and" and config.and_ is not None:
        return all_of([build_policy(sub) for sub in config.and_.and_sub_policy])
    raise ValueError(f"policy {config.name!r}: no settings for its type {config.type!r}")
