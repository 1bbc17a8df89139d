"""The queue in front of every exporter, split by concern.

`bounded` (the memory queue and its bounds), `window` (the persistent queue's files and the part
of them kept in memory), `batch` (when to send, how much to merge), `retry` (when to try again),
and `sender` (`QueuedExporter`: the consumers and the counts, holding the others together).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from pathlib import Path

from bridge.exporters.base import Exporter
from bridge.exporters.persistent import FileQueue
from bridge.exporters.queue.sender import PERSISTENT_SIGNALS, QueuedExporter
from bridge.exporters.shared_config import QueueConfig, RetryConfig

__all__ = [
    "PERSISTENT_SIGNALS",
    "QueuedExporter",
    "build_queued_exporter",
    "storage_directory",
    "wait_for_room",
]

# An exporter whose config has no `sending_queue` (debug, prometheus) writes to a local sink:
# one consumer keeps its order (a cumulative metric applied out of order would go back in time)
# and there is nothing to gain from merging.
LOCAL_QUEUE = QueueConfig(num_consumers=1, batch=None)


async def wait_for_room(exporters: Iterable[QueuedExporter], timeout: float | None = None) -> bool:
    """Waits until every exporter with `on_full: block` has capacity at once; False if `timeout`
    passes first.

    The receiver calls this after reading a message and before handing it on, so a full queue
    holds back reading (and, through HTTP/2 flow control, Envoy) instead of dropping. It returns
    only after checking every exporter with no wait in between, so the caller, running on the
    same event loop, hands its message on while the room it saw is still there.
    """
    blocking = [exporter for exporter in exporters if exporter.blocks_when_full]
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        full = next((exporter for exporter in blocking if not exporter.has_capacity()), None)
        if full is None:
            return True
        remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
        if remaining == 0.0 or not await full.wait_for_capacity(remaining):
            return False


def build_queued_exporter(exporter: Exporter, config: object) -> QueuedExporter:
    """The queue an exporter's config asks for: its `sending_queue` and `retry_on_failure`.

    A config without them (debug, prometheus) gets `LOCAL_QUEUE` and the default retries. With
    `storage: file` the files go to `<directory>/<exporter id>/` (a `/` in the id becomes `_`), so
    exporters can share one `directory`; StorageLockedError if another process holds it (the
    exporter is shut down then).
    """
    queue = getattr(config, "sending_queue", None)
    retry = getattr(config, "retry_on_failure", None)
    queue = queue if isinstance(queue, QueueConfig) else LOCAL_QUEUE
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
    return QueuedExporter(exporter, queue, retry, storage)


def storage_directory(directory: str, exporter_name: str) -> Path:
    """Where one exporter's files live under `sending_queue.directory`."""
    return Path(directory) / re.sub(r"[^A-Za-z0-9._-]", "_", exporter_name)
