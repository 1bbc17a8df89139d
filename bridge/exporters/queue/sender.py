"""`QueuedExporter`: an exporter's bounded queue, its consumers, and the counts of how items ended.

Why: the pipeline must never wait for a backend. `submit` only appends to memory (or to disk, or
drops with a count when there is no room), and `sending_queue.num_consumers` threads per exporter
do the slow part, so a backend that is down or slow stalls nothing but its own queue, and one
slow round trip does not hold back the others. This is the Collector's `sending_queue` (with its
`batch`) plus `retry_on_failure`, and, as there, every item ends up counted exactly once:
exported, failed (`als_bridge_export_failed_items_total`) or dropped
(`als_bridge_dropped_items_total`). A merged send is counted per request it merged, once, when
it ends. With `storage: file`, what is on disk at shutdown is not counted as dropped, since the
next start sends it (at least once: a file is deleted only after the backend acknowledged it).

The pieces: `BoundedQueue` (memory and its bounds), `PersistentWindow` (the files and the part
of them kept in memory), `BatchPolicy` (when to send and how much to merge), `RetryPolicy` (when
to try again). This module holds them together under one lock.

`on_full: block` does not make `submit` wait (it runs on the receiver's event loop, which would
stall every stream, and could deadlock with the batch processor's flush). Instead the receiver
asks before it hands a message on: `has_capacity()`, or `await wait_for_capacity(timeout)` /
`await wait_for_room(exporters, timeout)`, and stops reading its streams while the answer is no.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time

from bridge.exporters.base import Exporter, ExportError, ExportRequest, Signal, count_items
from bridge.exporters.persistent import FileQueue
from bridge.exporters.queue.batch import BatchPolicy, merge
from bridge.exporters.queue.bounded import BoundedQueue, QueuedRequest
from bridge.exporters.queue.retry import RetryPolicy
from bridge.exporters.queue.window import PersistentWindow
from bridge.exporters.shared_config import QueueConfig, RetryConfig
from bridge.telemetry import SELF, RateLimitedLogger

SELF.describe("als_bridge_export_retries_total", "counter", "Export attempts that failed and will be retried")

_logger = logging.getLogger(__name__)
_warn = RateLimitedLogger(_logger)

EXPORTED = "als_bridge_exported_items_total"
FAILED = "als_bridge_export_failed_items_total"
DROPPED = "als_bridge_dropped_items_total"
RETRIES = "als_bridge_export_retries_total"
QUEUE_LENGTH = "als_bridge_queue_length"

# Signals a FileQueue keeps. Metrics are cumulative: the next export carries what a lost one held,
# so they stay in memory and never wait behind a disk backlog.
PERSISTENT_SIGNALS = frozenset({Signal.TRACES, Signal.LOGS})


class QueuedExporter:
    """Queues export requests for one exporter and sends them from `num_consumers` threads.

    `queue` and `retry` are the exporter's `sending_queue` and `retry_on_failure`, as configured.
    With `storage`, traces and logs go to disk, bounded by the storage's `max_bytes`; the memory
    bounds then also cap the window of those requests kept parsed in memory. Consumers alternate
    between disk and memory so neither starves the other.
    """

    def __init__(
        self,
        exporter: Exporter,
        queue: QueueConfig | None = None,
        retry: RetryConfig | None = None,
        storage: FileQueue | None = None,
    ) -> None:
        queue = queue if queue is not None else QueueConfig()
        self.exporter = exporter
        self.name = exporter.name
        self.config = queue
        self.memory = BoundedQueue(queue)
        self.window = PersistentWindow(storage, self.memory) if storage is not None else None
        self.batch = BatchPolicy(queue.batch)
        self.retry = RetryPolicy(retry if retry is not None else RetryConfig())
        self.blocks_when_full = self.memory.blocks_when_full
        self._took_disk_last = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False  # no new requests; consumers leave when the queue is empty
        self._abandon = threading.Event()  # shutdown timed out: stop retrying, drop the rest
        self._set_gauge()
        consumers = max(queue.num_consumers, 1) if queue.enabled else 1
        self._consumers = [
            threading.Thread(target=self._run, name=f"export-{self.name}-{i}", daemon=True)
            for i in range(consumers)
        ]
        for thread in self._consumers:
            thread.start()

    @property
    def queue_length(self) -> int:
        """Items queued or being sent, in memory and on disk."""
        with self._lock:
            return self._length_locked()

    # -- taking requests ---------------------------------------------------------------------

    def submit(self, signal: Signal, request: ExportRequest) -> bool:
        """Queues `request` for sending; never waits for the backend.

        False (and counted as dropped) when it does not fit. With storage, a trace or log request
        is on disk (fsynced) when this returns True.
        """
        items = count_items(signal, request)
        if self.window is not None and signal in PERSISTENT_SIGNALS:
            return self._submit_to_disk(self.window, signal, request, items)
        size = int(request.ByteSize())
        with self._lock:
            reason = "shutdown" if self._closed else self.memory.refusal(items, size)
            if reason is None:
                self.memory.put(QueuedRequest(signal, request, items, size))
                if self.window is not None:
                    self.window.shrink_locked()
                self._set_gauge_locked()
                self._wake.notify()
                return True
        self._drop(signal, items, reason)
        return False

    def _submit_to_disk(
        self, window: PersistentWindow, signal: Signal, request: ExportRequest, items: int
    ) -> bool:
        """Writes the request to its file, then keeps it in the memory window if there is room."""
        entry = "shutdown" if self._closed else window.append(signal, request, items)
        if isinstance(entry, str):
            reason, _, detail = entry.partition(":")
            if detail:
                _warn.warning(
                    f"disk:{self.name}", "%s: cannot write to the queue directory: %s", self.name, detail
                )
            self._drop(signal, items, reason)
            return False
        with self._lock:
            window.keep_locked(entry)
            self._set_gauge_locked()
            self._wake.notify()
        return True

    # -- capacity, for on_full: block and for the receiver's admission ------------------------

    def has_capacity(self) -> bool:
        """Whether a trace or log request would be taken now: the receiver may hand more on.

        With storage that is the disk bound, else the memory bounds. Metrics are left out: they
        do not grow with what the receiver reads. A closed queue says True, since waiting for it
        would never end (what is submitted is then dropped and counted "shutdown").
        """
        with self._lock:
            return self._has_capacity_locked()

    def _has_capacity_locked(self) -> bool:
        if self._closed:
            return True
        if self.window is not None:
            return self.window.storage.has_room()
        return self.memory.below_bounds()

    async def wait_for_capacity(self, timeout: float | None = None) -> bool:
        """Waits on the running event loop until `has_capacity()` (True) or `timeout` passes (False).

        A consumer wakes the loop with `call_soon_threadsafe` when room is made, so a paused
        receiver resumes without polling.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._has_capacity_locked():
                return True
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            pass
        finally:  # timed out or cancelled (a stream that ended): forget the waiter
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove((loop, future))
        return self.has_capacity()

    def _notify_capacity(self) -> None:
        """Wakes the waiters of `wait_for_capacity` once there is room."""
        with self._lock:
            if not self._waiters or not self._has_capacity_locked():
                return
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody is waiting any more
                loop.call_soon_threadsafe(_resolve, future)

    # -- shutting down -----------------------------------------------------------------------

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stops taking requests, sends what is queued for up to `timeout` seconds, closes the exporter.

        Whatever is still queued in memory after `timeout` is counted as dropped with reason
        "shutdown"; what is on disk stays there for the next start and is not counted. A request
        in the middle of a retry is given up at its next wait. Returns True when everything queued
        was handled (exported or failed) in time.
        """
        with self._lock:
            self._closed = True
            self._wake.notify_all()
        self._notify_capacity()
        deadline = time.monotonic() + timeout
        for thread in self._consumers:
            thread.join(max(deadline - time.monotonic(), 0.0))
        drained = not any(thread.is_alive() for thread in self._consumers)
        if not drained:
            self._abandon.set()
            with self._lock:
                self._wake.notify_all()
            self._drop_queued()
        self.exporter.shutdown()
        if self.window is not None:
            left = self.window.storage.items
            if left:
                _logger.info("%s: %d items stay on disk and are sent at the next start", self.name, left)
            self.window.storage.close()
        return drained

    # -- the consumers ----------------------------------------------------------------------

    def _run(self) -> None:
        while (taken := self._next_batch()) is not None:
            for signal, entries in _by_signal(taken):
                finished = True
                try:
                    finished = self._deliver(signal, entries)
                except Exception:  # a bug in an exporter must not kill the consumer and freeze the queue
                    _logger.exception("%s: unexpected error while exporting %s", self.name, signal.value)
                    self._fail(signal, entries, "internal_error")
                finally:
                    for entry in entries:
                        self._release(entry, finished)

    def _next_batch(self) -> list[QueuedRequest] | None:
        """The next requests to send, waiting until a batch is due; None once closed and empty,
        or abandoned."""
        while True:
            with self._lock:
                if self._abandon.is_set():
                    return None
                on_disk = self.window is not None and self.window.pending()
                if not self.memory and not on_disk:
                    if self._closed:
                        return None
                    self._wake.wait()
                    continue
                delay = 0.0 if self._closed else self._batch_delay_locked(on_disk)
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                take_disk = on_disk and (not self.memory or not self._took_disk_last)
                self._took_disk_last = take_disk
                if not take_disk:
                    taken = self.memory.take(self.batch.max_items, self.batch.max_bytes)
                    if self.memory or on_disk:
                        self._wake.notify()  # more is waiting: another consumer may take it
                    return taken
            taken = self._take_from_disk()
            if taken:
                return taken
            # every file taken was corrupt (counted and set aside): look again

    def _batch_delay_locked(self, on_disk: bool) -> float:
        items, size = self.memory.waiting_items, self.memory.waiting_bytes
        oldest = self.memory.oldest()
        if on_disk and self.window is not None:
            items += self.window.waiting_items_locked()
            disk_oldest = self.window.oldest_locked()
            if disk_oldest is not None:
                oldest = disk_oldest if oldest is None else min(oldest, disk_oldest)
        return self.batch.wait(items, size, oldest)

    def _take_from_disk(self) -> list[QueuedRequest]:
        """Files in order, while the batch's limits allow (the first whatever its size)."""
        window = self.window
        assert window is not None
        taken: list[QueuedRequest] = []
        items = size = 0
        while True:
            with self._lock:
                if taken:
                    next_size = window.next_size_locked()
                    if (
                        next_size is None
                        or size + next_size > self.batch.max_bytes
                        or items >= self.batch.max_items
                    ):
                        break
                picked = window.take_locked()
                if picked is None:
                    break
            entry = picked if isinstance(picked, QueuedRequest) else window.load(picked)
            if entry is None:  # a corrupt file, counted and set aside: room was made
                self._set_gauge()
                self._notify_capacity()
                continue
            taken.append(entry)
            items += entry.items
            size += entry.size
        if taken:
            with self._lock:
                if self.memory or window.pending():
                    self._wake.notify()
        return taken

    def _deliver(self, signal: Signal, entries: list[QueuedRequest]) -> bool:
        """Sends `entries` merged into one request, retrying as configured, and counts how it ended.

        False when shutdown interrupted it: requests on disk then stay for the next start.
        """
        if self._abandon.is_set():
            return self._interrupted(signal, entries)
        request = merge(signal, entries)
        backoff = self.retry.backoff()
        while True:
            try:
                self.exporter.send(signal, request)
            except ExportError as err:
                if not err.retryable or not self.retry.enabled:
                    self._fail(
                        signal, entries, "permanent_error" if not err.retryable else "retry_disabled", err
                    )
                    return True
                if self._abandon.is_set():  # shutdown timed out (and may have closed the exporter)
                    return self._interrupted(signal, entries)
                delay = backoff.next_delay(err.retry_after)
                if delay is None:
                    self._fail(signal, entries, "retries_exhausted", err)
                    return True
                SELF.add(RETRIES, exporter=self.name, signal=signal.value)
                _warn.warning(f"retry:{self.name}", "%s (will retry in %.1fs)", err.message, delay)
                if self._abandon.wait(delay):
                    return self._interrupted(signal, entries)
            else:
                SELF.add(EXPORTED, _items(entries), exporter=self.name, signal=signal.value)
                return True

    def _interrupted(self, signal: Signal, entries: list[QueuedRequest]) -> bool:
        """Shutdown gave up on `entries`: dropped if only in memory, kept if on disk."""
        in_memory = sum(entry.items for entry in entries if entry.seq is None)
        if in_memory:
            self._drop(signal, in_memory, "shutdown")
        return False

    # -- counting and releasing ------------------------------------------------------------

    def _fail(
        self, signal: Signal, entries: list[QueuedRequest], reason: str, err: ExportError | None = None
    ) -> None:
        items = _items(entries)
        SELF.add(FAILED, items, exporter=self.name, signal=signal.value, reason=reason)
        if err is not None:
            _warn.warning(
                f"failed:{self.name}:{reason}",
                "%s; gave up on %d %s (%s)",
                err.message,
                items,
                signal.value,
                reason,
            )

    def _drop(self, signal: Signal, items: int, reason: str) -> None:
        SELF.add(DROPPED, items, exporter=self.name, signal=signal.value, reason=reason)
        _warn.warning(
            f"dropped:{self.name}:{reason}", "%s: dropped %d %s (%s)", self.name, items, signal.value, reason
        )

    def _drop_queued(self) -> None:
        """Shutdown timed out: in-memory requests are dropped; the window is let go (it is on disk)."""
        with self._lock:
            entries = self.memory.clear()
            if self.window is not None:
                self.window.clear_locked()
        for entry in entries:
            self._drop(entry.signal, entry.items, "shutdown")
            self._release(entry, True)

    def _release(self, entry: QueuedRequest, finished: bool) -> None:
        """The request is done, or left on disk: give its room back (and delete its file if done)."""
        if entry.seq is None:
            with self._lock:
                self.memory.release(entry)
        elif self.window is not None:
            self.window.release(entry, finished)
        self._set_gauge()
        self._notify_capacity()

    def _length_locked(self) -> int:
        return self.memory.items + (self.window.storage.items if self.window is not None else 0)

    def _set_gauge(self) -> None:
        with self._lock:
            self._set_gauge_locked()

    def _set_gauge_locked(self) -> None:
        SELF.set(QUEUE_LENGTH, self._length_locked(), exporter=self.name)


def _items(entries: list[QueuedRequest]) -> int:
    return sum(entry.items for entry in entries)


def _by_signal(entries: list[QueuedRequest]) -> list[tuple[Signal, list[QueuedRequest]]]:
    """`entries` grouped by signal, in order (a disk batch may hold traces and logs)."""
    groups: dict[Signal, list[QueuedRequest]] = {}
    for entry in entries:
        groups.setdefault(entry.signal, []).append(entry)
    return list(groups.items())


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # it may have timed out meanwhile
        future.set_result(None)
