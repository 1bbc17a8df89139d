"""OTLP trace requests written straight in protobuf wire format, from cached byte blocks.

Why: building one protobuf `KeyValue`/`AnyValue` object per attribute costs microseconds each,
and a span carries about twenty; the same (key, value) pairs repeat from span to span (method,
scheme, cluster, route, peer identity). Writing the wire format directly, with each repeating
pair encoded once and kept, costs a fraction of that and gives the same message: the golden
test (`tests/test_otlp_wire.py`) parses both and compares them field by field.

Only the encoding lives here; what goes into a span is decided in `bridge.spans`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bridge.exporters.base import EncodedRequest
from bridge.identity import Workload
from bridge.otlp import RESOURCES, SCHEMA_URL, SCOPE, AttrValue, MetricResource, metric_resource
from bridge.spans.data import ShapeWire, SpanData, SpanShape

_SMALL_VARINTS = [bytes([n]) for n in range(128)]
_pack_fixed64 = struct.Struct("<Q").pack
_pack_double = struct.Struct("<d").pack

# Attribute keys whose values are different for nearly every span: encoding them on the fly
# is cheaper than filling the cache with pairs that never repeat. (Addresses and user agents
# repeat, one per workload or client library, so they are cached.)
_UNCACHED_KEYS = frozenset(
    {
        "envoy.request_id",
        "url.path",
        "url.query",
        "url.full",
        "network.peer.port",
        "http.request.body.size",
        "http.response.body.size",
        "envoy.tcp.received_bytes",
        "envoy.tcp.sent_bytes",
    }
)
_KV_CACHE_LIMIT = 100_000


def varint(n: int) -> bytes:
    if 0 <= n < 128:
        return _SMALL_VARINTS[n]
    if 0 < n < 16384:  # most message lengths: two bytes
        return bytes(((n & 0x7F) | 0x80, n >> 7))
    if 0 < n < 2097152:  # ports, sizes
        return bytes(((n & 0x7F) | 0x80, ((n >> 7) & 0x7F) | 0x80, n >> 14))
    n &= 0xFFFFFFFFFFFFFFFF  # negative int64: ten bytes, two's complement
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _len_field(tag: bytes, payload: bytes) -> bytes:
    return tag + varint(len(payload)) + payload


def _any_value(value: AttrValue) -> bytes:
    if isinstance(value, bool):
        return b"\x10\x01" if value else b"\x10\x00"
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:
            return b"\x18" + varint(value)
        return _len_field(b"\x0a", str(value).encode())  # as bridge.otlp.any_value does
    if isinstance(value, float):
        return b"\x21" + _pack_double(value)
    return _len_field(b"\x0a", str(value).encode())


_KEY_FIELDS: dict[str, bytes] = {}


def _key_field(key: str) -> bytes:
    """KeyValue.key's field bytes, made once per key (keys are a small fixed set)."""
    encoded = _KEY_FIELDS.get(key)
    if encoded is None:
        encoded = _len_field(b"\x0a", key.encode())
        if len(_KEY_FIELDS) < 10_000:
            _KEY_FIELDS[key] = encoded
    return encoded


def key_value(key: str, value: AttrValue) -> bytes:
    """A `KeyValue` message's bytes (not yet wrapped as a field)."""
    return _key_field(key) + _len_field(b"\x12", _any_value(value))


class AttributeEncoder:
    """Attribute fields (tag 9 of Span, or tag 1 of Resource) with repeating pairs cached.

    String values, nearly all of them, are found in a dict per key: two probes on strings,
    whose hashes Python keeps, and no key tuple to build per attribute. Other values are cached
    by (key, value, type): True == 1 == 1.0 but they encode differently.
    """

    def __init__(self, tag: bytes) -> None:
        self._tag = tag
        self._cache: dict[tuple[str, AttrValue, type], bytes] = {}
        self._strings: dict[str, dict[str, bytes]] = {}
        self._size = 0

    def field(self, key: str, value: AttrValue) -> bytes:
        if type(value) is str:
            by_value = self._strings.get(key)
            if by_value is not None:
                encoded = by_value.get(value)
                if encoded is not None:
                    return encoded
        if key in _UNCACHED_KEYS:
            return _len_field(self._tag, key_value(key, value))
        return self._miss(key, value)

    def _miss(self, key: str, value: AttrValue) -> bytes:
        if self._size >= _KV_CACHE_LIMIT:
            self._cache.clear()
            self._strings.clear()
            self._size = 0
        encoded = _len_field(self._tag, key_value(key, value))
        if type(value) is str:
            self._strings.setdefault(key, {})[value] = encoded
        else:
            cache_key = (key, value, type(value))
            found = self._cache.get(cache_key)
            if found is not None:
                return found
            self._cache[cache_key] = encoded
        self._size += 1
        return encoded


_SPAN_ATTRIBUTES = AttributeEncoder(b"\x4a")
_pack_times = struct.Struct("<BQBQ").pack


def _shape_wire(shape: SpanShape) -> ShapeWire:
    """A shape's own Span fields: (name and kind, its attributes, status), in the places of
    field-number order that they take around a span's ids, times and dynamic attributes; and
    per dynamic key the KeyValue's start (key field, then the value's tag)."""
    head = b""
    if shape.name:
        head += _len_field(b"\x2a", shape.name.encode())
    if shape.kind:
        head += b"\x30" + varint(shape.kind)
    field = _SPAN_ATTRIBUTES.field
    block = b"".join([field(k, v) for k, v in shape.attributes])
    status = b"\x7a\x02\x18" + varint(shape.status_code) if shape.status_code else b""
    return head, block, status, tuple(_key_field(k) + b"\x12" for k in shape.dynamic_keys)


