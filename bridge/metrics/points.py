"""What one entry records, as data: the families' label logic returns `Point`s, not side effects.

Why: a family's labels and decisions depend on a few entry fields that repeat from entry to
entry (the two workloads, the status, the route ...), while the recorded values (durations,
sizes) change every time. Describing the recording as `Point`s (instrument, resource, labels,
which value) splits the two: `record_points` is the straightforward per-entry path (every
point finds its series), and `bridge.metrics.plan` keeps the points of a repeating entry with
their series already bound, so a repeat only adds the values. Both read values through
`entry_values`, so both add exactly the same numbers.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple

from bridge.decode import EntryView
from bridge.identity import Workload
from bridge.metrics.store import CounterState, Instrument, LabelValues, ResourceKey, SeriesState
from bridge.spans.data import SpanData


class Value(IntEnum):
    """Which number of the entry a point adds (a counter) or observes (a histogram); the value
    is its index in `entry_values`."""

    ONE = 0  # a count: +1
    DURATION_MS = 1  # the entry's duration in milliseconds
    DURATION_S = 2  # the entry's duration in seconds
    REQUEST_BYTES = 3  # downstream wire bytes received, else headers + body
    RESPONSE_BYTES = 4  # downstream wire bytes sent, else headers + body
    TCP_SENT = 5  # a TCP connection's bytes sent to the downstream
    TCP_RECEIVED = 6  # a TCP connection's bytes received from the downstream
    SPAN_SECONDS = 7  # the duration of span `Point.span` in seconds (index 7 + span)


class Point(NamedTuple):
    """One series update of an entry: `value` goes to the series `labels` of `instrument`."""

    instrument: Instrument
    resource: ResourceKey
    labels: LabelValues
    value: Value
    span: int = 0  # index into `SpanSet.spans`, for Value.SPAN_SECONDS

    @property
    def slot(self) -> int:
        """Where the point's number is in `entry_values`."""
        return int(self.value) + (self.span if self.value is Value.SPAN_SECONDS else 0)


Spans = list[tuple[Workload, SpanData]]


def entry_values(view: EntryView, spans: Spans) -> list[float]:
    """Every number a point may take from this entry, indexed by `Point.index`: the one
    definition both recording paths use, computed once per entry (each duration is one
    subtraction and one division, not one per family)."""
    duration = view.end_ns - view.start_ns
    values: list[float] = [
        1,
        duration / 1e6,
        duration / 1e9,
        view.wire_bytes_received or view.request_headers_bytes + view.request_body_bytes,
        view.wire_bytes_sent or view.response_headers_bytes + view.response_body_bytes,
        view.tcp_sent_bytes,
        view.tcp_received_bytes,
    ]
    for _, span in spans:
        values.append((span.end_time_unix_nano - span.start_time_unix_nano) / 1e9)
    return values


def record_points(points: list[Point], view: EntryView, spans: Spans) -> list[SeriesState] | None:
    """The reference path: each point finds its series (past the cap, the overflow series, and
    the store counts the fold) and adds its value.

    Returns the points' series states when a caller may keep them all (no point folded into
    an overflow series, whose every point must go through here to be counted), else None.
    """
    states: list[SeriesState] | None = []
    values = entry_values(view, spans)
    for point in points:
        state, keep = point.instrument.series(point.resource, point.labels)
        amount = values[point.slot]
        if isinstance(state, CounterState):
            state.value += amount
        else:
            state.observe(amount)
        if states is not None:
            if keep:
                states.append(state)
            else:
                states = None
    return states
