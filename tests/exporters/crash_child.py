"""`python -m tests.exporters.crash_child DIRECTORY ENDPOINT N`: queue N requests, wait to be killed.

The backend at ENDPOINT is down, so every request stays on disk. The test kills this process with
SIGKILL (no shutdown, no atexit) and checks that a new queue over DIRECTORY delivers all of them.
"""

from __future__ import annotations

import sys
import time

from bridge.exporters.base import Signal
from tests.exporters.persistent_support import durable_queue, numbered


def main(directory: str, endpoint: str, count: int) -> None:
    queue = durable_queue(endpoint, directory, queue_size=3)  # most requests only on disk
    accepted = sum(queue.submit(Signal.TRACES, numbered(i)) for i in range(count))
    print(f"queued {accepted}", flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
