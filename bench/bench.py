"""End-to-end benchmark: Envoy-like ALS load in, the bridge as users run it, OTLP out to a sink.

    .venv/bin/python -m bench.bench                  # full run (~1 min), table + bench/results/bench.json
    .venv/bin/python -m bench.bench --quick          # ~20 s
    .venv/bin/python -m bench.bench --batch 100      # Envoy tuned to 100-entry messages
    .venv/bin/python -m bench.bench --workers 2      # service.workers: 2 (SO_REUSEPORT)
    .venv/bin/python -m bench.bench --minimal        # the config a user writes first: no batch processor
    .venv/bin/python -m bench.bench --saturation     # minimal config, 8 streams, 100 and 16 entries/message,
                                                     # each next to the SDK path in the same run
    .venv/bin/python -m bench.bench --sampling off,100,10  # one run per setting, side by side

Three processes besides this one, each started here and stopped by its own PID:
* `bench.sink`: a fast OTLP/gRPC sink (counts spans, samples the delay, keeps the bridge's own
  counters from its metrics exports);
* `python -m bridge --config <generated>`: envoy_als -> batch -> otlp (traces) and the metrics
  pipeline with every family on -> otlp + prometheus, defaults otherwise (gzip included);
* `bench.loadgen`: many streams of HTTP, gRPC and TCP entries with mx metadata of many workloads.

Measured on the bridge process tree (/proc, utime + stime, children included): CPU seconds over
the window from the first entry sent to the last span exported, peak RSS (VmHWM). Entries/s is
entries exported over that window; on a small machine the generator and the sink share the
cores, so entries per CPU-second of the bridge is the number to compare across machines.
The same run converts a similar corpus the ordinary SDK way (`bench.baseline`) and prints the
ratio. Every entry sent must be accounted for: exported as a span, or counted as dropped by the
bridge (`als_bridge_entries_dropped_total`, `als_bridge_dropped_items_total`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/bench.py` as well as `python -m bench.bench`
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results" / "bench.json"
_CLK_TCK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _config(als_port: int, sink_port: int, prom_port: int, args: argparse.Namespace) -> str:
    workers = f"  workers: {args.workers}\n" if args.workers > 1 else ""
    if args.minimal:
        return _minimal_config(als_port, sink_port, args)
    percentage = getattr(args, "sampling_percentage", None)
    sampler, sampled = "", ""
    if percentage is not None:  # the probabilistic_sampler in the traces pipeline
        sampler = f"  probabilistic_sampler:\n    sampling_percentage: {percentage}\n"
        sampled = "probabilistic_sampler, "
    return f"""\
receivers:
  envoy_als:
    endpoint: 127.0.0.1:{als_port}
    reporters: both
    metrics:
      interval: {args.metrics_interval}
processors:
  batch:
{sampler}exporters:
  otlp:
    endpoint: 127.0.0.1:{sink_port}
    tls:
      insecure: true
    compression: {args.compression}
  prometheus:
    endpoint: 127.0.0.1:{prom_port}
service:
{workers}  pipelines:
    traces:
      receivers: [envoy_als]
      processors: [{sampled}batch]
      exporters: [otlp]
    metrics:
      receivers: [envoy_als]
      processors: [batch]
      exporters: [otlp, prometheus]
  telemetry:
    logs:
      level: warn
