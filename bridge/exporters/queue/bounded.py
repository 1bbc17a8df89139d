"""The bounded memory queue of one exporter: requests waiting, and the room they take.

Why separate: what fits, what is refused and why, and what a consumer takes next are decisions
about memory only; the persistent window, the consumers and the counters sit around it. Not
thread-safe by itself: its owner (`QueuedExporter`) calls it with its lock held.

Capacity is bounded in items (spans, data points, log records), in serialised bytes and, with
`sending_queue.enabled: false`, in requests (1: only the request being sent); 0 turns a bound off.
A request being sent still counts against the bounds until it is done, so memory stays bounded
while a backend is down. Requests wait in one FIFO per signal, so a consumer merges requests of
one signal without searching.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field

from bridge.exporters.base import ExportRequest, Signal
from bridge.exporters.shared_config import QueueConfig


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    """One request the exporter accepted, in memory or (with `seq`) on disk as well."""

    signal: Signal
    request: ExportRequest
    items: int
    size: int  # serialised bytes; for a request on disk, its file's size
    seq: int | None = None  # the file of a request kept on disk
    queued_at: float = field(default_factory=time.monotonic)


class BoundedQueue:
    """Requests held only in memory (metrics, and every signal without storage)."""

    def __init__(self, config: QueueConfig) -> None:
        self.max_items = config.queue_size
        self.max_bytes = int(config.max_bytes)
        self.max_requests = 0 if config.enabled else 1
        self.blocks_when_full = config.on_full == "block"
        self._fifos: dict[Signal, collections.deque[QueuedRequest]] = {s: collections.deque() for s in Signal}
        self.items = 0  # queued plus in flight
        self.bytes = 0
        self.requests = 0
        self.waiting_items = 0  # queued only
        self.waiting_bytes = 0

    def refusal(self, items: int, size: int) -> str | None:
        """Why a request of `items` and `size` cannot be queued now, or None if it fits.

        In block mode the receiver waits for room before it hands a message on, so what still
        arrives is admitted as long as the queue was below its bounds (one request over).
        """
        if (self.max_items and items > self.max_items) or (self.max_bytes and size > self.max_bytes):
            return "too_large"  # would never fit, even in an empty queue
        if self.max_requests and self.requests >= self.max_requests:
            return "queue_full"
        if self.blocks_when_full:
            return None if self.below_bounds() else "queue_full"
        if (self.max_items and self.items + items > self.max_items) or (
            self.max_bytes and self.bytes + size > self.max_bytes
        ):
            return "queue_full"
        return None

    def below_bounds(self) -> bool:
        return (
            (not self.max_items or self.items < self.max_items)
            and (not self.max_bytes or self.bytes < self.max_bytes)
            and (not self.max_requests or self.requests < self.max_requests)
        )

    def room_left(self) -> tuple[float, float]:
        """Items and bytes still free under the bounds (infinite where a bound is off)."""
        items = self.max_items - self.items if self.max_items else float("inf")
        size = self.max_bytes - self.bytes if self.max_bytes else float("inf")
        return items, size

    def put(self, entry: QueuedRequest) -> None:
        self._fifos[entry.signal].append(entry)
        self.items += entry.items
        self.bytes += entry.size
        self.requests += 1
        self.waiting_items += entry.items
        self.waiting_bytes += entry.size

    def __bool__(self) -> bool:
        return self.waiting_items > 0 or any(self._fifos.values())

    def oldest(self) -> float | None:
        """When the longest-waiting request was queued; None if none waits."""
        heads = [fifo[0].queued_at for fifo in self._fifos.values() if fifo]
        return min(heads) if heads else None

    def take(self, max_items: float, max_bytes: float) -> list[QueuedRequest]:
        """The oldest waiting request and those of its signal behind it, while they fit the limits
        (the first one is taken whatever its size). They stay counted until `release`."""
        fifo = min((f for f in self._fifos.values() if f), key=lambda f: f[0].queued_at, default=None)
        if fifo is None:
            return []
        taken = [fifo.popleft()]
        items, size = taken[0].items, taken[0].size
        while fifo and items + fifo[0].items <= max_items and size + fifo[0].size <= max_bytes:
            entry = fifo.popleft()
            taken.append(entry)
            items += entry.items
            size += entry.size
        self.waiting_items -= items
        self.waiting_bytes -= size
        return taken

    def release(self, entry: QueuedRequest) -> None:
        """A taken request is done (sent, failed or dropped): its room is free again."""
        self.items -= entry.items
        self.bytes -= entry.size
        self.requests -= 1

    def clear(self) -> list[QueuedRequest]:
        """Every waiting request, removed (still counted until each is released)."""
        waiting = [entry for fifo in self._fifos.values() for entry in fifo]
        for fifo in self._fifos.values():
            fifo.clear()
        self.waiting_items = self.waiting_bytes = 0
        return waiting
