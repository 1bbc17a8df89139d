"""`retry_on_failure` as a policy: how long to wait before the next attempt, and when to give up.

Why separate: the queue decides *what* to send and counts how it ended; this decides only *when*
to try again, from the `RetryConfig` as the user wrote it (the Collector's names: the wait after
the n-th failure is `initial_interval * multiplier**n`, capped at `max_interval`, randomised by
+/- `randomization_factor`, at least what the backend asked for, and no attempt is started past
`max_elapsed_time` since the first one; 0 means until shutdown).
"""

from __future__ import annotations

import random
import time

from bridge.exporters.shared_config import RetryConfig


class Backoff:
    """The retry schedule of one request, from its first attempt on."""

    __slots__ = ("_interval", "_policy", "_started")

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._started = time.monotonic()
        self._interval = float(policy.config.initial_interval)

    def next_delay(self, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when `max_elapsed_time` would pass first."""
        config = self._policy.config
        delay = max(self._policy.jittered(self._interval), retry_after or 0.0)
        self._interval = min(self._interval * config.multiplier, float(config.max_interval))
        elapsed = time.monotonic() - self._started
        if config.max_elapsed_time and elapsed + delay > config.max_elapsed_time:
            return None
        return delay


class RetryPolicy:
    """The exporter's `retry_on_failure`; one `Backoff` per request being sent."""

    def __init__(self, config: RetryConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._random = rng or random.Random()

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    def backoff(self) -> Backoff:
        return Backoff(self)

    def jittered(self, interval: float) -> float:
        factor = self.config.randomization_factor
        return interval * (1 + factor * self._random.uniform(-1.0, 1.0))
