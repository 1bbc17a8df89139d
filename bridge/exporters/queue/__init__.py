"""The queue in front of every exporter, split by concern.

`bounded` (the memory queue and its bounds), `window` (the persistent queue's files and the part
of them kept in memory), `batch` (when to send, how much to merge), `retry` (when to try again),
and `sender` (`QueuedExporter`: the consumers and the counts, holding the others together).
"""

from __future__ import annotations

import re
from pathlib import Path

from bridge.exporters.base import Exporter
from bridge.exporters.persistent import FileQueue
from bridge.exporters.queue.sender import PERSISTENT_SIGNALS, QueuedExporter
from bridge.exporters.shared_config import QueueConfig, RetryConfig
from bridge.pipeline.capacity import wait_for_room

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
