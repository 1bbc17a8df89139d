"""The floor under `bench.bench`: what the parts a bridge cannot skip cost here, per entry.

    .venv/bin/python -m bench.floor            # ~30 s: a table + bench/results/floor.json
    .venv/bin/python -m bench.floor --quick    # ~5 s

Why: the issue's goal is 60k entries per CPU-second end to end, 16.7 µs of CPU per entry for
everything. Before asking how far the conversion can shrink, this measures what is spent around
it, with the same load generator, corpus and sink as `bench.bench` and the bridge's own code for
the ends:

* receive: a grpc.aio server in its own process, with the `envoy_als` receiver's gRPC settings,
  that takes the generator's ALS streams as raw bytes and does nothing else with them;
* receive + parse: the same, plus upb's parse of each message (the receiver's first step);
* export: the OTLP trace requests the bridge makes of a corpus like the load's (its own decode,
  identity, spans and wire encoder, in batches of the batch processor's 8192 spans), sent to
  `bench.sink` by the bridge's `otlp` exporter, once with `compression: none` and once with
  `gzip`: CPU of the sending process, gRPC's threads included;
* conversion: what `bench.stages` measures in one process (view, identity, spans, metrics and
  the wire encoding; the parse is counted above).

Then the budget: the goal's 16.7 µs less receive + parse and export is what the conversion may
cost to meet it; the report sets that beside what it costs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/floor.py` as well as `python -m bench.floor`
    sys.path.insert(0, str(ROOT))

from bench.bench import _read_json, _stop, start_listener  # noqa: E402
from bench.stages import corpus, views_of  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "floor.json"
GOAL_ENTRIES_PER_CPU_SECOND = 60_000
TRACE_BATCH = 8192  # the batch processor's send_batch_size default


# --- receive: the server, run as `python -m bench.floor --serve MODE --stats FILE` ----------------


async def _serve(mode: str, stats_file: Path) -> None:
    """Serve StreamAccessLogs until SIGTERM; write what was taken and the CPU it cost."""
    import grpc

    from bridge.receivers.envoy_als import _protos

    parse = mode == "parse"
    message_type = _protos.StreamAccessLogsMessage
    seen = {"messages": 0, "entries": 0, "cpu_first": 0.0, "cpu_last": 0.0}

    async def stream(requests: Any, context: Any) -> Any:
        async for raw in requests:
            now = time.process_time()  # every thread of this process: gRPC's pollers too
            if not seen["messages"]:
                seen["cpu_first"] = now
            seen["messages"] += 1
            if parse:
                message = message_type.FromString(raw)
                kind = message.WhichOneof("log_entries")
                logs = message.http_logs if kind == "http_logs" else message.tcp_logs
                seen["entries"] += len(logs.log_entry)
            seen["cpu_last"] = time.process_time()
        return _protos.StreamAccessLogsResponse()

    handler = grpc.stream_unary_rpc_method_handler(
        stream,
        request_deserializer=None,
        response_serializer=_protos.StreamAccessLogsResponse.SerializeToString,
    )
    # The receiver's flow-control setting (receiver.py), which decides how much is in flight;
    # its other options (message size caps, SO_REUSEPORT) cost nothing per message.
    server = grpc.aio.server(options=[("grpc.http2.bdp_probe", 0)])
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(_protos.SERVICE_NAME, {_protos.METHOD_NAME: handler}),)
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)
    stats_file.write_text(json.dumps(seen))


def measure_receive(mode: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Microseconds of server CPU per entry for the generator's load, `mode` "receive" or "parse"."""
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    stats_file, load_out = work / f"{mode}.json", work / f"load-{mode}.json"
    cmd = [py, "-m", "bench.floor", "--serve", mode, "--stats", str(stats_file)]
    server, port = start_listener(cmd, f"the {mode} server")
    try:
        load_cmd = [py, "-m", "bench.loadgen", "--target", f"127.0.0.1:{port}"]
        load_cmd += ["--entries", str(args.entries), "--streams", str(args.streams)]
        load_cmd += ["--workloads", str(args.workloads), "--batch", str(args.batch), "--out", str(load_out)]
        subprocess.run(load_cmd, cwd=ROOT, env=env, check=True, timeout=300)
    finally:
        _stop(server)
    seen, load = _read_json(stats_file), _read_json(load_out)
    entries = int(load.get("entries_acked", 0))
    if mode == "parse" and seen.get("entries") != entries:
        raise RuntimeError(f"the parse server counted {seen.get('entries')} entries, {entries} were acked")
    cpu = float(seen["cpu_last"]) - float(seen["cpu_first"])
    return {
        "entries": entries,
        "messages": seen["messages"],
        "cpu_seconds": round(cpu, 3),
        "us_per_entry": round(cpu / max(entries, 1) * 1e6, 2),
    }


