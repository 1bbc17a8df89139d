"""`SpanData`: a span as plain data, what the span builder makes and every later stage reads.

Plain data rather than a protobuf `Span`: the metric families read a few fields of every span,
and the wire encoder (`bridge.otlp.traces`) writes it out from cached byte blocks; building a
protobuf object in between would cost more than both.

A span is split in two: its `SpanShape` (name, kind, status and the attributes that are a
function of values repeating from entry to entry: the two workloads, method, status code,
cluster, ...), shared by every span of the same shape and encoded once; and the per-entry rest
(ids, times, the dynamic attributes such as the request id and the path).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.attributes import Attr, AttrValue

# OTLP's enum values (trace.proto), so the data and the wire agree without a lookup.
SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3
STATUS_UNSET = 0
STATUS_ERROR = 2

# The wire encoder's bytes of a shape: its name and kind fields, its attribute fields, its
# status field, and per dynamic key the start of that key's KeyValue.
ShapeWire = tuple[bytes, bytes, bytes, tuple[bytes, ...]]


@dataclass(slots=True, eq=False)
class SpanShape:
    """What many spans share: name, kind, status, the static attributes, and the keys of the
    dynamic ones (whose values each span carries). `wire` is the encoder's: the shape's own
    Span fields, encoded on first use and kept here, so a repeating shape is encoded once."""

    name: str
    kind: int
    status_code: int
    attributes: tuple[Attr, ...]
    dynamic_keys: tuple[str, ...] = ()
    wire: ShapeWire | None = None


def pairs(keys: tuple[str, ...], values: tuple[AttrValue | None, ...]) -> list[Attr]:
    """Dynamic attributes as (key, value) pairs; a value of None is an attribute left out."""
    return [(k, v) for k, v in zip(keys, values, strict=True) if v is not None]


@dataclass(slots=True)
class SpanData:
    """One span. Its dynamic attributes are stored as values only, in the order of
    `shape.dynamic_keys` (None: left out): one tuple per span rather than a pair per attribute,
    for a stage that makes tens of thousands of spans per second."""

    trace_id: bytes
    span_id: bytes
    parent_span_id: bytes
    start_time_unix_nano: int
    end_time_unix_nano: int
    shape: SpanShape
    dynamic_values: tuple[AttrValue | None, ...] = ()
    # W3C `tracestate`: set by a sampler to say how the span was sampled (`ot=th:...`)
    trace_state: str = ""

    @property
    def name(self) -> str:
        return self.shape.name

    @property
    def kind(self) -> int:
        return self.shape.kind

    @property
    def status_code(self) -> int:
        return self.shape.status_code

    @property
    def is_error(self) -> bool:
        return self.shape.status_code == STATUS_ERROR

    @property
    def dynamic(self) -> list[Attr]:
        return pairs(self.shape.dynamic_keys, self.dynamic_values)

    @property
    def attributes(self) -> list[Attr]:
        """All attributes, the shape's first: the order the span is encoded in."""
        return [*self.shape.attributes, *self.dynamic]

    def attribute(self, key: str) -> AttrValue | None:
        for k, v in self.shape.attributes:
            if k == key:
                return v
        for k, value in zip(self.shape.dynamic_keys, self.dynamic_values, strict=True):
            if k == key and value is not None:
                return value
        return None


def span_data(
    trace_id: bytes,
    span_id: bytes,
    parent_span_id: bytes,
    name: str,
    kind: int,
    start_time_unix_nano: int,
    end_time_unix_nano: int,
    attributes: list[Attr],
    status_code: int = STATUS_UNSET,
) -> SpanData:
    """A span with a shape of its own (nothing shared), all attributes static: for tests and
    tools that make spans one by one."""
    shape = SpanShape(name, kind, status_code, tuple(attributes))
    return SpanData(trace_id, span_id, parent_span_id, start_time_unix_nano, end_time_unix_nano, shape)
