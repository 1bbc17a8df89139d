"""The interface of a metric family."""

from __future__ import annotations

from typing import Protocol

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.spans import Reporters, SpanSet


class MetricFamily(Protocol):
    """Records one entry. Called with the store's lock held, on the hot path: no I/O, no
    per-call allocation beyond the label tuples, label values cached where they repeat."""

    def record(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> None: ...
