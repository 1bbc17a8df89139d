"""The persistent window: requests on disk (`FileQueue`), some of them also kept parsed in memory.

Why: with `storage: file` every trace and log request is written to disk before it is accepted,
and deleted only once it is done (exported, or given up), so delivery is at least once across an
outage and a restart. Reading back what was just written would cost a parse per request, so the
requests that fit the memory bounds stay in memory as well (the window); the window yields to the
requests that exist only in memory (metrics), which have nowhere else to be. Not thread-safe by
itself: the `_locked` methods are called with the owner's lock held; `append` and `load` touch
the disk and are called without it.
"""

from __future__ import annotations

import collections
import threading

from bridge.exporters.base import ExportRequest, Signal
from bridge.exporters.persistent import HEADER, CorruptFileError, DiskFullError, FileQueue
from bridge.exporters.queue.bounded import BoundedQueue, QueuedRequest


class PersistentWindow:
    """One exporter's files, and the part of them kept in memory within `memory`'s bounds."""

    def __init__(self, storage: FileQueue, memory: BoundedQueue) -> None:
        self.storage = storage
        self._memory = memory
        self.window: collections.OrderedDict[int, QueuedRequest] = collections.OrderedDict()
        self.window_items = 0
        self.window_bytes = 0
        self._in_flight_items = 0  # items of files taken and not yet released
        self._in_flight_lock = threading.Lock()  # taken and released by several consumers
        self._appended: collections.deque[tuple[int, float]] = collections.deque()  # (seq, when)

    # -- taking requests (no lock held: this writes and fsyncs a file) --------------------------

    def append(self, signal: Signal, request: ExportRequest, items: int) -> QueuedRequest | str:
        """Writes the request durably: its entry, or why it was refused ("too_large", "disk_full",
        "shutdown", "disk_error:<message>")."""
        payload = request.SerializeToString()
        if HEADER.size + len(payload) > self.storage.max_bytes:
            return "too_large"
        try:
            seq, file_size = self.storage.append(
                signal, payload, items, overshoot=self._memory.blocks_when_full
            )
        except DiskFullError:
            return "disk_full"
        except ValueError:  # closed by a shutdown that began after the caller's check
            return "shutdown"
        except OSError as err:
            return f"disk_error:{err}"
        return QueuedRequest(signal, request, items, file_size, seq)

    # -- the window (owner's lock held) -----------------------------------------------------------

    def keep_locked(self, entry: QueuedRequest) -> None:
        """Remembers a file just appended; keeps it parsed in memory too if the bounds leave room."""
        assert entry.seq is not None
        if not self.storage.waiting(entry.seq):
            return  # a consumer has already taken it (and read it back from disk)
        self._appended.append((entry.seq, entry.queued_at))
        memory = self._memory
        items = memory.items + self.window_items + entry.items
        size = memory.bytes + self.window_bytes + entry.size
        if (memory.max_items and items > memory.max_items) or (memory.max_bytes and size > memory.max_bytes):
            return  # stays on disk only; a consumer reads it back when it gets there
        self.window[entry.seq] = entry
        self.window_items += entry.items
        self.window_bytes += entry.size

    def shrink_locked(self) -> None:
        """Gives the window's room to in-memory-only requests, newest window entries first."""
        memory = self._memory
        while self.window and (
            (memory.max_items and memory.items + self.window_items > memory.max_items)
            or (memory.max_bytes and memory.bytes + self.window_bytes > memory.max_bytes)
        ):
            _, entry = self.window.popitem()
            self.window_items -= entry.items
            self.window_bytes -= entry.size

    def clear_locked(self) -> None:
        """Lets the window go (shutdown): its requests are on disk."""
        self.window.clear()
        self.window_items = self.window_bytes = 0

    def pending(self) -> bool:
        return self.storage.pending()

    def waiting_items_locked(self) -> int:
        """Items in files not yet taken (those found at start-up included)."""
        return max(self.storage.items - self._in_flight_items, 0)

    def oldest_locked(self) -> float | None:
        """When the oldest waiting file was written (0.0 for one left by an earlier run)."""
        nxt = self.storage.peek()
        if nxt is None:
            self._appended.clear()
            return None
        while self._appended and self._appended[0][0] < nxt:
            self._appended.popleft()
        if not self._appended or nxt < self._appended[0][0]:
            return 0.0
        return self._appended[0][1]

    def next_size_locked(self) -> int | None:
        """The size of the file a consumer would take next; None if none waits."""
        nxt = self.storage.peek()
        if nxt is None:
            return None
        entry = self.window.get(nxt)
        return entry.size if entry is not None else self.storage.file_size(nxt)

    def take_locked(self) -> QueuedRequest | int | None:
        """The oldest waiting file: its entry if it is in the window, else its sequence number
        (to `load` without the lock); None if none waits."""
        seq = self.storage.take()
        if seq is None:
            return None
        entry = self.window.pop(seq, None)
        if entry is None:
            return seq
        self.window_items -= entry.items
        self.window_bytes -= entry.size
        self._count_in_flight(entry.items)
        return entry

    # -- reading back and releasing -----------------------------------------------------------

    def load(self, seq: int) -> QueuedRequest | None:
        """A request read back from disk; None (already counted and set aside) if its file is bad."""
        try:
            stored = self.storage.read(seq)
        except CorruptFileError:
            return None
        self._count_in_flight(stored.items)
        return QueuedRequest(stored.signal, stored.request, stored.items, stored.file_size, seq, 0.0)

    def release(self, entry: QueuedRequest, finished: bool) -> None:
        """The request is done (its file goes), or left on disk for the next start."""
        assert entry.seq is not None
        if finished:
            self.storage.remove(entry.seq, entry.size, entry.items)
        self._count_in_flight(-entry.items)

    def _count_in_flight(self, items: int) -> None:
        with self._in_flight_lock:
            self._in_flight_items += items
