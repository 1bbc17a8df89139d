"""OpenTelemetry consistent probability sampling: thresholds, randomness, and the `ot` tracestate.

Why here, beside the span builder: a sampled span says how it was sampled so that a backend can
re-weight it (a span kept at 5% stands for 20 calls). The OTel specification ("TraceState:
Probability Sampling") does that with a 56-bit *rejection threshold* T written as `ot=th:<hex>`
in the span's `tracestate`: a span is kept when its 56-bit randomness R satisfies R >= T, so
its sampling probability is (2^56 - T) / 2^56. R is the trace id's last 7 bytes (W3C Trace
Context Level 2 random trace ids), or an explicit `rv:<14 hex digits>` in the same entry when
the randomness came from somewhere else (the Collector's `hash_seed` mode hashes the trace id).

Every sampler in the bridge reduces to "keep when R >= T" with one R per trace: so the two
spans of a call, and every call of a trace, get the same decision on every replica and worker,
and samplers of different percentages nest (whatever 5% keeps, 50% keeps too).
"""

from __future__ import annotations

import struct
from functools import lru_cache

RANDOMNESS_BITS = 56
MAX_THRESHOLD = 1 << RANDOMNESS_BITS  # T = 2^56 rejects everything: probability 0
ALWAYS = 0  # T = 0 keeps everything: probability 1, `th:0`
_HEX_DIGITS = RANDOMNESS_BITS // 4  # 14

# The Collector's legacy `hash_seed` mode: a 14-bit bucket of a 32-bit FNV-1a hash.
_HASH_BUCKETS_LG2 = 14
_HASH_BUCKETS = 1 << _HASH_BUCKETS_LG2
_FNV32_OFFSET, _FNV32_PRIME = 0x811C9DC5, 0x01000193
_float32 = struct.Struct("<f")


def randomness_of(trace_id: bytes) -> int:
    """R from a trace id: its least significant 56 bits (the last 7 bytes), per the spec."""
    return int.from_bytes(trace_id[9:16], "big")


def threshold_for(percentage: float, precision: int = 4) -> int:
    """The rejection threshold for `percentage`, rounded to `precision` significant hex digits
    as the Collector's `sampling_precision` does (leading zeros of the rejection probability do
    not count against the precision). >= 100 keeps all, <= 0 keeps none; any positive
    percentage keeps at least 2^-56."""
    if percentage >= 100:
        return ALWAYS
    if percentage <= 0:
        return MAX_THRESHOLD
    probability = max(percentage / 100, 1 / MAX_THRESHOLD)
    reject = 1 - probability
    digits = precision
    while reject * 16 < 1 and digits < _HEX_DIGITS:  # leading zero digits are obligatory
        reject *= 16
        digits += 1
    unsigned = MAX_THRESHOLD - round(probability * MAX_THRESHOLD)
    shift = 4 * (_HEX_DIGITS - min(digits, _HEX_DIGITS))
    if shift:
        unsigned = ((unsigned + (1 << (shift - 1))) >> shift) << shift
    return min(unsigned, MAX_THRESHOLD)


def probability_of(threshold: int) -> float:
    """The sampling probability a threshold stands for (a backend's re-weighting is 1/this)."""
    return (MAX_THRESHOLD - threshold) / MAX_THRESHOLD


def _fnv1a32(data: bytes) -> int:
    h = _FNV32_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def hash_seed_randomness(trace_id: bytes, seed: int) -> int:
    """R of the Collector's `hash_seed` mode, so a bridge and a Collector with the same seed
    agree: FNV-1a (32 bit) over the seed's 4 little-endian bytes and the trace id; its low 14
    bits are the bucket b, and R's top 14 bits are 2^14-1-b, so that "b < the percentage's
    bucket count" reads as R >= T. The lower 42 bits mix the hash's unused bits, as the
    Collector does (only the top 14 bits ever decide)."""
    hashed = _fnv1a32(seed.to_bytes(4, "little") + trace_id)
    bucket = hashed & (_HASH_BUCKETS - 1)
    unused = hashed >> (32 - _HASH_BUCKETS_LG2)
    mixed = (unused ^ (unused << 10)) & ((1 << 28) - 1)
    return ((_HASH_BUCKETS - 1 - bucket) << 42) | (mixed << 14) | bucket


def hash_seed_threshold(percentage: float) -> int:
    """T of the `hash_seed` mode: the percentage scaled to 2^14 buckets in 32-bit float
    arithmetic and rounded down (the Collector's historical rule, kept for equal decisions)."""
    if percentage >= 100:
        return ALWAYS
    pct = _float32.unpack(_float32.pack(percentage))[0]
    scale = _float32.unpack(_float32.pack(_HASH_BUCKETS / 100))[0]
    accepted = int(_float32.unpack(_float32.pack(pct * scale))[0])
    if accepted <= 0:
        return MAX_THRESHOLD
    return (_HASH_BUCKETS - accepted) << 42


def threshold_hex(threshold: int) -> str:
    """`th`'s value: 14 hex digits with the trailing zeros removed (`0` for T = 0)."""
    return format(threshold, "014x").rstrip("0") or "0"


@lru_cache(maxsize=256)  # a sampler has one threshold; only `hash_seed` mode varies R
def trace_state(threshold: int, randomness: int | None = None) -> str:
    """The span's `tracestate`: `ot=th:<T>`, with `;rv:<R>` when R did not come from the trace id."""
    value = f"ot=th:{threshold_hex(threshold)}"
    if randomness is not None:
        value += f";rv:{randomness:014x}"
    return value
