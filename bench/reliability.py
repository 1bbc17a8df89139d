"""The figures for the README's reliability section, from one run anyone can repeat.

    .venv/bin/python bench/reliability.py                 # ~5 minutes on 2 cores
    .venv/bin/python bench/reliability.py --seconds 20 --fuzz-examples 20000   # a quick look

Scenarios, each against `python -m bridge` as a subprocess exporting to a real OTLP sink:
* load: N concurrent ALS streams for --seconds (traces + a metrics pipeline to the prometheus
  exporter, whose scrape gives the drop counters), then the same without the metrics pipeline;
* backend outage of --outage seconds under load, in-memory queue and `storage: file`;
* kill -9 during an outage, restart on the same queue directory, backend back;
* SIGTERM under load: every entry whose stream was acknowledged must arrive;
* fuzzing: `bench/fuzz.py`'s random loop over every target.
"Lost" is acknowledged-but-absent (by request id) where the design promises delivery, and
sent - delivered - counted drops (unaccounted) everywhere. Results also go to
bench/results/reliability.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.reliability.accounting import settle  # noqa: E402
from tests.reliability.bridge_process import (  # noqa: E402
    BridgeProcess,
    bridge_config,
    bridge_process,
    span_request_ids,
)
from tests.support.loadgen import LoadResult, LoadSpec, run_load, run_load_sync  # noqa: E402
from tests.support.otlp_sink import OTLPSink  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "reliability.json"
_RETRY_FOREVER = {"max_elapsed_time": "0s", "max_interval": "1s"}


def _rss_watch(bridge: BridgeProcess, samples: list[int], stop: threading.Event) -> threading.Thread:
    def run() -> None:
        while not stop.wait(0.5):
            try:
                samples.append(bridge.rss_kib())
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def load(args: argparse.Namespace, workdir: Path, metrics_pipeline: bool) -> dict[str, Any]:
    """Sustained load; entries/s, RSS start/peak/end, and the books."""
    with OTLPSink() as sink:
        config = bridge_config(sink.grpc_endpoint)
        if not metrics_pipeline:
            del config["service"]["pipelines"]["metrics"], config["exporters"]["prometheus"]
        with bridge_process(config, workdir) as bridge:
            samples: list[int] = []
            stop = threading.Event()
            _rss_watch(bridge, samples, stop)
            spec = LoadSpec(f"127.0.0.1:{bridge.als_port}", streams=args.streams, duration=args.seconds)
            result = run_load_sync(spec)
            stop.set()
            if metrics_pipeline:
                books = asdict(settle(bridge, sink, result.entries_sent))
            else:
                sink.wait_for(lambda: len(sink.spans()) >= result.entries_sent, 60)
                books = {"sent": result.entries_sent, "at_sink": len(sink.spans())}
            code, took = bridge.terminate()
    return {
        "metrics_pipeline": metrics_pipeline,
        "streams": args.streams,
        "seconds": result.seconds,
        "entries_sent": result.entries_sent,
        "entries_per_second": round(result.entries_sent / max(result.seconds, 1e-9)),
        "stream_errors": dict(result.errors),
        "rss_mib": {
            "start": round(samples[0] / 1024, 1) if samples else 0,
            "peak": round(max(samples, default=0) / 1024, 1),
            "end": round(samples[-1] / 1024, 1) if samples else 0,
        },
        "books": books,
        "exit": {"code": code, "seconds": round(took, 2)},
    }


def outage(args: argparse.Namespace, workdir: Path, persistent: bool) -> dict[str, Any]:
    """The backend is down for `--outage` seconds in the middle of a load; retries never give up."""
    queue: dict[str, Any] = {"storage": "file", "directory": str(workdir / "queue")} if persistent else {}
    with OTLPSink() as sink:
        config = bridge_config(sink.grpc_endpoint, queue=queue, retry=_RETRY_FOREVER)
        with bridge_process(config, workdir) as bridge:
            spec = LoadSpec(f"127.0.0.1:{bridge.als_port}", streams=60, duration=args.outage + 10, tag="out")
            sink_down_later(sink, start=5, seconds=args.outage)
            result = run_load_sync(spec)
            books = settle(bridge, sink, result.entries_sent, timeout=90)
            code, _ = bridge.terminate()
    return {
        "persistent_queue": persistent,
        "outage_seconds": args.outage,
        "entries_sent": result.entries_sent,
        "entries_acked": result.entries_acked,
        "books": asdict(books),
        "lost_unaccounted": books.unaccounted,
        "exit_code": code,
    }


def sink_down_later(sink: OTLPSink, start: float, seconds: float) -> threading.Thread:
    def run() -> None:
        time.sleep(start)
        sink.set_down(True)
        time.sleep(seconds)
        sink.set_down(False)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def kill9_restart(args: argparse.Namespace, workdir: Path, persistent: bool) -> dict[str, Any]:
    """Acknowledged entries sit in the queue (backend down); kill -9; restart; backend up."""
    queue: dict[str, Any] = {"storage": "file", "directory": str(workdir / "queue")} if persistent else {}
    with OTLPSink() as sink:
        config = bridge_config(sink.grpc_endpoint, queue=queue, retry=_RETRY_FOREVER)
        sink.set_down(True)
        with bridge_process(config, workdir) as bridge:
            spec = LoadSpec(
                f"127.0.0.1:{bridge.als_port}", streams=40, duration=8, messages_per_stream=2, tag="k9"
            )
            result = run_load_sync(spec)
            time.sleep(1.0)  # the batch processor hands its last batch to the queue
            bridge.kill()
        sink.set_down(False)
        with bridge_process(config, workdir) as restarted:
            sink.wait_for(lambda: len(sink.spans()) >= result.entries_acked, timeout=30)
            restarted.terminate()
        arrived = set(span_request_ids(sink.spans()))
    lost = result.acked_request_ids - arrived
    return {
        "persistent_queue": persistent,
        "entries_acked_before_kill": result.entries_acked,
        "delivered_after_restart": len(arrived & result.acked_request_ids),
        "acknowledged_lost": len(lost),
        "duplicates": len(sink.spans()) - len(arrived),
    }


async def _sigterm_under_load(bridge: BridgeProcess) -> tuple[LoadResult, int, float]:
    spec = LoadSpec(
        f"127.0.0.1:{bridge.als_port}",
        streams=120,
        duration=40,
        interval=0.3,
        messages_per_stream=3,
        tag="term",
    )
    task = asyncio.create_task(run_load(spec))
    await asyncio.sleep(6)
    code, took = await asyncio.to_thread(bridge.terminate)
    return await asyncio.wait_for(task, 30), code, took


def sigterm(workdir: Path) -> dict[str, Any]:
    with OTLPSink() as sink, bridge_process(bridge_config(sink.grpc_endpoint), workdir) as bridge:
        result, code, took = asyncio.run(_sigterm_under_load(bridge))
        arrived = set(span_request_ids(sink.spans()))
    return {
        "entries_sent": result.entries_sent,
        "entries_acked": result.entries_acked,
        "acknowledged_lost": len(result.acked_request_ids - arrived),
        "unacknowledged_that_arrived_anyway": len(
            (result.sent_request_ids - result.acked_request_ids) & arrived
        ),
        "exit_code": code,
        "exit_seconds": round(took, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60, help="load duration (default 60)")
    parser.add_argument("--streams", type=int, default=300)
    parser.add_argument("--outage", type=float, default=15, help="backend outage seconds (default 15)")
    parser.add_argument("--fuzz-examples", type=int, default=100_000)
    args = parser.parse_args(argv)
    logging.getLogger("bridge").setLevel(logging.CRITICAL)
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "settings": vars(args),
    }
    with tempfile.TemporaryDirectory(prefix="als-bridge-reliability-") as tmp:

        def step(name: str, fn: Any, *fn_args: Any) -> None:
            path = Path(tmp, name)
            path.mkdir()
            started = time.monotonic()
            report[name] = fn(*fn_args, path) if fn_args else fn(path)
            print(f"{name} ({time.monotonic() - started:.0f} s): {json.dumps(report[name])}", flush=True)

        step("load_with_metrics", lambda p: load(args, p, True))
        step("load_traces_only", lambda p: load(args, p, False))
        step("outage_memory_queue", lambda p: outage(args, p, False))
        step("outage_file_queue", lambda p: outage(args, p, True))
        step("kill9_memory_queue", lambda p: kill9_restart(args, p, False))
        step("kill9_file_queue", lambda p: kill9_restart(args, p, True))
        step("sigterm_under_load", sigterm)
    report["fuzz"] = fuzz(args.fuzz_examples)
    print(f"fuzz: {json.dumps(report['fuzz'])}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2))
    print(f"written to {RESULTS}")
    return 0


def fuzz(examples: int) -> dict[str, Any]:
    """`bench/fuzz.py` in a process of its own, so its peak RSS is the fuzzers' alone."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "fuzz.json")
        command = [
            sys.executable,
            str(ROOT / "bench" / "fuzz.py"),
            "--examples",
            str(examples),
            "--json",
            str(out),
        ]
        subprocess.run(command, check=False, capture_output=True, timeout=3600)
        result: dict[str, Any] = json.loads(out.read_text())
    result.pop("first_tracebacks", None)
    return result


if __name__ == "__main__":
    sys.exit(main())
