"""`QueuedExporter`: a bounded queue and one retrying worker thread in front of an exporter.

Why: the pipeline must never wait for a backend. `submit` only appends to memory (or drops, with
a count, when the queue is full), and a worker per exporter does the slow part, so a backend
that is down or slow stalls nothing but its own queue. This is the Collector's `sending_queue`
plus `retry_on_failure`, and, as there, every item ends up counted exactly once: exported,
failed (`als_bridge_export_failed_items_total`) or dropped (`als_bridge_dropped_items_total`).
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from dataclasses import dataclass

from bridge.exporters.base import Exporter, ExportError, ExportRequest, Signal, count_items
from bridge.telemetry import SELF, RateLimitedLogger

SELF.describe("als_bridge_export_retries_total", "counter", "Export attempts that failed and will be retried")

_logger = logging.getLogger(__name__)
_warn = RateLimitedLogger(_logger)

EXPORTED = "als_bridge_exported_items_total"
FAILED = "als_bridge_export_failed_items_total"
DROPPED = "als_bridge_dropped_items_total"
RETRIES = "als_bridge_export_retries_total"
QUEUE_LENGTH = "als_bridge_queue_length"


@dataclass(frozen=True, slots=True)
class _Entry:
    signal: Signal
    request: ExportRequest
    items: int
    size: int  # serialised bytes


class QueuedExporter:
    """Queues export requests for one exporter and sends them from one worker thread.

    Capacity is bounded both in items (spans, data points, log records) and in serialised bytes;
    0 turns a bound off. The request being sent still counts against both until it is done, so
    memory stays bounded while a backend is down. Retryable failures are retried with exponential
    backoff (`initial_interval` * `multiplier`**n, capped at `max_interval`, randomised by
    +/- `jitter`), waiting at least as long as the backend asked (`retry_after`), until
    `max_elapsed_time` has passed since the first attempt (0: until shutdown).
    """

    def __init__(
        self,
        exporter: Exporter,
        *,
        max_items: int = 50_000,
        max_bytes: int = 64 * 1024 * 1024,
        initial_interval: float = 0.5,
        max_interval: float = 5.0,
        max_elapsed_time: float = 60.0,
        multiplier: float = 1.5,
        jitter: float = 0.5,
    ) -> None:
        self.exporter = exporter
        self.name = exporter.name
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._initial_interval = initial_interval
        self._max_interval = max_interval
        self._max_elapsed_time = max_elapsed_time
        self._multiplier = multiplier
        self._jitter = jitter
        self._random = random.Random()
        self._entries: collections.deque[_Entry] = collections.deque()
        self._items = 0  # queued plus in flight
        self._bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False  # no new entries; the worker leaves when the queue is empty
        self._abandon = threading.Event()  # shutdown timed out: stop retrying, drop the rest
        self._set_gauge()
        self._worker = threading.Thread(target=self._run, name=f"export-{self.name}", daemon=True)
        self._worker.start()

    @property
    def queue_length(self) -> int:
        """Items queued or being sent."""
        with self._lock:
            return self._items

    def submit(self, signal: Signal, request: ExportRequest) -> bool:
        """Queues `request` for sending; never blocks. False (and counted as dropped) when it does not fit."""
        items = count_items(signal, request)
        size = int(request.ByteSize())
        with self._lock:
            reason = self._refusal(items, size)
            if reason is None:
                self._entries.append(_Entry(signal, request, items, size))
                self._items += items
                self._bytes += size
                self._set_gauge_locked()
                self._wake.notify()
                return True
        self._drop(signal, items, reason)
        return False

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stops taking requests, sends what is queued for up to `timeout` seconds, closes the exporter.

        Whatever is still queued after `timeout` is counted as dropped with reason "shutdown"; a
        request in the middle of a retry is given up at its next wait. Returns True when everything
        queued was handled (exported or failed) in time.
        """
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self._worker.join(timeout)
        drained = not self._worker.is_alive()
        if not drained:
            self._abandon.set()
            self._drop_queued()
        self.exporter.shutdown()
        return drained

    def _refusal(self, items: int, size: int) -> str | None:
        """Why an entry cannot be queued now (lock held), or None if it fits."""
        if self._closed:
            return "shutdown"
        if (self._max_items and items > self._max_items) or (self._max_bytes and size > self._max_bytes):
            return "too_large"  # would never fit, even in an empty queue
        if (self._max_items and self._items + items > self._max_items) or (
            self._max_bytes and self._bytes + size > self._max_bytes
        ):
            return "queue_full"
        return None

    def _run(self) -> None:
        while (entry := self._next()) is not None:
            try:
                self._deliver(entry)
            except Exception:  # a bug in an exporter must not kill the worker and freeze the queue
                _logger.exception("%s: unexpected error while exporting %s", self.name, entry.signal.value)
                self._fail(entry, "internal_error")
            finally:
                self._release(entry)

    def _next(self) -> _Entry | None:
        """The next entry to send, waiting for one; None once closed and empty, or abandoned."""
        with self._lock:
            while not self._entries and not self._closed:
                self._wake.wait()
            if not self._entries or self._abandon.is_set():
                return None
            return self._entries.popleft()

    def _deliver(self, entry: _Entry) -> None:
        """Sends one entry, retrying as configured, and counts how it ended."""
        started = time.monotonic()
        interval = self._initial_interval
        while True:
            try:
                self.exporter.send(entry.signal, entry.request)
            except ExportError as err:
                if not err.retryable:
                    self._fail(entry, "permanent_error", err)
                    return
                if self._abandon.is_set():  # shutdown timed out (and may have closed the exporter)
                    self._drop(entry.signal, entry.items, "shutdown")
                    return
                delay = max(self._jittered(interval), err.retry_after or 0.0)
                interval = min(interval * self._multiplier, self._max_interval)
                elapsed = time.monotonic() - started
                if self._max_elapsed_time and elapsed + delay > self._max_elapsed_time:
                    self._fail(entry, "retries_exhausted", err)
                    return
                SELF.add(RETRIES, exporter=self.name, signal=entry.signal.value)
                _warn.warning(f"retry:{self.name}", "%s (will retry in %.1fs)", err.message, delay)
                if self._abandon.wait(delay):
                    self._drop(entry.signal, entry.items, "shutdown")
                    return
            else:
                SELF.add(EXPORTED, entry.items, exporter=self.name, signal=entry.signal.value)
                return

    def _jittered(self, interval: float) -> float:
        return interval * (1 + self._jitter * self._random.uniform(-1.0, 1.0))

    def _fail(self, entry: _Entry, reason: str, err: ExportError | None = None) -> None:
        SELF.add(FAILED, entry.items, exporter=self.name, signal=entry.signal.value, reason=reason)
        if err is not None:
            _warn.warning(
                f"failed:{self.name}:{reason}",
                "%s; gave up on %d %s (%s)",
                err.message,
                entry.items,
                entry.signal.value,
                reason,
            )

    def _drop(self, signal: Signal, items: int, reason: str) -> None:
        SELF.add(DROPPED, items, exporter=self.name, signal=signal.value, reason=reason)
        _warn.warning(
            f"dropped:{self.name}:{reason}", "%s: dropped %d %s (%s)", self.name, items, signal.value, reason
        )

    def _drop_queued(self) -> None:
        with self._lock:
            entries = list(self._entries)
            self._entries.clear()
        for entry in entries:
            self._drop(entry.signal, entry.items, "shutdown")
            self._release(entry)

    def _release(self, entry: _Entry) -> None:
        """The entry is done (in whatever way): give its room back."""
        with self._lock:
            self._items -= entry.items
            self._bytes -= entry.size
            self._set_gauge_locked()

    def _set_gauge(self) -> None:
        with self._lock:
            self._set_gauge_locked()

    def _set_gauge_locked(self) -> None:
        SELF.set(QUEUE_LENGTH, self._items, exporter=self.name)
