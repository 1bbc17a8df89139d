"""What the receiver may know of the stages after it: whether they can take more, and waiting for room.

Why a narrow interface: the receiver decides, per message, how much work to do (all of it, the
metrics only, or none), and in `block` mode when to stop reading; it needs three questions
answered, not the exporter queue or the memory limiter themselves. Anything that answers them
(`QueuedExporter`, `MemoryLimiter`) can be handed to it. This module imports nothing of ours.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# The two signals whose items the receiver builds per entry; metrics are aggregated instead.
PER_ENTRY_SIGNALS = ("traces", "logs")


class Capacity(Protocol):
    """A stage downstream that may be full: an exporter's queue."""

    @property
    def blocks_when_full(self) -> bool:
        """`on_full: block`: wait for room rather than drop."""

    def has_capacity(self) -> bool:
        """Whether it would take a request now."""

    async def wait_for_capacity(self, timeout: float | None = None) -> bool:
        """Waits until `has_capacity()` (True) or `timeout` passes (False)."""


class Limiter(Protocol):
    """A bound over the whole process (the `memory_limiter` processor)."""

    def accepts_items(self) -> bool:
        """Below the soft limit: spans and log records may be built."""

    def accepts_messages(self) -> bool:
        """Below the hard limit: messages may be decoded at all (metrics first)."""


async def wait_for_room(stages: Iterable[Capacity], timeout: float | None = None) -> bool:
    """Waits until every stage with `on_full: block` has capacity at once; False if `timeout`
    passes first.

    The receiver calls this after reading a message and before handing it on, so a full queue
    holds back reading (and, through HTTP/2 flow control, Envoy) instead of dropping. It returns
    only after checking every stage with no wait in between, so the caller, running on the same
    event loop, hands its message on while the room it saw is still there.
    """
    blocking = [stage for stage in stages if stage.blocks_when_full]
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    while True:
        full = next((stage for stage in blocking if not stage.has_capacity()), None)
        if full is None:
            return True
        remaining = None if deadline is None else max(deadline - loop.time(), 0.0)
        if remaining == 0.0 or not await full.wait_for_capacity(remaining):
            return False


@dataclass
class Admission:
    """What one receiver feeds: per signal the exporters of its pipelines, whether it feeds a
    metrics pipeline, and the limiters in its pipelines."""

    exporters: dict[str, Sequence[Capacity]] = field(default_factory=dict)  # "traces"/"logs" -> queues
    metrics: bool = False
    limiters: Sequence[Limiter] = ()

    @property
    def blocking(self) -> list[Capacity]:
        """The exporters with `on_full: block`, each once."""
        seen: dict[int, Capacity] = {}
        for stages in self.exporters.values():
            for stage in stages:
                if stage.blocks_when_full:
                    seen.setdefault(id(stage), stage)
        return list(seen.values())

    def closed_signals(self) -> dict[str, str]:
        """Per signal fed (traces, logs) whose items should not be built for this message: why
        ("memory_limit", "queue_full"). Open signals are left out.

        A signal is open when every limiter is below its soft limit and some exporter of its
        pipelines can take more (one that blocks always can: the receiver waited for it)."""
        if not all(limiter.accepts_items() for limiter in self.limiters):
            return {signal: "memory_limit" for signal, stages in self.exporters.items() if stages}
        return {
            signal: "queue_full"
            for signal, stages in self.exporters.items()
            if stages and not any(stage.blocks_when_full or stage.has_capacity() for stage in stages)
        }

    def message_refusal(self, closed: dict[str, str]) -> str | None:
        """Why the message should not be decoded at all, or None: no pipeline can take any of it
        (metrics can while the limiters are below their hard limits)."""
        if not all(limiter.accepts_messages() for limiter in self.limiters):
            return "memory_limit"
        if self.metrics or len(closed) < sum(1 for stages in self.exporters.values() if stages):
            return None
        return next(iter(closed.values()), None)
