"""The `batch` processor: fewer, larger export requests, as in the Collector.

Items collect until `send_batch_size` is reached or `timeout` has passed since the first item
of the batch; a batch larger than `send_batch_max_size` (when set) is split.
"""

from __future__ import annotations

import threading
import time

from bridge.pipeline.consumer import Consumer, Item
from bridge.processors.batch.config import BatchProcessorConfig


class BatchProcessor:
    def __init__(self, config: BatchProcessorConfig, next_consumer: Consumer) -> None:
        self._config = config
        self._next = next_consumer
        self._items: list[Item] = []
        self._first_at = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = False
        self._thread = threading.Thread(target=self._timer, name="batch-timer", daemon=True)
        self._thread.start()

    def consume(self, items: list[Item]) -> None:
        with self._lock:
            if not self._items:
                self._first_at = time.monotonic()
            self._items.extend(items)
            if len(self._items) < self._config.send_batch_size:
                return
            ready, self._items = self._items, []
        self._send(ready)

    def _send(self, items: list[Item]) -> None:
        limit = self._config.send_batch_max_size
        if limit <= 0 or len(items) <= limit:
            self._next.consume(items)
            return
        for start in range(0, len(items), limit):
            self._next.consume(items[start : start + limit])

    def _take_if_due(self, force: bool) -> list[Item]:
        with self._lock:
            if not self._items:
                return []
            if not force and time.monotonic() - self._first_at < self._config.timeout:
                return []
            ready, self._items = self._items, []
            return ready

    def _timer(self) -> None:
        interval = max(min(self._config.timeout / 4, 0.05), 0.005)
        while not self._stopped:
            self._wake.wait(interval)
            if ready := self._take_if_due(force=False):
                self._send(ready)

    def flush(self) -> None:
        if ready := self._take_if_due(force=True):
            self._send(ready)
        self._next.flush()

    def shutdown(self) -> None:
        self._stopped = True
        self._wake.set()
        self._thread.join(timeout=1)
        self.flush()
        self._next.shutdown()
