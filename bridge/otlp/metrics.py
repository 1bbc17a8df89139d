"""Aggregated metrics written straight in OTLP wire format: data points, `Metric`s, requests.

Why: a collection turns every series into a data point with its labels (Istio's label set is
about 25 pairs). Built as protobuf objects that is a million small messages per collection at
a few tens of thousands of series, and memory the process never gets back; written as bytes,
with each label set encoded once and kept (by `bridge.metrics.store`), it is a fraction of both.
`tests/metrics/test_wire.py` parses the bytes and compares them with the protobuf-built reference.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bridge.exporters.base import EncodedRequest
from bridge.otlp.common import SCHEMA_URL, SCOPE
from bridge.otlp.resources import MetricResource, Resources
from bridge.otlp.tags import (
    EXEMPLAR_AS_DOUBLE,
    EXEMPLAR_AS_INT,
    EXEMPLAR_SPAN_ID,
    EXEMPLAR_TIME,
    EXEMPLAR_TRACE_ID,
    HISTOGRAM_AGGREGATION_TEMPORALITY,
    HISTOGRAM_DATA_POINTS,
    HISTOGRAM_POINT_ATTRIBUTES,
    HISTOGRAM_POINT_BUCKET_COUNTS,
    HISTOGRAM_POINT_COUNT,
    HISTOGRAM_POINT_EXEMPLARS,
    HISTOGRAM_POINT_EXPLICIT_BOUNDS,
    HISTOGRAM_POINT_MAX,
    HISTOGRAM_POINT_MIN,
    HISTOGRAM_POINT_START_TIME,
    HISTOGRAM_POINT_SUM,
    HISTOGRAM_POINT_TIME,
    METRIC_DESCRIPTION,
    METRIC_HISTOGRAM,
    METRIC_NAME,
    METRIC_SUM,
    METRIC_UNIT,
    METRICS_REQUEST_RESOURCE_METRICS,
    NUMBER_POINT_AS_DOUBLE,
    NUMBER_POINT_AS_INT,
    NUMBER_POINT_ATTRIBUTES,
    NUMBER_POINT_EXEMPLARS,
    NUMBER_POINT_START_TIME,
    NUMBER_POINT_TIME,
    RESOURCE_METRICS_RESOURCE,
    RESOURCE_METRICS_SCHEMA_URL,
    RESOURCE_METRICS_SCOPE_METRICS,
    SCOPE_METRICS_METRICS,
    SCOPE_METRICS_SCOPE,
    SUM_AGGREGATION_TEMPORALITY,
    SUM_DATA_POINTS,
    SUM_IS_MONOTONIC,
)
from bridge.otlp.wire import key_value, len_field, pack_double, pack_fixed64, pack_sfixed64, varint

__all__ = [
    "HISTOGRAM_POINT_ATTRIBUTES",
    "HISTOGRAM_POINT_EXEMPLARS",
    "NUMBER_POINT_ATTRIBUTES",
    "NUMBER_POINT_EXEMPLARS",
    "MetricsEncoder",
]

_SCOPE_FIELD = len_field(SCOPE_METRICS_SCOPE, SCOPE.SerializeToString())
_SCHEMA_FIELD = len_field(RESOURCE_METRICS_SCHEMA_URL, SCHEMA_URL.encode())


def attribute_fields(tag: bytes, keys: Sequence[str], values: Sequence[str]) -> bytes:
    """The attribute fields of one data point; empty values are left out, as Prometheus does."""
    return b"".join([len_field(tag, key_value(k, v)) for k, v in zip(keys, values, strict=True) if v != ""])


def overflow_attribute(tag: bytes) -> bytes:
    """`otel.metric.overflow=true`, the only attribute of the overflow series."""
    return len_field(tag, key_value("otel.metric.overflow", True))


def exemplar(tag: bytes, time_ns: int, value: float, trace_id: bytes, span_id: bytes, as_int: bool) -> bytes:
    """One `Exemplar` field of a data point (`tag`: the point's exemplars field): time, value,
    span and trace id; no filtered attributes (every label of the series is the point's)."""
    parts = [EXEMPLAR_TIME, pack_fixed64(time_ns)]
    if as_int:
        parts += [EXEMPLAR_SPAN_ID, b"\x08", span_id, EXEMPLAR_TRACE_ID, b"\x10", trace_id]
        parts += [EXEMPLAR_AS_INT, pack_sfixed64(int(value))]
    else:
        parts += [EXEMPLAR_AS_DOUBLE, pack_double(value), EXEMPLAR_SPAN_ID, b"\x08", span_id]
        parts += [EXEMPLAR_TRACE_ID, b"\x10", trace_id]
    return len_field(tag, b"".join(parts))


def number_point(
    attributes: bytes, start_ns: int, now_ns: int, value: float, exemplars: bytes = b""
) -> bytes:
    parts = []
    if start_ns:
        parts.append(NUMBER_POINT_START_TIME + pack_fixed64(start_ns))
    if now_ns:
        parts.append(NUMBER_POINT_TIME + pack_fixed64(now_ns))
    if float(value).is_integer() and -(2**63) <= value < 2**63:
        parts.append(NUMBER_POINT_AS_INT + pack_sfixed64(int(value)))
    else:
        parts.append(NUMBER_POINT_AS_DOUBLE + pack_double(float(value)))
    parts.append(exemplars)
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
    exemplars: bytes = b"",
) -> bytes:
    parts = []
    if start_ns:
        parts.append(HISTOGRAM_POINT_START_TIME + pack_fixed64(start_ns))
    if now_ns:
        parts.append(HISTOGRAM_POINT_TIME + pack_fixed64(now_ns))
    if count:
        parts.append(HISTOGRAM_POINT_COUNT + pack_fixed64(count))
    parts.append(HISTOGRAM_POINT_SUM + pack_double(total))
    parts.append(len_field(HISTOGRAM_POINT_BUCKET_COUNTS, b"".join([pack_fixed64(c) for c in counts])))
    if bounds:
        parts.append(len_field(HISTOGRAM_POINT_EXPLICIT_BOUNDS, b"".join([pack_double(b) for b in bounds])))
    parts.append(exemplars)
    parts.append(attributes)
    if count:
        parts.append(HISTOGRAM_POINT_MIN + pack_double(low))
        parts.append(HISTOGRAM_POINT_MAX + pack_double(high))
    return b"".join(parts)


def metric(name: str, description: str, unit: str, kind: str, temporality: int, points: list[bytes]) -> bytes:
    """A `Metric` message: a monotonic Sum ("counter") or a Histogram of the given points."""
    head = len_field(METRIC_NAME, name.encode())
    if description:
        head += len_field(METRIC_DESCRIPTION, description.encode())
    if unit:
        head += len_field(METRIC_UNIT, unit.encode())
    if kind == "counter":
        data = b"".join([len_field(SUM_DATA_POINTS, p) for p in points])
        data += SUM_AGGREGATION_TEMPORALITY + varint(temporality) + SUM_IS_MONOTONIC + b"\x01"
        return head + len_field(METRIC_SUM, data)
    data = b"".join([len_field(HISTOGRAM_DATA_POINTS, p) for p in points])
    data += HISTOGRAM_AGGREGATION_TEMPORALITY + varint(temporality)
    return head + len_field(METRIC_HISTOGRAM, data)


class MetricsEncoder:
    """Writes `ExportMetricsServiceRequest`s from serialized Metrics; owns its resource cache."""

    def __init__(self) -> None:
        self._resources = Resources(RESOURCE_METRICS_RESOURCE)

    def encode(self, items: Iterable[tuple[MetricResource, tuple[bytes, int]]]) -> EncodedRequest:
        """One request, one ResourceMetrics per resource (equal resources merged: some receivers
        keep only the last of two equal ones)."""
        grouped: dict[MetricResource, list[bytes]] = {}
        points = 0
        for key, (encoded, count) in items:
            grouped.setdefault(key, []).append(encoded)
            points += count
        # With tens of thousands of series a request is tens of megabytes: the enclosing lengths
        # are summed rather than measured on joined copies, so the metrics are copied once, by
        # the join.
        parts: list[bytes] = []
        for key, metrics in grouped.items():
            resource = self._resources.metric_field(key)
            fields: list[bytes] = [_SCOPE_FIELD]
            for encoded in metrics:
                fields.append(SCOPE_METRICS_METRICS + varint(len(encoded)))
                fields.append(encoded)
            scope_length = sum(map(len, fields))
            scope_header = RESOURCE_METRICS_SCOPE_METRICS + varint(scope_length)
            length = len(resource) + len(scope_header) + scope_length + len(_SCHEMA_FIELD)
            parts += [
                METRICS_REQUEST_RESOURCE_METRICS + varint(length),
                resource,
                scope_header,
                *fields,
                _SCHEMA_FIELD,
            ]
        return EncodedRequest(b"".join(parts), points, ExportMetricsServiceRequest)
