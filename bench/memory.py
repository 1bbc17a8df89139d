"""Peak memory with many metric series and a full export queue: the issue's 256 MiB goal.

    .venv/bin/python -m bench.memory                       # ~1 min: table + bench/results/memory.json
    .venv/bin/python -m bench.memory --workloads 300       # more workloads, more series

The worst steady state a user meets is a backend that is down while the mesh keeps talking:
every exporter's `sending_queue` fills to its bound and stays full, and the metric store holds
every series the traffic has made. This runs that case against `python -m bridge` exactly as
users run it: `envoy_als` with every metric family on, `batch`, and `otlp` exporters for
traces and metrics pointing at a port where nothing listens (retrying, so nothing leaves the
queue), plus the `prometheus` exporter, whose scrape gives the series count and the bridge's
own counters. The load generator (`bench.loadgen`) sends until the traces queue has dropped
requests for being full and the series count has stopped growing; then the bridge's peak RSS
(VmHWM) is read. The run fails when the queue never filled or fewer series than
`--min-series` appeared, so the figure is always the figure of the case it claims.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench import _free_port, _stop, peak_rss_mib  # noqa: E402
from tests.reliability.bridge_process import BridgeProcess, bridge_config  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "memory.json"


# The exporter's retries never give up, so nothing leaves its queue while the backend is down.
_RETRY_FOREVER = {"max_elapsed_time": "0s", "max_interval": "1s"}
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _config(dead_port: int) -> dict[str, Any]:
    """The reliability tests' bridge (traces to `otlp`, metrics to `prometheus`), with every metric
    family at a short interval and the metrics going to the dead `otlp` backend as well."""
    config = bridge_config(
        f"127.0.0.1:{dead_port}", retry=_RETRY_FOREVER, receiver={"metrics": {"interval": "2s"}}
    )
    metrics = config["service"]["pipelines"]["metrics"]
    metrics["processors"] = ["batch"]
    metrics["exporters"].append("otlp")
    config["service"]["telemetry"] = {"logs": {"level": "info"}}  # the ports come from the log
    return config


def series_count(samples: Samples) -> int:
    """Metric series outside the bridge's own `als_bridge_*`. A series is one label set of one
    metric: a histogram's `_bucket`/`_sum`/`_count` lines and its `le` buckets are one series, as
    the store holds them."""
    series = set()
    for name, labels in samples:
        if name.startswith("als_bridge_"):
            continue
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        series.add((name, tuple(pair for pair in labels if pair[0] != "le")))
    return len(series)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    bridge = BridgeProcess(_config(_free_port()), work).start()  # nothing listens on the free port
    loadgen: subprocess.Popen[bytes] | None = None
    try:
        load_cmd = [
            sys.executable, "-m", "bench.loadgen",
            "--target", f"127.0.0.1:{bridge.als_port}",
            "--entries", str(args.max_entries),
            "--duration", str(args.max_seconds),
            "--streams", str(args.streams),
            "--workloads", str(args.workloads),
            "--templates", str(args.templates),
            "--rate", str(args.rate),
            "--out", str(work / "load.json"),
        ]  # fmt: skip
        loadgen = subprocess.Popen(load_cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
        started = time.monotonic()
        history: list[tuple[float, int, float]] = []
        while loadgen.poll() is None:
            time.sleep(5.0)
            series = series_count(bridge.exposition(timeout=120))
            history.append((round(time.monotonic() - started, 1), series, round(bridge.rss_kib() / 1024, 1)))
            settled = len(history) >= 4 and history[-4][1] == series
            full = bridge.counter("als_bridge_dropped_items_total", signal="traces") > 0
            if full and series >= args.min_series and settled:
                time.sleep(args.hold)  # full and steady: keep it so for a while, then read the peak
                break
        _stop(loadgen)
        loadgen = None
        result = {
            "series": series_count(bridge.exposition(timeout=120)),
            "queue_length": {"otlp": bridge.counter("als_bridge_queue_length", exporter="otlp")},
            "traces_dropped_queue_full": bridge.counter("als_bridge_dropped_items_total", signal="traces"),
            "entries_received": bridge.counter("als_bridge_entries_received_total"),
            "peak_rss_mib": round(peak_rss_mib(bridge.pid)[0], 1),
            "rss_at_end_mib": round(bridge.rss_kib() / 1024, 1),
            "history_seconds_series_rss": history,
        }
    finally:
        if loadgen is not None:
            _stop(loadgen)
        bridge.kill()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workloads", type=int, default=240, help="distinct workloads (more: more series)")
    parser.add_argument("--streams", type=int, default=48)
    parser.add_argument(
        "--templates", type=int, default=32, help="distinct calls per stream (32 x 48 streams: ~10k series)"
    )
    parser.add_argument("--rate", type=float, default=0.0, help="entries/s (0: as fast as the bridge reads)")
    parser.add_argument("--min-series", type=int, default=10_000, help="fail when fewer series appear")
    parser.add_argument(
        "--hold", type=float, default=6.0, help="seconds to stay full before reading the peak"
    )
    parser.add_argument("--max-seconds", type=float, default=240.0)
    parser.add_argument("--max-entries", type=int, default=5_000_000)
    parser.add_argument("--limit-mib", type=float, default=256.0, help="the goal the run is judged against")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="als-memory-") as tmp:
        result = run(args, Path(tmp))
    filled = result["traces_dropped_queue_full"] > 0
    enough = result["series"] >= args.min_series
    result.update(
        machine={"cpus": os.cpu_count(), "python": platform.python_version()},
        args={k: str(v) for k, v in vars(args).items()},
        queue_filled=filled,
        within_limit=result["peak_rss_mib"] <= args.limit_mib,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    rows = [
        ("metric series held", f"{result['series']}"),
        ("trace items dropped, queue full", f"{result['traces_dropped_queue_full']:.0f}"),
        ("queue length at the end", ", ".join(f"{k} {v:.0f}" for k, v in result["queue_length"].items())),
        ("entries received", f"{result['entries_received']:.0f}"),
        ("peak RSS (MiB)", f"{result['peak_rss_mib']} (goal {args.limit_mib:.0f})"),
        ("RSS at the end (MiB)", f"{result['rss_at_end_mib']}"),
    ]
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    print(f"written to {args.out}")
    if not filled or not enough:
        print(
            f"not the case asked for: queue filled={filled}, series {result['series']} < {args.min_series}"
            if not enough
            else f"not the case asked for: queue filled={filled}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
