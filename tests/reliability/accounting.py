"""Where every entry sent to a bridge went, read from its sink and its own counters."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tests.reliability.bridge_process import BridgeProcess
from tests.support.otlp_sink import OTLPSink


@dataclass(frozen=True)
class Accounting:
    """Entries sent = spans at the sink + every counted drop (one span per entry with reporters=both)."""

    sent: int
    received: int  # als_bridge_entries_received_total
    at_sink: int
    dropped_in_receiver: int  # als_bridge_entries_dropped_total (rate limit, unreadable, ...)
    dropped_before_export: int  # als_bridge_dropped_items_total (queue full, disk full)
    export_failed: int  # als_bridge_export_failed_items_total (retries exhausted, ...)

    @property
    def counted_drops(self) -> int:
        return self.dropped_in_receiver + self.dropped_before_export + self.export_failed

    @property
    def unaccounted(self) -> int:
        """Entries neither delivered nor counted as dropped: must be 0."""
        return self.sent - self.at_sink - self.counted_drops


def settle(bridge: BridgeProcess, sink: OTLPSink, sent: int, timeout: float = 60.0) -> Accounting:
    """Wait until the bridge's queue is empty and the books balance (or `timeout`), then read them."""
    deadline = time.monotonic() + timeout
    while True:
        books = read(bridge, sink, sent)
        queued = bridge.counter("als_bridge_queue_length", exporter="otlp")
        if (books.unaccounted <= 0 and queued == 0) or time.monotonic() > deadline:
            return books
        time.sleep(0.5)


def read(bridge: BridgeProcess, sink: OTLPSink, sent: int) -> Accounting:
    metrics = bridge.scrape()

    def total(name: str) -> int:
        return int(sum(v for (n, _labels), v in metrics.items() if n == name))

    return Accounting(
        sent=sent,
        received=total("als_bridge_entries_received_total"),
        at_sink=len(sink.spans()),
        dropped_in_receiver=total("als_bridge_entries_dropped_total"),
        dropped_before_export=total("als_bridge_dropped_items_total"),
        export_failed=total("als_bridge_export_failed_items_total"),
    )
