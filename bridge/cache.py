"""`BoundedCache`: a dict that starts over when it is full, shared safely between threads.

Why start over rather than evict the oldest: every cache here maps values that repeat (workloads,
label sets, span shapes) to what is made from them; after a churn the working set refills in a
few entries, and a plain dict lookup is the fastest thing Python has. An LRU would cost a
bookkeeping step on every hit to save a few misses after the rare clear.

Threads: lookups (`get`) are one dict read, atomic under the GIL, and take no lock, so the hot
path pays nothing; `put` (a miss) takes the lock, so a clear and an insert never interleave.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Generic, Protocol, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")
K_contra = TypeVar("K_contra", contravariant=True)
V_co = TypeVar("V_co", covariant=True)


class _Get(Protocol[K_contra, V_co]):
    @overload
    def __call__(self, key: K_contra, /) -> V_co | None: ...
    @overload
    def __call__(self, key: K_contra, default: D, /) -> V_co | D: ...


class Releasable(Protocol):
    def clear(self) -> None:
        """Empty it: what it held is made again from the traffic."""


R = TypeVar("R", bound=Releasable)

# Every live cache, so that `release_all` can empty them under memory pressure (the
# `memory_limiter`): a burst of new workloads fills every cache at once, and what is cached is
# made again from the traffic, unlike the metric series, which are state.
_LIVE: weakref.WeakSet[Any] = weakref.WeakSet()


def releasable(cache: R) -> R:
    """Registers `cache` (anything with `clear()`) to be emptied by `release_all`; returns it."""
    _LIVE.add(cache)
    return cache


def release_all() -> int:
    """Empties every live cache (from any thread: each `clear` is atomic); returns how many."""
    caches = list(_LIVE)
    for cache in caches:
        cache.clear()
    return len(caches)


class BoundedCache(Generic[K, V]):
    """At most `max_entries` entries; `get(key[, default])` is the dict's own `get`."""

    __slots__ = ("__weakref__", "_data", "_lock", "_max", "get")

    def __init__(self, max_entries: int) -> None:
        self._data: dict[K, V] = {}
        self._max = max_entries
        self._lock = threading.Lock()
        self.get: _Get[K, V] = self._data.get  # type: ignore[assignment]  # typeshed spells its overloads apart
        releasable(self)

    def put(self, key: K, value: V) -> V:
        """Keep `value` under `key` (emptying the cache first when it is full); returns `value`."""
        with self._lock:
            if len(self._data) >= self._max:
                self._data.clear()
            self._data[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