"""


def _minimal_config(als_port: int, sink_port: int, args: argparse.Namespace) -> str:
    """What a new user writes first: no `batch` processor, one `otlp` exporter for traces and
    metrics, every other setting at its default (gzip, the exporter's queue and its batching)."""
    return f"""\
receivers:
  envoy_als:
    endpoint: 127.0.0.1:{als_port}
    reporters: both
    metrics:
      interval: {args.metrics_interval}
exporters:
  otlp:
    endpoint: 127.0.0.1:{sink_port}
    tls:
      insecure: true
    compression: {args.compression}
service:
  pipelines:
    traces:
      receivers: [envoy_als]
      exporters: [otlp]
    metrics:
      receivers: [envoy_als]
      exporters: [otlp]
  telemetry:
    logs:
      level: warn
"""


def _tree(pid: int) -> list[int]:
    """`pid` and its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its descendants, live ones and reaped ones."""
    total = 0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / _CLK_TCK


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name (comm) of `pid` and its descendants: where the CPU went
    (the Python main thread, gRPC's C-core pollers, the exporter threads)."""
    out: dict[str, float] = {}
    for p in _tree(pid):
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                raw = Path(f"/proc/{p}/task/{tid}/stat").read_text()
            except OSError:
                continue
            name = raw.partition("(")[2].rpartition(")")[0]
            fields = raw.rpartition(")")[2].split()
            out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _CLK_TCK
    return out


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(largest, sum) VmHWM over the process tree, MiB."""
    values = []
    for p in _tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    values.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return (max(values, default=0.0), sum(values))


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the bridge exited with {proc.returncode} before listening")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    """SIGTERM this one process (by its PID), then SIGKILL it if it does not exit in time."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return int(proc.returncode)


def _profile(args: argparse.Namespace, pid: int) -> subprocess.Popen[bytes] | None:
    """With --profile FILE: py-spy samples the bridge (all its threads, native frames off)
    while the load runs; FILE gets collapsed stacks (`raw`) or, ending in .svg, a flame graph."""
    if not args.profile:
        return None
    fmt = "flamegraph" if str(args.profile).endswith(".svg") else "raw"
    spy = str(Path(sys.executable).parent / "py-spy")
    cmd = [
        spy,
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--gil",
        "--format",
        fmt,
        "-o",
        str(args.profile),
    ]
    cmd += ["--subprocesses"] if args.workers > 1 else []
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index] / 1e6  # ms


def _dropped(counters: dict[str, float]) -> dict[str, float]:
    """Entries the bridge says it did not export: dropped at the receiver, or trace items
    dropped or failed at the exporter."""
    out: dict[str, float] = {}
    for key, value in counters.items():
        name = key.partition("{")[0]
        if name == "als_bridge_entries_dropped_total" or (
            name in ("als_bridge_dropped_items_total", "als_bridge_export_failed_items_total")
            and "signal=traces" in key
        ):
            out[key] = value
    return out


def _sampled_out(counters: dict[str, float]) -> float:
    """Spans a sampler decided not to export (`als_bridge_spans_sampled_total`): entries the
    bridge finished with as designed, their metrics recorded."""
    return sum(
        value
        for key, value in counters.items()
        if key.partition("{")[0] == "als_bridge_spans_sampled_total" and "decision=not_sampled" in key
    )


def start_listener(cmd: list[str], what: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start a helper that prints "PORT <n>" once it listens (`bench.sink`, `bench.floor`'s
    server); its process and port. A helper that fails to start is stopped, by its PID."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if not line.startswith("PORT "):
        _stop(proc)
        raise RuntimeError(f"{what} did not start: {line!r}")
    return proc, int(line.split()[1])


def run_bridge(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stats_file = work / "sink.json"
    sink, sink_port = start_listener(
        [py, "-m", "bench.sink", "--stats", str(stats_file), "--max-seconds", str(args.timeout + 60)],
        "the sink",
    )
    bridge: subprocess.Popen[bytes] | None = None
    try:
        als_port = _free_port()
        config = work / "bridge.yaml"
        config.write_text(_config(als_port, sink_port, _free_port(), args))
        bridge = subprocess.Popen([py, "-m", "bridge", "--config", str(config)], cwd=ROOT, env=env)
        _wait_port(als_port, bridge)
        time.sleep(0.5 if args.workers == 1 else 2.0)  # every worker listening
        load_out = work / "load.json"
        load_cmd = [
            py,
            "-m",
            "bench.loadgen",
            "--target",
            f"127.0.0.1:{als_port}",
            "--entries",
            str(args.entries),
            "--duration",
            str(args.duration),
            "--streams",
            str(args.streams),
            "--workloads",
            str(args.workloads),
            "--batch",
            str(args.batch),
            "--rate",
            str(args.rate),
            "--out",
            str(load_out),
        ]
        cpu0 = cpu_seconds(bridge.pid)
        threads0 = thread_cpu(bridge.pid)
        t0 = time.time_ns()
        loadgen = subprocess.Popen(load_cmd, cwd=ROOT, env=env)
        spy = _profile(args, bridge.pid)
        try:
            loadgen.wait(args.duration + 60)
        finally:
            _stop(loadgen)
            if spy is not None:  # py-spy writes its file on SIGINT
                spy.send_signal(signal.SIGINT)
                try:
                    spy.wait(60)
                finally:
                    _stop(spy)
        load = _read_json(load_out)
        # Drained when every acknowledged entry's span arrived, or nothing arrived for 3 s.
        expected = load.get("entries_acked", 0)
        deadline = time.monotonic() + args.timeout
        last, last_change = -1, time.monotonic()
        while time.monotonic() < deadline:
            spans = _read_json(stats_file).get("spans", 0)
            if spans >= expected:
                break
            if spans != last:
                last, last_change = spans, time.monotonic()
            elif time.monotonic() - last_change > 3:
                break
            time.sleep(0.1)
        cpu1 = cpu_seconds(bridge.pid)
        threads1 = thread_cpu(bridge.pid)
        rss_max, rss_sum = peak_rss_mib(bridge.pid)
        bridge_exit = _stop(bridge)
        bridge = None
    finally:
        if bridge is not None:
            _stop(bridge)
        _stop(sink)
    stats = _read_json(stats_file)
    delays = sorted(stats.get("delays_ns", []))
    exported = stats.get("spans", 0)
    window_s = max((stats.get("last_receipt_ns", 0) - t0) / 1e9, 1e-9)
    cpu = cpu1 - cpu0
    dropped = _dropped(stats.get("bridge_counters", {}))
    sent = load.get("entries_sent", 0)
    sampled_out = _sampled_out(stats.get("bridge_counters", {}))
    # one span per entry here (reporters: both): an entry is delivered when its span was
    # exported or a sampler decided against it (its metrics are recorded either way)
    delivered = exported + sampled_out
    return {
        "sampling_percentage": getattr(args, "sampling_percentage", None),
        "entries_sent": sent,
        "entries_acked": expected,
        "spans_exported": exported,
        "spans_sampled_out": sampled_out,
        "entries_delivered": delivered,
        "entries_dropped": dropped,
        # sent, neither delivered (exported or sampled out) nor counted as dropped: must be 0
        "entries_lost": max(sent - int(delivered) - int(sum(dropped.values())), 0),
        "accounted": delivered + sum(dropped.values()) >= sent,
        "streams_failed": load.get("streams_failed", 0),
        "entries_per_message": [load.get("entries_per_message_min"), load.get("entries_per_message_max")],
        "window_seconds": round(window_s, 2),
        "entries_per_second": round(exported / window_s, 1),
        "cpu_seconds": round(cpu, 2),
        "cpu_seconds_per_1k_entries": round(cpu / max(exported, 1) * 1000, 4),
        "entries_per_cpu_second": round(exported / cpu, 1) if cpu > 0 else 0.0,  # delivered
        "accepted_per_cpu_second": round(expected / cpu, 1) if cpu > 0 else 0.0,
        "delivered_entries_per_cpu_second": round(delivered / cpu, 1) if cpu > 0 else 0.0,
        "delay_ms_p50": round(_percentile(delays, 0.50), 1),
        "delay_ms_p99": round(_percentile(delays, 0.99), 1),
        "delay_samples": len(delays),
        "peak_rss_mib": round(rss_max, 1),
        "peak_rss_mib_all_workers": round(rss_sum, 1),
        "metric_points_last_export": stats.get("metric_points_last_export", {}),
        "bridge_exit_code": bridge_exit,
        "cpu_seconds_by_thread": {
            name: round(t - threads0.get(name, 0.0), 2)
            for name, t in sorted(threads1.items(), key=lambda kv: -kv[1])
            if t - threads0.get(name, 0.0) >= 0.01
        },
    }


def _table(report: dict[str, Any]) -> str:
    b, base = report["bridge"], report.get("baseline") or {}
    rows = [
        ("entries sent / exported", f"{b['entries_sent']} / {b['spans_exported']}"),
        (
            "entries dropped (counted) / lost",
            f"{sum(b['entries_dropped'].values()):.0f} / {b['entries_lost']}",
        ),
        ("entries per message", f"{b['entries_per_message'][0]}-{b['entries_per_message'][1]}"),
        ("bridge entries/s (wall)", f"{b['entries_per_second']:.0f}"),
        ("bridge CPU s per 1k entries", f"{b['cpu_seconds_per_1k_entries']:.4f}"),
        ("bridge entries per CPU-second (delivered)", f"{b['entries_per_cpu_second']:.0f}"),
        ("bridge entries per CPU-second (accepted)", f"{b['accepted_per_cpu_second']:.0f}"),
        ("delay p50 / p99 (ms)", f"{b['delay_ms_p50']} / {b['delay_ms_p99']}"),
        ("peak RSS (MiB)", f"{b['peak_rss_mib']} (all processes {b['peak_rss_mib_all_workers']})"),
    ]
    if base:
        rows.append(("SDK baseline entries per CPU-second", f"{base['entries_per_cpu_second']:.0f}"))
        rows.append(("ratio bridge / SDK", f"{report['ratio_vs_sdk']:.1f}x"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """The run's settings (also how `bench.scaling` sets up its runs, so the two cannot drift)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run (~20 s): fewer entries and streams")
    parser.add_argument("--entries", type=int, default=600_000, help="stop after this many entries")
    parser.add_argument("--duration", type=float, default=40.0, help="... or after this many seconds")
    parser.add_argument("--rate", type=float, default=0.0, help="entries/s to offer (0: as fast as taken)")
    parser.add_argument("--streams", type=int, default=48, help="concurrent ALS streams (Envoy workers)")
    parser.add_argument("--workloads", type=int, default=60, help="distinct workloads (nodes and peers)")
    parser.add_argument("--batch", type=int, default=0, help="entries per message (0: fill 16 KiB)")
    parser.add_argument("--workers", type=int, default=1, help="service.workers")
    parser.add_argument("--compression", choices=("gzip", "none"), default="gzip")
    parser.add_argument(
        "--metrics-interval", default="15s", help="receivers.envoy_als.metrics.interval (its default: 15s)"
    )
    parser.add_argument("--minimal", action="store_true", help="no batch processor, one otlp exporter")
    parser.add_argument(
        "--saturation",
        action="store_true",
        help="the minimal config, 8 streams, at 100 and 16 entries/message, each with its SDK path",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the SDK baseline")
    parser.add_argument("--timeout", type=float, default=60.0, help="longest wait for the export to drain")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--profile", type=Path, help="py-spy the bridge during the load into this file")
    parser.add_argument(
        "--sampling",
        default="",
        help="comma-separated probabilistic_sampler percentages, one bridge run each, side by side "
        "('off': no sampler), e.g. off,100,10; skips the SDK baseline",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.entries = min(args.entries, 120_000)
        args.duration = min(args.duration, 8.0)
        args.streams = min(args.streams, 16)
    return args


SATURATION_CASES = (100, 16)  # entries per message: Envoy tuned to large batches, and its default


def _report(args: argparse.Namespace, **figures: Any) -> dict[str, Any]:
    """What every mode writes: the machine and the settings of the run next to its figures, so a
    result file says what produced it."""
    return {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        **figures,
    }


def _out(args: argparse.Namespace, name: str) -> Path:
    """A mode's own file beside the default results, unless `--out` names one."""
    return args.out.with_name(name) if args.out == RESULTS else args.out


def _write(report: dict[str, Any], out: Path, table: str) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(table)
    print(f"written to {out}")


def _saturation_table(cases: list[dict[str, Any]]) -> str:
    head = (
        "| entries/msg | delivered per CPU-s | accepted per CPU-s | SDK path per CPU-s | delivered / SDK "
        "| sent | delivered | dropped (counted) | lost |"
    )
    rows = [head, "|" + "---:|" * 9]
    for case in cases:
        b, base = case["bridge"], case["baseline"]
        rows.append(
            f"| {case['batch']} | {b['entries_per_cpu_second']:,.0f} | {b['accepted_per_cpu_second']:,.0f} "
            f"| {base['entries_per_cpu_second']:,.0f} | {case['ratio_vs_sdk']:.2f}x | {b['entries_sent']:,} "
            f"| {b['spans_exported']:,} | {sum(b['entries_dropped'].values()):,.0f} | {b['entries_lost']:,} |"
        )
    return "\n".join(rows)


def saturation(args: argparse.Namespace) -> int:
    """The minimal config (no batch processor), 8 streams flat out, at 100 and 16 entries per
    message; each case next to the SDK path over a corpus of the same message size, measured
    right after it in the same run."""
    from bench.baseline import measure

    args.minimal, args.streams = True, 8
    cases = []
    for batch in SATURATION_CASES:
        args.batch = batch
        with tempfile.TemporaryDirectory(prefix="als-bench-") as tmp:
            bridge = run_bridge(args, Path(tmp))
        base = measure(streams=8, messages=12, workloads=args.workloads, batch=batch)
        ratio = round(bridge["entries_per_cpu_second"] / base["entries_per_cpu_second"], 2)
        cases.append({"batch": batch, "bridge": bridge, "baseline": base, "ratio_vs_sdk": ratio})
        delivered, sdk = bridge["entries_per_cpu_second"], base["entries_per_cpu_second"]
        lost = bridge["entries_lost"]
        print(
            f"{batch} entries/message: {delivered:.0f} delivered per CPU-s, SDK {sdk:.0f}, lost {lost}",
            flush=True,
        )
    _write(_report(args, saturation=cases), _out(args, "saturation.json"), _saturation_table(cases))
    return 0 if all(case["bridge"]["accounted"] for case in cases) else 1


def _sampling_table(runs: dict[str, dict[str, Any]]) -> str:
    rows = [("sampling", "exported", "sampled out", "CPU s", "delivered entries per CPU-s", "peak RSS MiB")]
    for label, b in runs.items():
        rows.append(
            (
                label,
                str(b["spans_exported"]),
                f"{b['spans_sampled_out']:.0f}",
                f"{b['cpu_seconds']:.1f}",
                f"{b['delivered_entries_per_cpu_second']:.0f}",
                f"{b['peak_rss_mib']:.0f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows)


def _sampling_runs(args: argparse.Namespace) -> int:
    """One bridge run per `--sampling` setting, in one invocation, so the figures share a
    machine state: what a sampler saves is what it does not encode and export."""
    runs: dict[str, dict[str, Any]] = {}
    for setting in [s.strip() for s in args.sampling.split(",") if s.strip()]:
        args.sampling_percentage = None if setting == "off" else float(setting)
        with tempfile.TemporaryDirectory(prefix="als-bench-") as tmp:
            runs["no sampler" if setting == "off" else f"{setting}%"] = run_bridge(args, Path(tmp))
    _write(_report(args, sampling=runs), _out(args, "bench-sampling.json"), _sampling_table(runs))
    return 0 if all(run["accounted"] for run in runs.values()) else 1


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.saturation:
        return saturation(args)
    if args.sampling:
        return _sampling_runs(args)
    with tempfile.TemporaryDirectory(prefix="als-bench-") as tmp:
        bridge = run_bridge(args, Path(tmp))
    report = _report(args, bridge=bridge)
    if not args.no_baseline:
        from bench.baseline import measure

        size = (8, 4) if args.quick else (24, 12)
        base = measure(streams=size[0], messages=size[1], workloads=args.workloads, batch=args.batch)
        report["baseline"] = base
        report["ratio_vs_sdk"] = round(bridge["entries_per_cpu_second"] / base["entries_per_cpu_second"], 2)
    _write(report, args.out, _table(report))
    return 0 if bridge["accounted"] else 1


if __name__ == "__main__":
    sys.exit(main())
