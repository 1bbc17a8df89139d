"""OTLP trace requests written straight in protobuf wire format, from cached byte blocks.

A span's `SpanShape` (name, kind, status, static attributes) is encoded once, on the shape, and
reused by every span of that shape; per span only the ids, times and dynamic attributes are
written. `tests/otlp/test_traces.py` parses the result and compares it with the protobuf-built
reference, field by field. What goes into a span is decided in `bridge.spans`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bridge.attributes import AttrValue
from bridge.exporters.base import EncodedRequest
from bridge.identity import Workload
from bridge.otlp.common import SCHEMA_URL, SCOPE
from bridge.otlp.resources import Resources
from bridge.otlp.tags import (
    ANY_VALUE_INT,
    ANY_VALUE_STRING,
    KEY_VALUE_VALUE,
    RESOURCE_SPANS_RESOURCE,
    RESOURCE_SPANS_SCHEMA_URL,
    RESOURCE_SPANS_SCOPE_SPANS,
    SCOPE_SPANS_SCOPE,
    SCOPE_SPANS_SPANS,
    SPAN_ATTRIBUTES,
    SPAN_END_TIME,
    SPAN_KIND,
    SPAN_NAME,
    SPAN_PARENT_SPAN_ID,
    SPAN_SPAN_ID,
    SPAN_START_TIME,
    SPAN_STATUS,
    SPAN_TRACE_ID,
    SPAN_TRACE_STATE,
    STATUS_CODE,
    TRACE_REQUEST_RESOURCE_SPANS,
)
from bridge.otlp.wire import (
    SMALL_VARINTS,
    AttributeEncoder,
    any_value,
    key_field,
    len_field,
    pack_fixed64,
    varint,
)
from bridge.spans.data import ShapeWire, SpanData, SpanShape

_TRACE_ID_FIELD = SPAN_TRACE_ID + b"\x10"  # 16 bytes
_SPAN_ID_FIELD = SPAN_SPAN_ID + b"\x08"  # 8 bytes
_PARENT_FIELD = SPAN_PARENT_SPAN_ID + b"\x08"
_pack_times = struct.Struct("<BQBQ").pack
_START, _END = SPAN_START_TIME[0], SPAN_END_TIME[0]
_SCOPE_FIELD = len_field(SCOPE_SPANS_SCOPE, SCOPE.SerializeToString())
_SCHEMA_FIELD = len_field(RESOURCE_SPANS_SCHEMA_URL, SCHEMA_URL.encode())


def _dynamic_fields(key_starts: tuple[bytes, ...], values: tuple[AttrValue | None, ...]) -> list[bytes]:
    """A span's per-entry attributes: values that hardly repeat, so encoded every time, never
    cached. One loop with the common small lengths looked up inline: it runs for ~8 values of
    every span."""
    small = SMALL_VARINTS
    fields = []
    for key_start, value in zip(key_starts, values, strict=True):
        if value is None:
            continue
        if type(value) is str:
            raw = value.encode()
            n = len(raw)
            encoded = ANY_VALUE_STRING + (small[n] if n < 128 else varint(n)) + raw
        elif type(value) is int and 0 <= value < 2**63:
            encoded = ANY_VALUE_INT + (small[value] if value < 128 else varint(value))
        else:
            encoded = any_value(value)
        n = len(encoded)
        kv = key_start + (small[n] if n < 128 else varint(n)) + encoded
        n = len(kv)
        fields.append(SPAN_ATTRIBUTES + (small[n] if n < 128 else varint(n)) + kv)
    return fields


class TraceEncoder:
    """Writes `ExportTraceServiceRequest`s; owns its attribute and resource caches (one per
    pipeline, used by whichever thread flushes the batch)."""

    def __init__(self) -> None:
        self._attributes = AttributeEncoder(SPAN_ATTRIBUTES)
        self._resources = Resources(RESOURCE_SPANS_RESOURCE)

    def _shape_wire(self, shape: SpanShape) -> ShapeWire:
        """A shape's own Span fields: (name and kind, its attributes, status), in the places of
        field-number order that they take around a span's ids, times and dynamic attributes; and
        per dynamic key the KeyValue's start (key field, then the value's tag). The same bytes
        whichever encoder makes them, so the shape keeps the first."""
        head = b""
        if shape.name:
            head += len_field(SPAN_NAME, shape.name.encode())
        if shape.kind:
            head += SPAN_KIND + varint(shape.kind)
        field = self._attributes.field
        block = b"".join([field(k, v) for k, v in shape.attributes])
        status = len_field(SPAN_STATUS, STATUS_CODE + varint(shape.status_code)) if shape.status_code else b""
        return head, block, status, tuple(key_field(k) + KEY_VALUE_VALUE for k in shape.dynamic_keys)

    def span(self, span: SpanData) -> bytes:
        """A `Span` message's bytes, fields in field-number order as protobuf writes them."""
        shape = span.shape
        wire = shape.wire
        if wire is None:
            wire = shape.wire = self._shape_wire(shape)
        head, block, status, key_starts = wire
        parts = [_TRACE_ID_FIELD, span.trace_id, _SPAN_ID_FIELD, span.span_id]
        if span.trace_state:
            parts.append(len_field(SPAN_TRACE_STATE, span.trace_state.encode()))
        if span.parent_span_id:
            parts.append(_PARENT_FIELD)
            parts.append(span.parent_span_id)
        parts.append(head)
        start, end = span.start_time_unix_nano, span.end_time_unix_nano
        if start and end:
            parts.append(_pack_times(_START, start, _END, end))
        elif start:
            parts.append(SPAN_START_TIME + pack_fixed64(start))
        elif end:
            parts.append(SPAN_END_TIME + pack_fixed64(end))
        parts.append(block)
        parts += _dynamic_fields(key_starts, span.dynamic_values)
        parts.append(status)
        return b"".join(parts)

    def encode(self, items: Iterable[tuple[Workload, SpanData]]) -> EncodedRequest:
        """One ExportTraceServiceRequest, one ResourceSpans per workload, spans in arrival order.

        Spans are grouped by workload object first (an identity probe per span), and equal
        workload objects share one group (a `Workload` hash, which walks all its fields, once per
        object per request): the same grouping as by equality, at a fraction of the cost."""
        by_object: dict[int, tuple[Workload, list[bytes]]] = {}
        by_value: dict[Workload, list[bytes]] = {}
        count = 0
        encode_span = self.span
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
            scope_spans = b"".join([_SCOPE_FIELD, *[len_field(SCOPE_SPANS_SPANS, s) for s in spans]])
            resource_spans = b"".join(
                [
                    self._resources.field(workload),
                    len_field(RESOURCE_SPANS_SCOPE_SPANS, scope_spans),
                    _SCHEMA_FIELD,
                ]
            )
            parts.append(len_field(TRACE_REQUEST_RESOURCE_SPANS, resource_spans))
        return EncodedRequest(b"".join(parts), count, ExportTraceServiceRequest)
