"""Aggregated metrics written straight in OTLP wire format.

Why: a collection turns every series into a data point with its labels (Istio's label set is
about 25 pairs). Built as protobuf objects that is a million small messages per collection at
a few tens of thousands of series, and memory the process never gets back; written as bytes,
with each label set encoded once and kept, it is a fraction of both. `tests/metrics/test_wire.py`
parses the bytes and compares them with the protobuf-built reference (`Instrument.collect`).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from bridge.otlp_wire import key_value, varint

_fixed64 = struct.Struct("<Q").pack
_sfixed64 = struct.Struct("<q").pack
_double = struct.Struct("<d").pack

# field tags (field number << 3 | wire type)
NUMBER_POINT_ATTRIBUTES = b"\x3a"  # NumberDataPoint.attributes = 7
HISTOGRAM_POINT_ATTRIBUTES = b"\x4a"  # HistogramDataPoint.attributes = 9


def _field(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def attribute_fields(tag: bytes, keys: Sequence[str], values: Sequence[str]) -> bytes:
    """The attribute fields of one data point; empty values are left out, as Prometheus does."""
    return b"".join([_field(tag, key_value(k, v)) for k, v in zip(keys, values, strict=True) if v != ""])


def overflow_attribute(tag: bytes) -> bytes:
    """`otel.metric.overflow=true`, the only attribute of the overflow series."""
    return _field(tag, key_value("otel.metric.overflow", True))


def number_point(attributes: bytes, start_ns: int, now_ns: int, value: float) -> bytes:
    parts = []
    if start_ns:
        parts.append(b"\x11" + _fixed64(start_ns))
    if now_ns:
        parts.append(b"\x19" + _fixed64(now_ns))
    if float(value).is_integer() and -(2**63) <= value < 2**63:
        parts.append(b"\x31" + _sfixed64(int(value)))
    else:
        parts.append(b"\x21" + _double(float(value)))
    parts.append(attributes)
    return b"".join(parts)


def histogram_point(
    attributes: bytes,
    start_ns: int,
    now_ns: int,
    count: int,
    total: float,
    counts: Sequence[int],
    bounds: Sequence[float],
    low: float,
    high: float,
) -> bytes:
    parts = []
    if start_ns:
        parts.append(b"\x11" + _fixed64(start_ns))
    if now_ns:
        parts.append(b"\x19" + _fixed64(now_ns))
    if count:
        parts.append(b"\x21" + _fixed64(count))
    parts.append(b"\x29" + _double(total))
    parts.append(_field(b"\x32", b"".join([_fixed64(c) for c in counts])))
    if bounds:
        parts.append(_field(b"\x3a", b"".join([_double(b) for b in bounds])))
    parts.append(attributes)
    if count:
        parts.append(b"\x59" + _double(low))
        parts.append(b"\x61" + _double(high))
    return b"".join(parts)


def metric(name: str, description: str, unit: str, kind: str, temporality: int, points: list[bytes]) -> bytes:
    """A `Metric` message: a monotonic Sum ("counter") or a Histogram of the given points."""
    head = _field(b"\x0a", name.encode())
    if description:
        head += _field(b"\x12", description.encode())
    if unit:
        head += _field(b"\x1a", unit.encode())
    data = b"".join([_field(b"\x0a", p) for p in points]) + b"\x10" + varint(temporality)
    if kind == "counter":
        return head + _field(b"\x3a", data + b"\x18\x01")
    return head + _field(b"\x4a", data)
