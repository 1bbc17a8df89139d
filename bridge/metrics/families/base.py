"""The interface of a metric family."""

from __future__ import annotations

from typing import Protocol

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.metrics.points import Point
from bridge.spans import Reporters, SpanSet


class MetricFamily(Protocol):
    """Turns one entry into the `Point`s it records. Called with the store's lock held.

    `points` is the family's whole label logic and must depend only on the inputs
    `bridge.metrics.plan.entry_key` lists: the recorder replays its result for every entry
    with the same key. `record` is the straightforward per-entry path (the reference the
    recorder's plans are tested against)."""

    def points(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> list[Point]: ...

    def record(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> None: ...
