"""`SpanData`: a span as plain data, what the span builder makes and every later stage reads.

Plain data rather than a protobuf `Span`: the metric families read a few fields of every span,
and the wire encoder (`bridge.otlp_wire`) writes it out with cached attribute blocks; building
a protobuf object in between would cost more than both.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.otlp import AttrValue

# OTLP's enum values (trace.proto), so the data and the wire agree without a lookup.
SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
STATUS_UNSET = 0
STATUS_ERROR = 2


@dataclass(slots=True)
class SpanData:
    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    name: str
    kind: int
    start_time_unix_nano: int
    end_time_unix_nano: int
    attributes: list[tuple[str, AttrValue]]
    status_code: int = STATUS_UNSET

    @property
    def is_error(self) -> bool:
        return self.status_code == STATUS_ERROR

    def attribute(self, key: str) -> AttrValue | None:
        for k, v in self.attributes:
            if k == key:
                return v
        return None
