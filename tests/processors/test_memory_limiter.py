"""`memory_limiter`: its limits, where a percentage is taken of, and the states the receivers read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config.fields import FieldError
from bridge.processors.memory_limiter import MemoryLimiter, MemoryLimiterConfig
from bridge.processors.memory_limiter.memory import InUse, MiB, container_limit_bytes, rss_bytes
from bridge.processors.memory_limiter.processor import limits
from bridge.telemetry import SELF


def test_limit_mib_with_its_default_spike() -> None:
    assert limits(MemoryLimiterConfig(limit_mib=500)) == (500 * MiB, 400 * MiB)
    assert limits(MemoryLimiterConfig(limit_mib=500, spike_limit_mib=100)) == (500 * MiB, 400 * MiB)
    assert limits(MemoryLimiterConfig(limit_mib=256, spike_limit_mib=56)) == (256 * MiB, 200 * MiB)


def test_percentages_are_of_the_base() -> None:
    config = MemoryLimiterConfig(limit_percentage=80, spike_limit_percentage=25)
    assert limits(config, base=1000 * MiB) == (800 * MiB, 550 * MiB)


def test_cgroup_v2_and_v1_limits_are_read(tmp_path: Path) -> None:
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "memory.max").write_text("268435456\n")
    assert container_limit_bytes(v2) == 256 * MiB
    (v2 / "memory.max").write_text("max\n")
    assert container_limit_bytes(v2) is None
    v1 = tmp_path / "v1" / "memory"
    v1.mkdir(parents=True)
    (v1 / "memory.limit_in_bytes").write_text("536870912\n")
    assert container_limit_bytes(tmp_path / "v1") == 512 * MiB
    (v1 / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1's "no limit"
    assert container_limit_bytes(tmp_path / "v1") is None
    assert container_limit_bytes(tmp_path / "none") is None


def test_the_process_rss_is_read() -> None:
    assert 10 * MiB < rss_bytes() < 10_000 * MiB


def test_in_use_follows_the_live_objects_where_the_resident_size_does_not() -> None:
    """After a burst of objects is freed, all but a few of every page's survivors, the memory in
    use falls back although the allocator keeps the pages (the burst's survivors pin them)."""
    in_use = InUse()
    assert in_use.exact  # glibc and CPython's pymalloc: both figures are read here
    assert abs(in_use() - rss_bytes()) < 8 * MiB  # equal to the resident size at the start
    before = in_use()
    burst = [f"workload-{i}-{'x' * (i % 40)}" for i in range(600_000)]
    grown = in_use() - before
    assert grown > 40 * MiB
    survivors = burst[::64]  # like the metric series a burst leaves among its caches
    del burst
    assert in_use() - before < grown // 4
    assert len(survivors) == 9375


def test_states_follow_the_memory_and_come_back() -> None:
    SELF.reset()
    rss = [100 * MiB]
    limiter = MemoryLimiter(
        "memory_limiter", MemoryLimiterConfig(limit_mib=200, spike_limit_mib=50), read_memory=lambda: rss[0]
    )
    assert limiter.accepts_items() and limiter.accepts_messages()
    rss[0] = 160 * MiB  # above soft (150), below hard
    assert limiter.check() == 1
    assert not limiter.accepts_items() and limiter.accepts_messages()
    rss[0] = 210 * MiB
    assert limiter.check() == 2
    assert not limiter.accepts_items() and not limiter.accepts_messages()
    assert SELF.get("als_bridge_memory_limiter_state", processor="memory_limiter") == 2
    rss[0] = 120 * MiB
    assert limiter.check() == 0
    assert limiter.accepts_items() and limiter.accepts_messages()
    assert SELF.get("als_bridge_memory_limiter_in_use_bytes", processor="memory_limiter") == 120 * MiB
    assert SELF.get("als_bridge_memory_limiter_rss_bytes", processor="memory_limiter") == rss_bytes()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"check_interval": 0}, "check_interval: must be greater than 0"),
        ({"limit_mib": 0, "limit_percentage": 0}, "set limit_mib or limit_percentage"),
        ({"limit_mib": 100, "spike_limit_mib": 100}, "must be less than limit_mib"),
        ({"limit_percentage": 50, "spike_limit_percentage": 60}, "must be less than limit_percentage"),
        ({"limit_percentage": 120}, "from 0 to 100"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, float], message: str) -> None:
    with pytest.raises(FieldError, match=message):
        MemoryLimiterConfig(**settings).validate()  # type: ignore[arg-type]


def test_crossing_a_limit_empties_the_caches() -> None:
    from bridge.cache import BoundedCache

    cache: BoundedCache[str, int] = BoundedCache(10)
    cache.put("a", 1)
    rss = [100 * MiB]
    limiter = MemoryLimiter(
        "m", MemoryLimiterConfig(limit_mib=200, spike_limit_mib=50), read_memory=lambda: rss[0]
    )
    limiter.check()
    assert len(cache) == 1  # below the soft limit: kept
    rss[0] = 160 * MiB
    limiter.check()
    assert len(cache) == 0  # above it: emptied, to be refilled from the traffic
