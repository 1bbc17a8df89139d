"""The bridge's own counters and gauges (`als_bridge_*`), and rate-limited warnings.

Every drop, error and limit hit in the bridge increments a counter here with a `reason` (or
similar) label, so a user can see what was lost and why. The metrics pipeline and the
`prometheus` exporter read `SELF.snapshot()`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: Labels
    value: float
    kind: str  # "counter" | "gauge"
    description: str


class SelfTelemetry:
    """Counters and gauges keyed by (name, labels). Increments are cheap and thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[tuple[str, Labels], float] = {}
        self._kinds: dict[str, tuple[str, str]] = {}

    def describe(self, name: str, kind: str, description: str) -> None:
        self._kinds[name] = (kind, description)

    def add(self, name: str, value: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = self._values.get(key, 0) + value

    def set(self, name: str, value: float, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._values[key] = value

    def get(self, name: str, **labels: str) -> float:
        """The value of one series; with no labels given, the sum over all series of `name`."""
        with self._lock:
            if labels:
                return self._values.get((name, tuple(sorted(labels.items()))), 0)
            return sum(v for (n, _), v in self._values.items() if n == name)

    def snapshot(self) -> Iterator[Sample]:
        with self._lock:
            items = list(self._values.items())
        for (name, labels), value in items:
            kind, description = self._kinds.get(name, ("counter", ""))
            yield Sample(name, labels, value, kind, description)

    def reset(self) -> None:
        """Tests only: start from zero."""
        with self._lock:
            self._values.clear()


SELF = SelfTelemetry()
SELF.describe("als_bridge_entries_received_total", "counter", "ALS entries received, by type (http, tcp)")
SELF.describe("als_bridge_entries_dropped_total", "counter", "ALS entries dropped, by reason")
SELF.describe("als_bridge_streams_open", "gauge", "ALS gRPC streams open now")
SELF.describe("als_bridge_streams_total", "counter", "ALS gRPC streams accepted")
SELF.describe(
    "als_bridge_spans_created_total", "counter", "Spans handed to the traces pipelines (after any sampling)"
)
SELF.describe(
    "als_bridge_decode_errors_total", "counter", "Messages or metadata blobs that failed to decode, by kind"
)
SELF.describe("als_bridge_exported_items_total", "counter", "Items exported, by exporter and signal")
SELF.describe("als_bridge_export_failed_items_total", "counter", "Items an exporter gave up on, by exporter")
SELF.describe(
    "als_bridge_dropped_items_total", "counter", "Items dropped before export (queue full), by exporter"
)
SELF.describe("als_bridge_queue_length", "gauge", "Items waiting in an exporter's queue")


class RateLimitedLogger:
    """Logs a given warning key at most once per `interval` seconds, counting what it held back."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0) -> None:
        self._logger = logger
        self._interval = interval
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self._interval:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return
            self._last[key] = now
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += f" ({suppressed} similar messages suppressed)"
        self._logger.warning(msg, *args)
