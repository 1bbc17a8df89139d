"""Configuration of the `memory_limiter` processor (the Collector's names)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config.fields import FieldError
from bridge.config.types import Duration


@dataclass
class MemoryLimiterConfig:
    """`memory_limiter`: shed load before the process outgrows its memory.

    The hard limit is `limit_mib` when set, else `limit_percentage` of the container's memory
    limit (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`; the machine's memory without one).
    The soft limit is the hard limit less `spike_limit_mib` (20 % of `limit_mib` when 0), or less
    `spike_limit_percentage` with a percentage. The defaults (80 % and 25 %) are the values the
    Collector's documentation suggests for a container. The process's memory in use (what the
    allocators have handed out, not the resident size they keep after a burst: `memory.InUse`) is
    read every `check_interval`. Above the soft limit the receivers stop building spans and log
    records (counted as dropped, reason `memory_limit`) but keep the metrics exact; above the
    hard limit they stop decoding messages at all. Below the soft limit everything flows again.
    """

    check_interval: Duration = 1.0
    limit_mib: int = 0
    spike_limit_mib: int = 0
    limit_percentage: int = 80
    spike_limit_percentage: int = 25

    def validate(self) -> None:
        if self.check_interval <= 0:
            raise FieldError(("check_interval",), "must be greater than 0")
        if self.limit_mib < 0 or self.spike_limit_mib < 0:
            raise FieldError(("limit_mib",), "must not be negative")
        if not self.limit_mib and not self.limit_percentage:
            raise FieldError(("limit_mib",), "set limit_mib or limit_percentage")
        if not 0 <= self.limit_percentage <= 100 or not 0 <= self.spike_limit_percentage <= 100:
            raise FieldError(("limit_percentage",), "percentages are from 0 to 100")
        if self.limit_mib and self.spike_limit_mib >= self.limit_mib:
            raise FieldError(("spike_limit_mib",), f"must be less than limit_mib ({self.limit_mib})")
        if not self.limit_mib and self.spike_limit_percentage >= self.limit_percentage:
            raise FieldError(
                ("spike_limit_percentage",), f"must be less than limit_percentage ({self.limit_percentage})"
            )
