"""The bridge's per-entry cost, stage by stage, in one process: where the time goes.

    .venv/bin/python -m bench.stages                 # table of microseconds per entry per stage
    .venv/bin/python -m bench.stages --profile out   # the whole path under cProfile (pstats file)
    .venv/bin/python -m bench.stages --interleaved   # adds parse+view, message by message

No network and no threads: messages from `bench.corpus` go through the same functions the
receiver calls (protobuf parse, `EntryView`, identity, spans, metrics, wire encoding), each
timed over the whole corpus. The end-to-end benchmark (`bench.bench`) adds gRPC, batching and
the exporter around these.
"""

from __future__ import annotations

import argparse
import cProfile
import random
import time
from collections.abc import Callable
from typing import Any

from bench.corpus import Stamper, entries_per_message, plan_stream, sidecar
from bridge.decode import from_http, from_tcp
from bridge.identity import IdentityResolver, workload_from_node
from bridge.metrics.config import MetricsConfig
from bridge.metrics.recorder import MetricsRecorder
from bridge.otlp import TraceEncoder
from bridge.receivers.envoy_als import _protos
from bridge.spans import SpanBuilder


def corpus(streams: int, workloads: int, messages: int, batch: int, seed: int = 7) -> list[tuple[Any, bytes]]:
    """(node, message bytes) pairs: `messages` messages from each of `streams` streams."""
    rng = random.Random(seed)
    sidecars = [sidecar(i) for i in range(workloads)]
    out = []
    for s in range(streams):
        plan = plan_stream(rng, sidecars, s)
        stamper = Stamper(plan, entries_per_message(plan, 16 * 1024, batch), f"s{s}")
        out.extend((plan.node, stamper.next_message()) for _ in range(messages))
    return out


def _timed(fn: Callable[[], Any], repeat: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn()
        best = min(best, time.process_time() - t0)
    return best, result


def views_of(message: Any) -> list[Any]:
    """The views of one parsed message's entries, as the receiver makes them."""
    if message.WhichOneof("log_entries") == "tcp_logs":
        return [from_tcp(e) for e in message.tcp_logs.log_entry]
    return [from_http(e) for e in message.http_logs.log_entry]


def _parse_and_view(data: list[tuple[Any, bytes]]) -> list[Any]:
    """Parse and view one message at a time, dropping each message as the receiver does.

    Why a separate measure: the `parse` and `view` stages keep every parsed message alive, which
    hides costs that appear only when messages are dropped (upb frees and rebuilds what only the
    message kept alive, e.g. sub-message classes held weakly)."""
    out: list[Any] = []
    for _, raw in data:
        out.extend(views_of(_protos.StreamAccessLogsMessage.FromString(raw)))
    return out


def run(
    streams: int, workloads: int, messages: int, batch: int, interleaved: bool = False
) -> dict[str, float]:
    """Microseconds per entry for each stage, best of three."""
    data = corpus(streams, workloads, messages, batch)
    locals_ = {id(node): workload_from_node(node) for node, _ in data}
    resolver = IdentityResolver([])
    recorder = MetricsRecorder(MetricsConfig(), "both")

    t_parse, parsed = _timed(
        lambda: [(n, _protos.StreamAccessLogsMessage.FromString(raw)) for n, raw in data]
    )

    def views() -> list[tuple[Any, Any]]:
        out = []
        for node, msg in parsed:
            if msg.WhichOneof("log_entries") == "tcp_logs":
                out.extend((node, from_tcp(e)) for e in msg.tcp_logs.log_entry)
            else:
                out.extend((node, from_http(e)) for e in msg.http_logs.log_entry)
        return out

    t_view, vs = _timed(views)
    n = len(vs)
    t_ident, ends = _timed(lambda: [resolver.resolve(v, locals_[id(node)]) for node, v in vs])
    pairs = list(zip([v for _, v in vs], ends, strict=True))
    build = SpanBuilder("both").build
    t_spans, span_sets = _timed(lambda: [build(v, e) for v, e in pairs])
    triples = list(zip(pairs, span_sets, strict=True))
    t_metrics, _ = _timed(lambda: [recorder.record(v, e, s) for (v, e), s in triples])
    items = [item for s in span_sets for item in s.spans]
    encode_traces = TraceEncoder().encode
    t_wire, _ = _timed(lambda: [encode_traces(items[i : i + 8192]) for i in range(0, len(items), 8192)])
    stages = {
        "parse": t_parse,
        "view": t_view,
        "identity": t_ident,
        "spans": t_spans,
        "metrics": t_metrics,
        "wire": t_wire,
    }
    result = {k: round(v / n * 1e6, 2) for k, v in stages.items()}
    result["total"] = round(sum(stages.values()) / n * 1e6, 2)
    if interleaved:
        del parsed, vs, pairs, triples, span_sets, items  # a heap like the receiver's
        result["parse+view"] = round(_timed(lambda: _parse_and_view(data))[0] / n * 1e6, 2)
    result["entries"] = n
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--workloads", type=int, default=60)
    parser.add_argument("--messages", type=int, default=30)
    parser.add_argument("--batch", type=int, default=0, help="entries per message (0: fill 16 KiB)")
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of one run to FILE")
    parser.add_argument(
        "--interleaved", action="store_true", help="also time parse+view message by message (receiver-like)"
    )
    args = parser.parse_args()
    if args.profile:
        cProfile.runctx(
            "run(args.streams, args.workloads, args.messages, args.batch)",
            globals(),
            {"args": args, "run": run},
            args.profile,
        )
        return
    result = run(args.streams, args.workloads, args.messages, args.batch, args.interleaved)
    for key, value in result.items():
        print(f"{key:>10} {value}")


if __name__ == "__main__":
    main()
