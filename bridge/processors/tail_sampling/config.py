"""Configuration of the `tail_sampling` processor: the Collector's policy names and keys, for
the policies that fit a decision taken per call, at once.

The Collector's processor waits `decision_wait` for a trace's spans, then decides on the whole
trace. The bridge needs no wait: each access log entry is a complete call. So `decision_wait`,
`num_traces` and `expected_new_traces_per_sec` are refused with that reason rather than
silently ignored, and so are the policies whose decision depends on state that two bridge
replicas cannot share (rate budgets) or on a whole trace (span counts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bridge.config import FieldError
from bridge.config.fields import did_you_mean
from bridge.config.types import Duration

SUPPORTED = ("status_code", "latency", "probabilistic", "string_attribute", "numeric_attribute", "and")
STATUS_CODES = ("OK", "ERROR", "UNSET")
_BUDGET = (
    "a rate budget is state of one process: two bridge replicas would spend it on different calls, "
    "so the two spans of a call could be decided differently"
)
# Collector policy types the bridge knows and refuses, with the reason.
NOT_SUPPORTED = {
    "composite": f"not supported: {_BUDGET}; list the sub-policies as policies (any policy that "
    "samples keeps the call)",
    "rate_limiting": f"not supported: {_BUDGET}",
    "bytes_limiting": f"not supported: {_BUDGET}",
    "span_count": "not supported: an entry is one call, decided when it arrives; a trace's span count "
    "is not known then",
    "always_sample": "not needed: leave tail_sampling out of the pipeline to keep every span",
    "boolean_attribute": "not supported: the bridge's span attributes have no boolean worth sampling on",
    "ottl_condition": "not supported: use string_attribute or numeric_attribute",
    "trace_state": "not supported: the bridge does not carry the logged tracestate into spans",
}
_NOT_APPLICABLE = (
    "does not apply: every access log entry is a complete call and is decided when it arrives, "
    "with nothing held in memory; remove it"
)


@dataclass
class StatusCodeConfig:
    """Matches the call's span status: ERROR, UNSET (OK is never set by the bridge)."""

    status_codes: list[str]

    def validate(self) -> None:
        if not self.status_codes:
            raise FieldError(("status_codes",), "must list at least one of OK, ERROR, UNSET")
        for index, code in enumerate(self.status_codes):
            if code not in STATUS_CODES:
                hint = did_you_mean(code, STATUS_CODES) or "; use OK, ERROR or UNSET"
                raise FieldError(("status_codes", index), f"unknown status code {code!r}{hint}")


@dataclass
class LatencyConfig:
    """Matches calls of at least `threshold_ms` (and at most `upper_threshold_ms` when set)."""

    threshold_ms: int = 0
    upper_threshold_ms: int = 0

    def validate(self) -> None:
        if self.threshold_ms < 0 or self.upper_threshold_ms < 0:
            raise ValueError("threshold_ms and upper_threshold_ms must not be negative")
        if not self.threshold_ms and not self.upper_threshold_ms:
            raise FieldError(("threshold_ms",), "set threshold_ms, upper_threshold_ms or both")
        if self.upper_threshold_ms and self.upper_threshold_ms <= self.threshold_ms:
            raise FieldError(
                ("upper_threshold_ms",), f"must be greater than threshold_ms ({self.threshold_ms})"
            )


@dataclass
class ProbabilisticConfig:
    sampling_percentage: float = 0.0
    hash_salt: str | None = field(default=None, metadata={"refused": True})

    def validate(self) -> None:
        if not self.sampling_percentage >= 0:
            raise FieldError(("sampling_percentage",), f"must be 0 or more, got {self.sampling_percentage}")
        if self.hash_salt is not None:
            raise FieldError(
                ("hash_salt",),
                "not supported: the policy takes the trace id's randomness, as OTel consistent "
                "probability sampling does, so it agrees with probabilistic_sampler and its threshold "
                "can be recorded in tracestate; remove it",
            )


