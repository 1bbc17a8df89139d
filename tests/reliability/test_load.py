"""Hundreds of concurrent ALS streams against the bridge process: nothing unaccounted, RSS flat.

Knobs (environment): RELIABILITY_SECONDS (default 45), RELIABILITY_STREAMS (default 300),
RELIABILITY_BATCH (entries per message per second per stream, default 4).
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests.reliability.accounting import settle
from tests.reliability.bridge_process import BridgeProcess, bridge_config, bridge_process
from tests.support.loadgen import LoadSpec, run_load_sync
from tests.support.otlp_sink import OTLPSink

SECONDS = float(os.environ.get("RELIABILITY_SECONDS", "45"))
STREAMS = int(os.environ.get("RELIABILITY_STREAMS", "300"))
BATCH = int(os.environ.get("RELIABILITY_BATCH", "4"))
RSS_GROWTH_LIMIT = 1.3


class RssSampler:
    """Samples the bridge's VmRSS every `interval` seconds on a thread, until stopped."""

    def __init__(self, bridge: BridgeProcess, interval: float = 0.5) -> None:
        self.samples: list[tuple[float, int]] = []
        self._bridge = bridge
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self._interval):
            try:
                self.samples.append((time.monotonic() - started, self._bridge.rss_kib()))
            except OSError:  # the process ended
                return

    def thirds(self, warmup: float) -> tuple[int, int]:
        """Max RSS (KiB) in the first and last third of the samples taken after `warmup` seconds."""
        values = [rss for t, rss in self.samples if t >= warmup]
        third = max(len(values) // 3, 1)
        return max(values[:third]), max(values[-third:])


@pytest.mark.slow
def test_hundreds_of_streams_every_entry_accounted_for_and_rss_flat(tmp_path: Path) -> None:
    with OTLPSink() as sink, bridge_process(bridge_config(sink.grpc_endpoint), tmp_path) as bridge:
        spec = LoadSpec(f"127.0.0.1:{bridge.als_port}", streams=STREAMS, duration=SECONDS, batch=BATCH)
        with RssSampler(bridge) as rss:
            result = run_load_sync(spec)
        books = settle(bridge, sink, result.entries_sent)
        code, took = bridge.terminate()
    assert not result.errors, f"streams ended with errors: {dict(result.errors)}"
    assert result.entries_acked == result.entries_sent
    assert books.received == result.entries_sent
    assert books.unaccounted == 0, books
    first, last = rss.thirds(warmup=min(10.0, SECONDS / 4))
    assert last <= first * RSS_GROWTH_LIMIT, f"RSS grew from {first} KiB to {last} KiB"
    assert code == 0 and took < 15
