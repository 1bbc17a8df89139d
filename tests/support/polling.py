"""Waiting for a condition another thread brings about, without a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def eventually(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Polls `predicate` every `interval` seconds until it holds (True) or `timeout` seconds pass
    (False), so a test asserts the outcome and fails with its own message rather than hanging."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
