"""`ByIdentity`: values computed from workloads, cached by the workload objects themselves."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from bridge.cache import BoundedCache

V = TypeVar("V")


class ByIdentity(Generic[V]):
    """Values computed from workloads, found by the workload objects' identity.

    Why: a `Workload` is a frozen dataclass whose hash walks all of its fields on every call,
    while the resolver hands out the same few objects again and again. Keyed by `id()`, a repeat
    costs a hash of small ints; the value keeps the objects themselves and is used only when
    they are the very same objects (an id can be reused once its object is gone). Bounded.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._map: BoundedCache[Hashable, tuple[object, object, V]] = BoundedCache(limit)

    def __len__(self) -> int:
        return len(self._map)

    def get(self, a: object, b: object, extra: Hashable, make: Callable[[], V]) -> V:
        """The value for (a, b, extra); `make()` computes it when not held."""
        key = (id(a), id(b), extra)
        found = self._map.get(key)
        if found is not None and found[0] is a and found[1] is b:
            return found[2]
        value = make()
        self._map.put(key, (a, b, value))
        return value
