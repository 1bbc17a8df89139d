"""`BoundedCache`: bounded, and consistent when several threads fill it at once."""

from __future__ import annotations

import threading

from bridge.cache import BoundedCache


def test_starts_over_when_full() -> None:
    cache: BoundedCache[int, str] = BoundedCache(3)
    for key in range(3):
        assert cache.put(key, str(key)) == str(key)
    assert [cache.get(k) for k in range(3)] == ["0", "1", "2"]
    cache.put(3, "3")
    assert len(cache) == 1
    assert cache.get(0) is None and cache.get(3) == "3"


def test_threads_filling_it_never_exceed_the_bound() -> None:
    cache: BoundedCache[tuple[int, int], int] = BoundedCache(100)
    sizes: list[int] = []

    def fill(thread: int) -> None:
        for i in range(5_000):
            if cache.get((thread, i)) is None:
                cache.put((thread, i), i)
            sizes.append(len(cache))

    threads = [threading.Thread(target=fill, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(sizes) <= 100
    assert all(value == key[1] for key, value in cache._data.items())