# --- export: the bridge's otlp exporter sending the bridge's own requests ------------------------


def trace_requests(streams: int, workloads: int, messages: int, batch: int) -> tuple[list[Any], int]:
    """The OTLP requests the bridge makes of a `bench.corpus` load, and the entries they hold."""
    from bridge.identity import IdentityResolver, workload_from_node
    from bridge.otlp import TraceEncoder
    from bridge.receivers.envoy_als import _protos
    from bridge.spans import SpanBuilder

    resolver = IdentityResolver([])
    build = SpanBuilder("both").build
    items: list[Any] = []
    entries = 0
    for node, raw in corpus(streams, workloads, messages, batch):
        local = workload_from_node(node)
        for view in views_of(_protos.StreamAccessLogsMessage.FromString(raw)):
            entries += 1
            items.extend(build(view, resolver.resolve(view, local)).spans)
    encode_traces = TraceEncoder().encode
    requests = [encode_traces(items[i : i + TRACE_BATCH]) for i in range(0, len(items), TRACE_BATCH)]
    return requests, entries


def measure_export(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Microseconds of this process's CPU per entry to send the requests, by compression."""
    from bridge.exporters.base import Signal
    from bridge.exporters.otlp.config import OTLPExporterConfig
    from bridge.exporters.otlp.exporter import OTLPExporter
    from bridge.exporters.shared_config import TLSClientConfig

    requests, entries = trace_requests(args.corpus_streams, args.workloads, args.corpus_messages, args.batch)
    payload = sum(len(r.payload) for r in requests)
    rounds = max(1, args.entries // max(entries, 1))
    stats_file = work / "sink.json"
    sink, sink_port = start_listener(
        [sys.executable, "-m", "bench.sink", "--stats", str(stats_file), "--max-seconds", "600"], "the sink"
    )
    spans = sum(r.items for r in requests)
    out: dict[str, Any] = {"otlp_bytes_per_entry": round(payload / entries, 1), "entries": entries * rounds}
    try:
        for compression in ("none", "gzip"):
            config = OTLPExporterConfig(
                endpoint=f"127.0.0.1:{sink_port}",
                tls=TLSClientConfig(insecure=True),
                compression=compression,  # type: ignore[arg-type]
                timeout=60.0,
            )
            exporter = OTLPExporter("otlp", config)
            try:
                exporter.send(Signal.TRACES, requests[0])  # connected before the clock starts
                t0 = time.process_time()
                for _ in range(rounds):
                    for request in requests:
                        exporter.send(Signal.TRACES, request)
                cpu = time.process_time() - t0
            finally:
                exporter.shutdown()
            out[f"{compression}_us_per_entry"] = round(cpu / (entries * rounds) * 1e6, 2)
    finally:
        _stop(sink)  # it writes its counts as it exits
    out["spans_sent"] = 2 * (rounds * spans + requests[0].items)
    out["spans_received"] = _read_json(stats_file).get("spans", 0)
    return out


# --- the report ---------------------------------------------------------------------------------


def budget(receive: dict[str, Any], export: dict[str, Any], conversion_us: float) -> dict[str, float]:
    """What the goal leaves for the conversion once the floor is paid, per compression."""
    goal_us = 1e6 / GOAL_ENTRIES_PER_CPU_SECOND
    out = {"goal_us_per_entry": round(goal_us, 2), "conversion_us_per_entry": conversion_us}
    for compression in ("none", "gzip"):
        floor = receive["us_per_entry"] + export[f"{compression}_us_per_entry"]
        out[f"floor_{compression}_us_per_entry"] = round(floor, 2)
        out[f"left_for_conversion_{compression}_us"] = round(goal_us - floor, 2)
        # the best a bridge with this floor and today's conversion would do
        out[f"ceiling_{compression}_entries_per_cpu_second"] = round(1e6 / (floor + conversion_us))
    return out


def _table(report: dict[str, Any]) -> str:
    r, p, e, b = report["receive"], report["receive_parse"], report["export"], report["budget"]
    rows = [
        ("receive (gRPC, raw bytes)", f"{r['us_per_entry']:.2f}"),
        ("receive + parse", f"{p['us_per_entry']:.2f}"),
        (
            f"export, none ({e['otlp_bytes_per_entry']:.0f} OTLP bytes per entry)",
            f"{e['none_us_per_entry']:.2f}",
        ),
        ("export, gzip", f"{e['gzip_us_per_entry']:.2f}"),
        ("floor, none / gzip", f"{b['floor_none_us_per_entry']:.2f} / {b['floor_gzip_us_per_entry']:.2f}"),
        (
            f"goal ({GOAL_ENTRIES_PER_CPU_SECOND} entries per CPU-second)",
            f"{b['goal_us_per_entry']:.2f}",
        ),
        (
            "left for the conversion, none / gzip",
            f"{b['left_for_conversion_none_us']:.2f} / {b['left_for_conversion_gzip_us']:.2f}",
        ),
        ("conversion now (bench.stages)", f"{b['conversion_us_per_entry']:.2f}"),
        (
            "floor + conversion: entries per CPU-second, none / gzip",
            f"{b['ceiling_none_entries_per_cpu_second']} / {b['ceiling_gzip_entries_per_cpu_second']}",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    lines = [f"{'µs of CPU per entry':<{width}}"]
    return "\n".join(lines + [f"{k:<{width}}  {v}" for k, v in rows])


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short run (~15 s)")
    parser.add_argument("--entries", type=int, default=300_000, help="entries per measurement")
    parser.add_argument("--streams", type=int, default=48, help="concurrent ALS streams, as bench.bench")
    parser.add_argument("--workloads", type=int, default=60)
    parser.add_argument("--batch", type=int, default=0, help="entries per message (0: fill 16 KiB)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--serve", choices=("receive", "parse"), help=argparse.SUPPRESS)
    parser.add_argument("--stats", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.corpus_streams, args.corpus_messages = 40, 30  # bench.stages' corpus
    if args.quick:
        args.entries = min(args.entries, 40_000)
        args.streams = min(args.streams, 16)
        args.corpus_streams, args.corpus_messages = 16, 10
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if args.serve:
        asyncio.run(_serve(args.serve, args.stats))
        return 0
    from bench.stages import run as run_stages

    with tempfile.TemporaryDirectory(prefix="als-floor-") as tmp:
        work = Path(tmp)
        receive = measure_receive("receive", args, work)
        receive_parse = measure_receive("parse", args, work)
        export = measure_export(args, work)
    stages = run_stages(args.corpus_streams, args.workloads, args.corpus_messages, args.batch)
    conversion = round(sum(stages[k] for k in ("view", "identity", "spans", "metrics", "wire")), 2)
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items() if v is not None},
        "receive": receive,
        "receive_parse": receive_parse,
        "export": export,
        "stages": stages,
        "budget": budget(receive_parse, export, conversion),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(_table(report))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
