"""`QueuedExporter`: a bounded queue and one retrying worker thread in front of an exporter.

Why: the pipeline must never wait for a backend. `submit` only appends to memory (or drops, with
a count, when the queue is full), and a worker per exporter does the slow part, so a backend
that is down or slow stalls nothing but its own queue. This is the Collector's `sending_queue`
plus `retry_on_failure`, and, as there, every item ends up counted exactly once: exported,
failed (`als_bridge_export_failed_items_total`) or dropped (`als_bridge_dropped_items_total`).
With a `FileQueue` (`storage: file`), traces and logs are written to disk before `submit`
returns; what is on disk at shutdown is not counted as dropped, since the next start sends it.

`on_full: block` does not make `submit` wait (it runs on the receiver's event loop, which would
stall every stream, and could deadlock with the batch processor's flush). Instead the receiver
asks before reading more: `has_capacity()`, or `await wait_for_capacity(timeout)` /
`await wait_for_room(exporters, timeout)`, and stops reading its streams while the answer is no.
What was read before the queue filled is still admitted, one request over the limit.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bridge.exporters.base import Exporter, ExportError, ExportRequest, Signal, count_items
from bridge.exporters.persistent import HEADER, CorruptFileError, DiskFullError, FileQueue
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


@dataclass(frozen=True, slots=True)
class _Entry:
    signal: Signal
    request: ExportRequest
    items: int
    size: int  # serialised bytes; for a request on disk, its file's size
    seq: int | None = None  # the file of a request kept on disk


class QueuedExporter:
    """Queues export requests for one exporter and sends them from one worker thread.

    Capacity is bounded both in items (spans, data points, log records) and in serialised bytes;
    0 turns a bound off (`max_requests`, 0 by default, bounds the number of requests: 1 is
    `sending_queue.enabled: false`, only the request being sent). The request being sent still
    counts against the bounds until it is done, so memory stays bounded while a backend is down.
    Retryable failures are retried with exponential backoff (`initial_interval` *
    `multiplier`**n, capped at `max_interval`, randomised by +/- `jitter`), waiting at least as
    long as the backend asked (`retry_after`), until `max_elapsed_time` has passed since the
    first attempt (0: until shutdown); `retry=False` gives up at the first failure.

    With `storage`, traces and logs go to disk, bounded by the storage's `max_bytes`; the memory
    bounds then also cap a window of those requests kept parsed in memory, so the worker need not
    read back what it is about to send. The window yields to in-memory-only requests (metrics).
    The worker alternates between disk and memory so neither starves the other.
    """

    def __init__(
        self,
        exporter: Exporter,
        *,
        max_items: int = 50_000,
        max_bytes: int = 64 * 1024 * 1024,
        max_requests: int = 0,
        initial_interval: float = 0.5,
        max_interval: float = 5.0,
        max_elapsed_time: float = 60.0,
        multiplier: float = 1.5,
        jitter: float = 0.5,
        retry: bool = True,
        block: bool = False,
        storage: FileQueue | None = None,
    ) -> None:
        self.exporter = exporter
        self.name = exporter.name
        self.blocks_when_full = block
        self._max_items = max_items
        self._max_bytes = max_bytes
        self._max_requests = max_requests
        self._initial_interval = initial_interval
        self._max_interval = max_interval
        self._max_elapsed_time = max_elapsed_time
        self._multiplier = multiplier
        self._jitter = jitter
        self._retry = retry
        self._storage = storage
        self._random = random.Random()
        self._entries: collections.deque[_Entry] = collections.deque()  # in memory only
        self._items = 0  # in-memory-only entries, queued plus in flight
        self._bytes = 0
        self._requests = 0
        self._window: collections.OrderedDict[int, _Entry] = collections.OrderedDict()  # seq -> on disk too
        self._window_items = 0
        self._window_bytes = 0
        self._took_disk_last = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._closed = False  # no new entries; the worker leaves when the queue is empty
        self._abandon = threading.Event()  # shutdown timed out: stop retrying, drop the rest
        self._set_gauge()
        self._worker = threading.Thread(target=self._run, name=f"export-{self.name}", daemon=True)
        self._worker.start()

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
        if self._storage is not None and signal in PERSISTENT_SIGNALS:
            return self._submit_to_disk(self._storage, signal, request, items)
        size = int(request.ByteSize())
        with self._lock:
            reason = self._refusal(items, size)
            if reason is None:
                self._entries.append(_Entry(signal, request, items, size))
                self._items += items
                self._bytes += size
                self._requests += 1
                self._shrink_window_locked()
                self._set_gauge_locked()
                self._wake.notify()
                return True
        self._drop(signal, items, reason)
        return False

    def _submit_to_disk(self, storage: FileQueue, signal: Signal, request: ExportRequest, items: int) -> bool:
        """Writes the request to its file, then keeps it in the memory window if there is room."""
        payload = request.SerializeToString()
        reason = None
        if self._closed:
            reason = "shutdown"
        elif HEADER.size + len(payload) > storage.max_bytes:
            reason = "too_large"
        else:
            try:
                seq, file_size = storage.append(signal, payload, items, overshoot=self.blocks_when_full)
            except DiskFullError:
                reason = "disk_full"
            except ValueError:  # closed by a shutdown that began after the check above
                reason = "shutdown"
            except OSError as err:
                _warn.warning(
                    f"disk:{self.name}", "%s: cannot write to the queue directory: %s", self.name, err
                )
                reason = "disk_error"
        if reason is not None:
            self._drop(signal, items, reason)
            return False
        with self._lock:
            if storage.waiting(seq):  # else the worker has already read it back from disk
                self._keep_in_window_locked(_Entry(signal, request, items, file_size, seq))
            self._set_gauge_locked()
            self._wake.notify()
        return True

    def _refusal(self, items: int, size: int) -> str | None:
        """Why an in-memory entry cannot be queued now (lock held), or None if it fits.

        In block mode the receiver stops reading once the queue is full, so what still arrives was
        read before: it is admitted as long as the queue was below its bounds (one request over).
        """
        if self._closed:
            return "shutdown"
        if (self._max_items and items > self._max_items) or (self._max_bytes and size > self._max_bytes):
            return "too_large"  # would never fit, even in an empty queue
        if self._max_requests and self._requests >= self._max_requests:
            return "queue_full"
        if self.blocks_when_full:
            return None if self._below_bounds_locked() else "queue_full"
        if (self._max_items and self._items + items > self._max_items) or (
            self._max_bytes and self._bytes + size > self._max_bytes
        ):
            return "queue_full"
        return None

    def _below_bounds_locked(self) -> bool:
        return (
            (not self._max_items or self._items < self._max_items)
            and (not self._max_bytes or self._bytes < self._max_bytes)
            and (not self._max_requests or self._requests < self._max_requests)
        )

    def _keep_in_window_locked(self, entry: _Entry) -> None:
        """Keeps a request that is on disk parsed in memory too, if the memory bounds leave room."""
        items = self._items + self._window_items + entry.items
        size = self._bytes + self._window_bytes + entry.size
        if (self._max_items and items > self._max_items) or (self._max_bytes and size > self._max_bytes):
            return  # stays on disk only; the worker reads it back when it gets there
        assert entry.seq is not None
        self._window[entry.seq] = entry
        self._window_items += entry.items
        self._window_bytes += entry.size

    def _shrink_window_locked(self) -> None:
        """Gives the window's room to in-memory-only requests, newest window entries first."""
        while self._window and (
            (self._max_items and self._items + self._window_items > self._max_items)
            or (self._max_bytes and self._bytes + self._window_bytes > self._max_bytes)
        ):
            _, entry = self._window.popitem()
            self._window_items -= entry.items
            self._window_bytes -= entry.size

    # -- capacity, for on_full: block ------------------------------------------------------

    def has_capacity(self) -> bool:
        """Whether a trace or log request would be taken now: the receiver may read more.

        With storage that is the disk bound, else the memory bounds. Metrics are left out: they
        do not grow with what the receiver reads. A closed queue says True, since waiting for it
        would never end (what is submitted is then dropped and counted "shutdown").
        """
        with self._lock:
            return self._has_capacity_locked()

    def _has_capacity_locked(self) -> bool:
        if self._closed:
            return True
        if self._storage is not None:
            return self._storage.has_room()
        return self._below_bounds_locked()

    async def wait_for_capacity(self, timeout: float | None = None) -> bool:
        """Waits on the running event loop until `has_capacity()` (True) or `timeout` passes (False).

        The worker thread wakes the loop with `call_soon_threadsafe` when room is made, so a
        paused receiver resumes without polling.
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
        self._worker.join(timeout)
        drained = not self._worker.is_alive()
        if not drained:
            self._abandon.set()
            self._drop_queued()
        self.exporter.shutdown()
        if self._storage is not None:
            left = self._storage.items
            if left:
                _logger.info("%s: %d items stay on disk and are sent at the next start", self.name, left)
            self._storage.close()
        return drained

    # -- the worker --------------------------------------------------------------------------

    def _run(self) -> None:
        while (entry := self._next()) is not None:
            finished = True
            try:
                finished = self._deliver(entry)
            except Exception:  # a bug in an exporter must not kill the worker and freeze the queue
                _logger.exception("%s: unexpected error while exporting %s", self.name, entry.signal.value)
                self._fail(entry, "internal_error")
            finally:
                self._release(entry, finished)

    def _next(self) -> _Entry | None:
        """The next entry to send, waiting for one; None once closed and empty, or abandoned."""
        while True:
            with self._lock:
                while not self._entries and not self._disk_waiting() and not self._closed:
                    self._wake.wait()
                if self._abandon.is_set():
                    return None
                picked = self._pick_locked()
            if not isinstance(picked, int):
                return picked
            loaded = self._load(picked)
            if loaded is not None:
                return loaded

    def _disk_waiting(self) -> bool:
        return self._storage is not None and self._storage.pending()

    def _pick_locked(self) -> _Entry | int | None:
        """An in-memory entry, or the sequence number of a file to read; alternating between the two."""
        if (
            self._storage is not None
            and self._disk_waiting()
            and (not self._entries or not self._took_disk_last)
        ):
            self._took_disk_last = True
            seq = self._storage.take()
            assert seq is not None  # only this worker takes, and one is waiting
            entry = self._window.pop(seq, None)
            if entry is None:
                return seq
            self._window_items -= entry.items
            self._window_bytes -= entry.size
            return entry
        self._took_disk_last = False
        return self._entries.popleft() if self._entries else None

    def _load(self, seq: int) -> _Entry | None:
        """A request read back from disk; None (already counted and set aside) if its file is bad."""
        assert self._storage is not None
        try:
            stored = self._storage.read(seq)
        except CorruptFileError:
            self._set_gauge()
            self._notify_capacity()
            return None
        return _Entry(stored.signal, stored.request, stored.items, stored.file_size, seq)

    def _deliver(self, entry: _Entry) -> bool:
        """Sends one entry, retrying as configured, and counts how it ended.

        False when shutdown interrupted it: a request on disk then stays for the next start.
        """
        started = time.monotonic()
        interval = self._initial_interval
        while True:
            try:
                self.exporter.send(entry.signal, entry.request)
            except ExportError as err:
                if not err.retryable or not self._retry:
                    self._fail(entry, "permanent_error" if not err.retryable else "retry_disabled", err)
                    return True
                if self._abandon.is_set():  # shutdown timed out (and may have closed the exporter)
                    return self._interrupted(entry)
                delay = max(self._jittered(interval), err.retry_after or 0.0)
                interval = min(interval * self._multiplier, self._max_interval)
                elapsed = time.monotonic() - started
                if self._max_elapsed_time and elapsed + delay > self._max_elapsed_time:
                    self._fail(entry, "retries_exhausted", err)
                    return True
                SELF.add(RETRIES, exporter=self.name, signal=entry.signal.value)
                _warn.warning(f"retry:{self.name}", "%s (will retry in %.1fs)", err.message, delay)
                if self._abandon.wait(delay):
                    return self._interrupted(entry)
            else:
                SELF.add(EXPORTED, entry.items, exporter=self.name, signal=entry.signal.value)
                return True

    def _interrupted(self, entry: _Entry) -> bool:
        """Shutdown gave up on `entry`: dropped if it was only in memory, kept if it is on disk."""
        if entry.seq is None:
            self._drop(entry.signal, entry.items, "shutdown")
        return False

    def _jittered(self, interval: float) -> float:
        return interval * (1 + self._jitter * self._random.uniform(-1.0, 1.0))

    # -- counting and releasing ------------------------------------------------------------

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
        """Shutdown timed out: in-memory entries are dropped; the window is let go (it is on disk)."""
        with self._lock:
            entries = list(self._entries)
            self._entries.clear()
            self._window.clear()
            self._window_items = self._window_bytes = 0
        for entry in entries:
            self._drop(entry.signal, entry.items, "shutdown")
            self._release(entry, True)

    def _release(self, entry: _Entry, finished: bool) -> None:
        """The entry is done, or left on disk: give its room back (and delete its file if done)."""
        if entry.seq is None:
            with self._lock:
                self._items -= entry.items
                self._bytes -= entry.size
                self._requests -= 1
        elif finished and self._storage is not None:
            self._storage.remove(entry.seq, entry.size, entry.items)
        self._set_gauge()
        self._notify_capacity()

    def _length_locked(self) -> int:
        return self._items + (self._storage.items if self._storage is not None else 0)

    def _set_gauge(self) -> None:
        with self._lock:
            self._set_gauge_locked()

    def _set_gauge_locked(self) -> None:
        SELF.set(QUEUE_LENGTH, self._length_locked(), exporter=self.name)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():  # it may have timed out meanwhile
        future.set_result(None)


async def wait_for_room(exporters: Iterable[QueuedExporter], timeout: float | None = None) -> bool:
    """Waits until every exporter with `on_full: block` has capacity; False if `timeout` passes first.

    The receiver calls this before reading the next message of a stream, so a full queue holds
    back reading (and, through HTTP/2 flow control, Envoy) instead of dropping.
    """
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    for exporter in exporters:
        if not exporter.blocks_when_full:
            continue
        remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
        if not await exporter.wait_for_capacity(remaining):
            return False
    return True


def build_queued_exporter(exporter: Exporter, config: object) -> QueuedExporter:
    """The queue an exporter's config asks for: its `sending_queue` and `retry_on_failure`.

    A config without them (debug) gets the defaults. With `storage: file` the files go to
    `<directory>/<exporter id>/` (a `/` in the id becomes `_`), so exporters can share one
    `directory`; StorageLockedError if another process holds it (the exporter is shut down then).
    """
    queue = getattr(config, "sending_queue", None)
    retry = getattr(config, "retry_on_failure", None)
    queue = queue if isinstance(queue, QueueConfig) else QueueConfig()
    retry = retry if isinstance(retry, RetryConfig) else RetryConfig()
    storage = None
    if queue.storage == "file":
        try:
            storage = FileQueue(
                storage_directory(queue.directory, exporter.name), queue.max_disk_bytes, exporter.name
            )
        except BaseException:
            exporter.shutdown()
            raise
    return QueuedExporter(
        exporter,
        max_items=queue.queue_size,
        max_bytes=queue.max_bytes,
        max_requests=0 if queue.enabled else 1,
        block=queue.on_full == "block",
        storage=storage,
        initial_interval=retry.initial_interval,
        max_interval=retry.max_interval,
        max_elapsed_time=retry.max_elapsed_time,
        multiplier=retry.multiplier,
        jitter=retry.randomization_factor,
        retry=retry.enabled,
    )


def storage_directory(directory: str, exporter_name: str) -> Path:
    """Where one exporter's files live under `sending_queue.directory`."""
    return Path(directory) / re.sub(r"[^A-Za-z0-9._-]", "_", exporter_name)