@dataclass
class StringAttributeConfig:
    """Matches a span attribute's string value: one of `values` (regular expressions, matched
    whole, with `enabled_regex_matching`); `invert_match` matches the other calls."""

    key: str
    values: list[str]
    enabled_regex_matching: bool = False
    invert_match: bool = False

    def validate(self) -> None:
        if not self.key:
            raise FieldError(("key",), "must not be empty")
        if not self.values:
            raise FieldError(("values",), "must list at least one value")
        if self.enabled_regex_matching:
            for index, pattern in enumerate(self.values):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise FieldError(("values", index), f"not a regular expression: {exc}") from None


@dataclass
class NumericAttributeConfig:
    """Matches a span attribute's integer value within [min_value, max_value] (either may be
    left out); `invert_match` matches the other calls."""

    key: str
    min_value: int | None = None
    max_value: int | None = None
    invert_match: bool = False

    def validate(self) -> None:
        if not self.key:
            raise FieldError(("key",), "must not be empty")
        if self.min_value is None and self.max_value is None:
            raise FieldError(("min_value",), "set min_value, max_value or both")
        if self.min_value is not None and self.max_value is not None and self.max_value < self.min_value:
            raise FieldError(("max_value",), f"must be at least min_value ({self.min_value})")


@dataclass
class SubPolicyConfig:
    """One policy: a `name`, a `type`, and the settings under the key named as the type."""

    name: str
    type: str
    status_code: StatusCodeConfig | None = None
    latency: LatencyConfig | None = None
    probabilistic: ProbabilisticConfig | None = None
    string_attribute: StringAttributeConfig | None = None
    numeric_attribute: NumericAttributeConfig | None = None

    def validate(self) -> None:
        supported = self._supported()
        if self.type not in supported:
            reason = NOT_SUPPORTED.get(self.type)
            if reason is None and self.type == "and":
                reason = "not supported inside 'and'"
            if reason is None:
                hint = did_you_mean(self.type, supported)
                reason = f"unknown policy type {self.type!r}{hint} (supported: {', '.join(supported)})"
            else:
                reason = f"{self.type!r} is {reason}"
            raise FieldError(("type",), reason)
        for key in supported:
            given = getattr(self, _attribute(key)) is not None
            if key == self.type and not given:
                raise FieldError((key,), f"required key is missing for a policy of type {key!r}")
            if key != self.type and given:
                raise FieldError((key,), f"belongs to a policy of type {key!r}, not {self.type!r}")

    def _supported(self) -> tuple[str, ...]:
        return tuple(t for t in SUPPORTED if t != "and")


@dataclass
class AndConfig:
    and_sub_policy: list[SubPolicyConfig]

    def validate(self) -> None:
        if not self.and_sub_policy:
            raise FieldError(("and_sub_policy",), "must list at least one policy")


@dataclass
class PolicyConfig(SubPolicyConfig):
    """A top-level policy: also `and` (every sub-policy must sample)."""

    and_: AndConfig | None = field(default=None, metadata={"key": "and"})

    def _supported(self) -> tuple[str, ...]:
        return SUPPORTED


def _attribute(key: str) -> str:
    return "and_" if key == "and" else key


@dataclass
class TailSamplingConfig:
    """Policies are ORed, as in the Collector: a call is kept when any policy samples it."""

    policies: list[PolicyConfig]
    # the Collector's, refused with the reason (`validate`)
    decision_wait: Duration | None = field(default=None, metadata={"refused": True})
    num_traces: int | None = field(default=None, metadata={"refused": True})
    expected_new_traces_per_sec: int | None = field(default=None, metadata={"refused": True})

    def validate(self) -> None:
        for key in ("decision_wait", "num_traces", "expected_new_traces_per_sec"):
            if getattr(self, key) is not None:
                raise FieldError((key,), _NOT_APPLICABLE)
        if not self.policies:
            raise FieldError(("policies",), "must list at least one policy")
        seen: set[str] = set()
        for index, policy in enumerate(self.policies):
            if policy.name in seen:
                raise FieldError(("policies", index, "name"), f"policy name {policy.name!r} is used twice")
            seen.add(policy.name)
