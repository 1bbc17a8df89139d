"""The `memory_limiter` processor: the receivers shed load while the process is near its memory limit.

Why at the receiver: by the time items reach a processor their cost is paid (decoded, converted);
refusing them there saves nothing. So, as the Collector's memory_limiter refuses data to the
receiver in front of it, this one answers the receivers' admission questions (`bridge.pipeline.
capacity.Limiter`): above the soft limit no spans or log records are built (the metrics stay
exact, since they cost per series, not per entry), above the hard limit no message is decoded.
In the pipeline itself it passes items on unchanged.

The memory in use (`memory.InUse`: what the allocators have handed out, not the resident size,
which stays up after a burst because the allocators keep freed memory for reuse) is read every
`check_interval` on a thread of its own, as the Collector's reads the Go heap rather than the RSS.
On crossing above a limit it empties every cache (`bridge.cache.release_all`: identity, span and
metric plans, encoded attributes and resources; they refill from the traffic), runs Python's
collector and hands what it can back to the system (glibc `malloc_trim`), as the Collector forces
a GC. Once the burst is over the memory in use falls back to the metric series and the steady
traffic, below the soft limit, and everything flows again.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import threading
import time
from collections.abc import Callable

from bridge.cache import release_all
from bridge.pipeline.consumer import Consumer, Item
from bridge.processors.memory_limiter.config import MemoryLimiterConfig
from bridge.processors.memory_limiter.memory import (
    InUse,
    MiB,
    container_limit_bytes,
    rss_bytes,
    total_memory_bytes,
)
from bridge.telemetry import SELF

log = logging.getLogger(__name__)

STATE = "als_bridge_memory_limiter_state"
RSS = "als_bridge_memory_limiter_rss_bytes"
IN_USE = "als_bridge_memory_limiter_in_use_bytes"
SELF.describe(STATE, "gauge", "memory_limiter: 0 below the soft limit, 1 above it, 2 above the hard limit")
SELF.describe(RSS, "gauge", "memory_limiter: the resident memory at its last check, in bytes")
SELF.describe(IN_USE, "gauge", "memory_limiter: the memory in use it last read (the limits apply to it)")

_RELEASE_EVERY = 5.0  # seconds between collections while above a limit
_DEFAULT_SPIKE_SHARE = 0.2  # of the hard limit, when no spike limit is set (the Collector's default)


def _trimmer() -> Callable[[], None]:
    """glibc's malloc_trim(0), or nothing where there is no glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return lambda: None

    def release() -> None:
        trim(0)

    return release


def limits(config: MemoryLimiterConfig, base: int | None = None) -> tuple[int, int]:
    """(hard, soft) limits in bytes. Percentages are of `base`, else of the container's limit,
    else of the machine's memory."""
    if config.limit_mib:
        hard = config.limit_mib * MiB
        spike = config.spike_limit_mib * MiB if config.spike_limit_mib else int(hard * _DEFAULT_SPIKE_SHARE)
    else:
        total = base or container_limit_bytes() or total_memory_bytes()
        hard = total * config.limit_percentage // 100
        share = config.spike_limit_percentage
        spike = total * share // 100 if share else int(hard * _DEFAULT_SPIKE_SHARE)
    return hard, hard - spike


class MemoryLimiter:
    """One `memory_limiter`, shared by every pipeline that names it."""

    def __init__(
        self,
        name: str,
        config: MemoryLimiterConfig,
        read_memory: Callable[[], int] | None = None,
        base: int | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self.hard, self.soft = limits(config, base)
        if read_memory is None:
            in_use = InUse()
            if not in_use.exact:
                log.warning(
                    "%s: the allocators' figures cannot be read here (no glibc or no pymalloc "
                    "statistics); the limits apply to the resident memory, which stays up after a burst",
                    name,
                )
            read_memory = in_use
        self._read_memory = read_memory
        self._trim = _trimmer()
        self._state = 0  # 0 below soft, 1 above soft, 2 above hard; read without a lock (one int)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.check()

    # -- the receivers' questions (bridge.pipeline.capacity.Limiter) ---------------------------

    def accepts_items(self) -> bool:
        return self._state == 0

    def accepts_messages(self) -> bool:
        return self._state < 2

    # -- checking --------------------------------------------------------------------------

    def check(self) -> int:
        """Reads the memory once and moves to the state it says; returns the state."""
        used = self._read_memory()
        state = 2 if used >= self.hard else 1 if used >= self.soft else 0
        if state > self._state:
            self._release_memory()  # what the burst left may be freeable now
            used = self._read_memory()
            state = 2 if used >= self.hard else 1 if used >= self.soft else 0
        rss = rss_bytes()
        if state != self._state:
            log.warning(
                "%s: memory in use %d MiB (resident %d MiB) is %s (soft %d MiB, hard %d MiB)%s",
                self.name,
                used // MiB,
                rss // MiB,
                ("below the soft limit", "above the soft limit", "above the hard limit")[state],
                self.soft // MiB,
                self.hard // MiB,
                (
                    "; everything flows again",
                    "; spans and logs are dropped, metrics kept",
                    "; messages are dropped",
                )[state],
            )
        self._state = state
        SELF.set(STATE, state, processor=self.name)
        SELF.set(RSS, rss, processor=self.name)
        SELF.set(IN_USE, used, processor=self.name)
        return state

    def _release_memory(self) -> None:
        release_all()  # caches refill from the traffic; the metric series (state) stay
        gc.collect()
        self._trim()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"memory-limiter-{self.name}", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        interval = float(self.config.check_interval)
        released = time.monotonic()
        while not self._stop.wait(interval):
            try:
                state = self.check()
                # Still above: give back what was freed meanwhile, but not often (a full
                # collection holds the GIL for a while with a large heap).
                if state and time.monotonic() - released >= _RELEASE_EVERY:
                    self._release_memory()
                    released = time.monotonic()
            except (OSError, ValueError) as err:  # /proc unreadable: keep the last state
                log.error("%s: cannot read the process's memory: %s", self.name, err)

    def shutdown(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def stage(self, next_consumer: Consumer) -> Consumer:
        """Its place in one pipeline: items pass on unchanged (the shedding is at the receiver)."""
        return _PassOn(next_consumer)


class _PassOn:
    def __init__(self, next_consumer: Consumer) -> None:
        self._next = next_consumer

    def consume(self, items: list[Item]) -> None:
        self._next.consume(items)

    def flush(self) -> None:
        self._next.flush()

    def shutdown(self) -> None:
        self._next.shutdown()
