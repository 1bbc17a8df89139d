"""`memory_limiter` under a cardinality burst: a bridge with a low limit stays under the limit plus
its spike allowance, counts what it shed, keeps the metrics exact, and builds spans again once the
burst is over.

The burst: eight streams flat out, every entry's peer one of 3,000 workloads (a mesh-wide rollout),
so identity, span and metric caches and the metric series all grow at once, while the trace
backend is down, so the exporter queue holds what was built (as in the burst that motivated the
limiter: "every queue full"). Emptying the caches alone does not bring that back under the soft
limit; the queued spans are data. When the backend is back the queue drains, the memory in use
falls to the series and the caches of the steady traffic, and spans flow again.

The limits are set from the bridge's own resident memory at rest on this machine, so the test
holds on a faster or slower one; every wait is bounded and generous, nothing is timed.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.bridge_process import BridgeProcess, bridge_process, span_request_ids
from tests.support.loadgen import LoadSpec, run_load_sync
from tests.support.otlp_sink import OTLPSink

MiB = 1024
SOFT_MIB = 30  # the soft limit above the bridge at rest: the burst's caches and queue pass it
SPIKE_MIB = 40  # the hard limit 70 MiB above rest


def limited_config(sink: OTLPSink, limit_mib: int, spike_mib: int = SPIKE_MIB) -> dict[str, Any]:
    processors = ["memory_limiter"]
    return {
        "receivers": {
            "envoy_als": {"endpoint": "127.0.0.1:0", "metrics": {"interval": "2s", "max_series_total": 2000}}
        },
        "processors": {
            "memory_limiter": {
                "check_interval": "100ms",
                "limit_mib": limit_mib,
                "spike_limit_mib": spike_mib,
            }
        },
        "exporters": {
            "otlp": {
                "endpoint": sink.grpc_endpoint,
                "tls": {"insecure": True},
                # back within a second of the backend, and nothing given up while it is down
                "retry_on_failure": {
                    "initial_interval": "100ms",
                    "max_interval": "1s",
                    "max_elapsed_time": 0,
                },
            },
            "prometheus": {"endpoint": "127.0.0.1:0"},
        },
        "service": {
            "pipelines": {
                "traces": {"receivers": ["envoy_als"], "processors": processors, "exporters": ["otlp"]},
                "metrics": {
                    "receivers": ["envoy_als"],
                    "processors": processors,
                    "exporters": ["prometheus"],
                },
            }
        },
    }


def rest_rss_mib(sink: OTLPSink, workdir: Path) -> int:
    """The bridge's resident memory after start-up, with nothing sent (a limit it never reaches)."""
    workdir.mkdir()
    with bridge_process(limited_config(sink, 100_000), workdir) as bridge:
        time.sleep(1.0)
        return bridge.rss_kib() // MiB


class Peak:
    """The largest RSS of the bridge, sampled every 50 ms while in use."""

    def __init__(self, bridge: BridgeProcess) -> None:
        self.mib = 0
        self._bridge = bridge
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Peak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.mib = max(self.mib, self._bridge.rss_kib() // MiB)
            except OSError:
                return


def calls(bridge: BridgeProcess) -> float:
    """Entries the metric families counted (spanmetrics calls: one span per entry, reporters=both)."""
    return sum(v for (n, _), v in bridge.exposition().items() if n == "traces_span_metrics_calls_total")


def shed(bridge: BridgeProcess) -> float:
    return bridge.counter("als_bridge_entries_dropped_total", reason="memory_limit", signal="traces")


def state(bridge: BridgeProcess) -> float:
    return bridge.counter("als_bridge_memory_limiter_state")


def wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def traffic(bridge: BridgeProcess, tag: str, entries: int) -> LoadSpec:
    """Steady traffic after or between bursts: a few workloads, small messages, paced."""
    return LoadSpec(
        f"127.0.0.1:{bridge.als_port}",
        streams=2,
        max_entries=entries,
        duration=0,
        batch=10,
        interval=0.05,
        workloads=20,
        tag=tag,
    )


@pytest.mark.slow
def test_a_cardinality_burst_is_shed_within_the_limit_and_spans_flow_again_after_it(tmp_path: Path) -> None:
    with OTLPSink() as sink:
        rest = rest_rss_mib(sink, tmp_path / "rest")
        limit = rest + SOFT_MIB + SPIKE_MIB
        (tmp_path / "limited").mkdir()
        with bridge_process(limited_config(sink, limit), tmp_path / "limited") as bridge:
            burst = LoadSpec(
                f"127.0.0.1:{bridge.als_port}",
                streams=8,
                duration=300,  # a bound only: the burst is its entries, however fast they go
                max_entries=45_000,
                batch=100,
                interval=0.0,
                messages_per_stream=10,
                workloads=3000,
                streams_per_channel=1,
                tag="burst",
            )
            with Peak(bridge) as peak:
                sink.set_down(True)
                sent = run_load_sync(burst).entries_sent
                shed_in_burst = shed(bridge)
                assert peak.mib <= limit + SPIKE_MIB, (
                    f"RSS peaked at {peak.mib} MiB, limit {limit} + {SPIKE_MIB}"
                )
                assert shed_in_burst > 0, (
                    f"nothing was shed: the burst never reached the soft limit ({limit - SPIKE_MIB} MiB)"
                )
                assert shed_in_burst < sent

                # Traffic read while the queue still holds the burst's spans: the metrics count
                # every entry; if the limiter is still above the soft limit (the memory in use
                # hovers there while the queue is full), the entries' spans are shed and counted.
                above = state(bridge) >= 1
                calls_before = calls(bridge)
                calm = run_load_sync(traffic(bridge, "calm", 400))
                assert not calm.errors
                assert wait_for(lambda: calls(bridge) >= calls_before + calm.entries_sent, 60)
                if above and state(bridge) >= 1:
                    assert shed(bridge) > shed_in_burst

                # The burst is over and the backend back: once the queue has drained, the memory
                # in use is below the soft limit and the limiter lets everything through again.
                sink.set_down(False)
                assert wait_for(lambda: bridge.counter("als_bridge_queue_length", exporter="otlp") == 0, 180)
                assert wait_for(lambda: state(bridge) == 0, 180), (
                    "the limiter did not go back below the soft limit: "
                    + "".join(line for line in bridge.lines if "memory_limiter" in line)[-2000:]
                )
                shed_before = shed(bridge)
                after = run_load_sync(traffic(bridge, "after", 400))
                assert not after.errors and after.acked_request_ids
                delivered = lambda: after.acked_request_ids <= set(span_request_ids(sink.spans()))  # noqa: E731
                assert wait_for(delivered, 120), (
                    f"{len(after.acked_request_ids - set(span_request_ids(sink.spans())))} of "
                    f"{len(after.acked_request_ids)} spans sent after the burst did not arrive; "
                    f"drops: { {k: v for k, v in bridge.scrape().items() if 'dropped' in k[0]} }"
                )
                assert shed(bridge) == shed_before
                assert peak.mib <= limit + SPIKE_MIB

            # Metrics exact: the limiter never reached the hard limit here (it would have said so),
            # so every entry of every phase is counted.
            if not any("above the hard limit" in line for line in bridge.lines):
                total = sent + calm.entries_sent + after.entries_sent
                assert wait_for(lambda: calls(bridge) >= total, 60)
                assert calls(bridge) == total
