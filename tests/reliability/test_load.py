"""Hundreds of concurrent ALS streams against the bridge process: nothing unaccounted, RSS flat.

Two deployments, each loaded once (module-scoped) and then checked:
* traces only: every entry must arrive at the sink, and RSS stay flat;
* traces + a metrics pipeline to the `prometheus` exporter: every entry is either at the sink or
  counted as dropped in the bridge's own counters (read from that exporter's scrape), and RSS
  stay flat once the metric series have all appeared.

Knobs (environment): RELIABILITY_SECONDS (default 30 per deployment: two runs must fit the
~3 minute budget of this suite on 2 cores), RELIABILITY_STREAMS (300), RELIABILITY_BATCH
(entries per message, one message per second per stream; default 4).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.accounting import Accounting, settle
from tests.reliability.bridge_process import BridgeProcess, bridge_config, bridge_process
from tests.support.loadgen import LoadResult, LoadSpec, run_load_sync
from tests.support.otlp_sink import OTLPSink

SECONDS = float(os.environ.get("RELIABILITY_SECONDS", "30"))
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
        values = [rss for t, rss in self.samples if t >= warmup] or [0]
        third = max(len(values) // 3, 1)
        return max(values[:third]), max(values[-third:])


@dataclass
class LoadRun:
    result: LoadResult
    books: Accounting | None  # None without a metrics pipeline (no counters to read)
    at_sink: int
    rss_first_third_kib: int
    rss_last_third_kib: int
    exit_code: int
    exit_seconds: float


def load_run(
    config: dict[str, Any], sink: OTLPSink, workdir: Path, with_counters: bool, seconds: float, warmup: float
) -> LoadRun:
    """Load one bridge for `seconds`, let it drain, read the books, SIGTERM it. RSS is judged
    after `warmup`: until then the caches and metric series are still filling."""
    with bridge_process(config, workdir) as bridge:
        spec = LoadSpec(f"127.0.0.1:{bridge.als_port}", streams=STREAMS, duration=seconds, batch=BATCH)
        with RssSampler(bridge) as rss:
            result = run_load_sync(spec)
        books = settle(bridge, sink, result.entries_sent) if with_counters else None
        if books is None:
            sink.wait_for(lambda: len(sink.spans()) >= result.entries_sent, timeout=60)
        code, took = bridge.terminate()
    first, last = rss.thirds(warmup=warmup)
    return LoadRun(result, books, len(sink.spans()), first, last, code, took)


@pytest.fixture(scope="module")
def traces_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadRun]:
    with OTLPSink() as sink:
        config = bridge_config(sink.grpc_endpoint)
        del config["service"]["pipelines"]["metrics"], config["exporters"]["prometheus"]
        yield load_run(
            config, sink, tmp_path_factory.mktemp("traces"), False, SECONDS, warmup=min(10.0, SECONDS / 4)
        )


@pytest.fixture(scope="module")
def with_metrics(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadRun]:
    with OTLPSink() as sink:
        config = bridge_config(sink.grpc_endpoint)
        # The metric series keep appearing for a while (new caller/callee/code combinations of
        # 60 workloads), and memory with them up to the cardinality limit: a leak shows only
        # after that, so this run is longer and judged from its second half.
        seconds = 2 * SECONDS
        yield load_run(config, sink, tmp_path_factory.mktemp("metrics"), True, seconds, warmup=seconds / 2)


def _assert_clean_run(run: LoadRun) -> None:
    assert not run.result.errors, f"streams ended with errors: {dict(run.result.errors)}"
    assert run.result.entries_acked == run.result.entries_sent
    assert run.exit_code == 0 and run.exit_seconds < 15


@pytest.mark.slow
def test_traces_only_every_entry_arrives(traces_only: LoadRun) -> None:
    _assert_clean_run(traces_only)
    assert traces_only.at_sink == traces_only.result.entries_sent


@pytest.mark.slow
def test_traces_only_rss_stays_flat(traces_only: LoadRun) -> None:
    first, last = traces_only.rss_first_third_kib, traces_only.rss_last_third_kib
    assert last <= first * RSS_GROWTH_LIMIT, f"RSS grew from {first} KiB to {last} KiB"


@pytest.mark.slow
def test_with_metrics_every_entry_delivered_or_counted(with_metrics: LoadRun) -> None:
    _assert_clean_run(with_metrics)
    books = with_metrics.books
    assert books is not None
    assert books.received == with_metrics.result.entries_sent
    assert books.unaccounted == 0, books


@pytest.mark.slow
def test_with_metrics_rss_stays_flat(with_metrics: LoadRun) -> None:
    first, last = with_metrics.rss_first_third_kib, with_metrics.rss_last_third_kib
    assert last <= first * RSS_GROWTH_LIMIT, f"RSS grew from {first} KiB to {last} KiB"