def _dynamic_fields(key_starts: tuple[bytes, ...], values: tuple[AttrValue | None, ...]) -> list[bytes]:
    """A span's per-entry attributes: values that hardly repeat, so encoded every time, never
    cached. One loop with the common small lengths looked up inline: it runs for ~8 values of
    every span."""
    small = _SMALL_VARINTS
    fields = []
    for key_start, value in zip(key_starts, values, strict=True):
        if value is None:
            continue
        if type(value) is str:
            raw = value.encode()
            n = len(raw)
            any_value = b"\x0a" + (small[n] if n < 128 else varint(n)) + raw
        elif type(value) is int and 0 <= value < 2**63:
            any_value = b"\x18" + (small[value] if value < 128 else varint(value))
        else:
            any_value = _any_value(value)
        n = len(any_value)
        kv = key_start + (small[n] if n < 128 else varint(n)) + any_value
        n = len(kv)
        fields.append(b"\x4a" + (small[n] if n < 128 else varint(n)) + kv)
    return fields


def encode_span(span: SpanData) -> bytes:
    """A `Span` message's bytes, fields in field-number order as protobuf writes them."""
    shape = span.shape
    wire = shape.wire
    if wire is None:
        wire = shape.wire = _shape_wire(shape)
    head, block, status, key_starts = wire
    parts = [b"\x0a\x10", span.trace_id, b"\x12\x08", span.span_id]
    if span.parent_span_id:
        parts.append(b"\x22\x08")
        parts.append(span.parent_span_id)
    parts.append(head)
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start and end:
        parts.append(_pack_times(0x39, start, 0x41, end))
    elif start:
        parts.append(b"\x39" + _pack_fixed64(start))
    elif end:
        parts.append(b"\x41" + _pack_fixed64(end))
    parts.append(block)
    parts += _dynamic_fields(key_starts, span.dynamic_values)
    parts.append(status)
    return b"".join(parts)


class _ResourceBlocks:
    """Per workload: the encoded `resource` field of a ResourceSpans, made once."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._cache: dict[Workload, bytes] = {}
        self._max = max_entries

    def get(self, workload: Workload) -> bytes:
        block = self._cache.get(workload)
        if block is None:
            if len(self._cache) >= self._max:
                self._cache.clear()
            block = _len_field(b"\x0a", RESOURCES.get(workload).SerializeToString())
            self._cache[workload] = block
        return block


_RESOURCE_BLOCKS = _ResourceBlocks()
_SCOPE_FIELD = _len_field(b"\x0a", SCOPE.SerializeToString())
_SCHEMA_FIELD = _len_field(b"\x1a", SCHEMA_URL.encode())


def encode_traces(items: Iterable[tuple[Workload, SpanData]]) -> EncodedRequest:
    """One ExportTraceServiceRequest, one ResourceSpans per workload, spans in arrival order.

    Spans are grouped by workload object first (an identity probe per span), and equal
    workload objects share one group (a `Workload` hash, which walks all its fields, once per
    object per request): the same grouping as by equality, at a fraction of the cost."""
    by_object: dict[int, tuple[Workload, list[bytes]]] = {}
    by_value: dict[Workload, list[bytes]] = {}
    count = 0
    for workload, span in items:
        found = by_object.get(id(workload))
        if found is None or found[0] is not workload:
            bucket = by_value.get(workload)
            if bucket is None:
                bucket = by_value[workload] = []
            found = by_object[id(workload)] = (workload, bucket)
        found[1].append(encode_span(span))
        count += 1
    parts: list[bytes] = []
    for workload, spans in by_value.items():
        scope_spans = b"".join([_SCOPE_FIELD, *[_len_field(b"\x12", s) for s in spans]])
        resource_spans = b"".join(
            [_RESOURCE_BLOCKS.get(workload), _len_field(b"\x12", scope_spans), _SCHEMA_FIELD]
        )
        parts.append(_len_field(b"\x0a", resource_spans))
    return EncodedRequest(b"".join(parts), count, ExportTraceServiceRequest)


def encode_metrics(items: Iterable[tuple[MetricResource, tuple[bytes, int]]]) -> EncodedRequest:
    """One ExportMetricsServiceRequest from serialized Metrics, one ResourceMetrics per resource
    (equal resources merged: some receivers keep only the last of two equal ones)."""
    grouped: dict[MetricResource, list[bytes]] = {}
    points = 0
    for key, (metric, count) in items:
        grouped.setdefault(key, []).append(metric)
        points += count
    # With tens of thousands of series a request is tens of megabytes: the enclosing lengths are
    # summed rather than measured on joined copies, so the metrics are copied once, by the join.
    parts: list[bytes] = []
    for key, metrics in grouped.items():
        resource = _len_field(b"\x0a", metric_resource(key).SerializeToString())
        fields: list[bytes] = [_SCOPE_FIELD]
        for metric in metrics:
            fields.append(b"\x12" + varint(len(metric)))
            fields.append(metric)
        scope_length = sum(map(len, fields))
        scope_header = b"\x12" + varint(scope_length)
        length = len(resource) + len(scope_header) + scope_length + len(_SCHEMA_FIELD)
        parts += [b"\x0a" + varint(length), resource, scope_header, *fields, _SCHEMA_FIELD]
    return EncodedRequest(b"".join(parts), points, ExportMetricsServiceRequest)
