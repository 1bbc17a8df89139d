"""A fast OTLP/gRPC sink for the benchmark, run in its own process.

    .venv/bin/python -m bench.sink --stats FILE    # prints "PORT <n>", serves until SIGTERM

It accepts Export for traces, metrics and logs as raw bytes (one generic handler, no servicer
classes) and answers OK at once. Traces are parsed with the C protobuf parser only to count spans
and to read the start time of every `sample`-th span: the load generator stamps its send time
there, so receipt minus start time is the delay from the generator to the backend (the bridge's
receive, conversion, batching and export, plus loopback). Metrics are parsed in full (they are
few) to keep the bridge's own `als_bridge_*` counters, which say what it dropped.

Every `interval` seconds and at exit, the counts are written to the stats file as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_TRACES = "opentelemetry.proto.collector.trace.v1.TraceService"
_METRICS = "opentelemetry.proto.collector.metrics.v1.MetricsService"
_LOGS = "opentelemetry.proto.collector.logs.v1.LogsService"
MAX_SAMPLES = 200_000


class Sink:
    """What arrived; the handlers run on gRPC's thread pool, so updates take the lock."""

    def __init__(self, sample: int) -> None:
        self.sample = sample
        self.lock = threading.Lock()
        self.spans = 0
        self.trace_requests = 0
        self.metric_requests = 0
        self.log_requests = 0
        self.first_ns = 0
        self.last_ns = 0
        self.delays_ns: list[int] = []
        # (resource service.instance.id, metric name, labels) -> latest value of a bridge counter
        self.self_counters: dict[tuple[str, str, tuple[tuple[str, str], ...]], float] = {}
        self.metric_points_last: dict[str, int] = {}  # instance id -> points in its latest export

    def traces(self, raw: bytes, context: Any) -> bytes:
        now = time.time_ns()
        request = ExportTraceServiceRequest.FromString(raw)
        count = 0
        delays = []
        sample = self.sample
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                spans = ss.spans
                n = len(spans)
                # a sample spread over the run: every `sample`-th span of each scope's list
                delays.extend(now - spans[i].start_time_unix_nano for i in range(0, n, sample))
                count += n
        with self.lock:
            self.spans += count
            self.trace_requests += 1
            self.first_ns = self.first_ns or now
            self.last_ns = now
            if len(self.delays_ns) < MAX_SAMPLES:
                self.delays_ns.extend(delays)
        return b""

    def metrics(self, raw: bytes, context: Any) -> bytes:
        request = ExportMetricsServiceRequest.FromString(raw)
        with self.lock:
            self.metric_requests += 1
            points: dict[str, int] = {}
            for rm in request.resource_metrics:
                instance = next(
                    (a.value.string_value for a in rm.resource.attributes if a.key == "service.instance.id"),
                    "",
                )
                bridge_instance = instance.rpartition("@")[2]
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        kind = metric.WhichOneof("data")
                        data = getattr(metric, kind) if kind else None
                        n = len(data.data_points) if data is not None else 0
                        points[bridge_instance] = points.get(bridge_instance, 0) + n
                        if metric.name.startswith("als_bridge_") and kind == "sum":
                            for p in metric.sum.data_points:
                                labels = tuple(sorted((a.key, a.value.string_value) for a in p.attributes))
                                value = p.as_double if p.HasField("as_double") else float(p.as_int)
                                self.self_counters[(instance, metric.name, labels)] = value
            self.metric_points_last.update(points)
        return b""

    def logs(self, raw: bytes, context: Any) -> bytes:
        with self.lock:
            self.log_requests += 1
        return b""

    def stats(self, full: bool) -> dict[str, Any]:
        """The counts; with `full`, the delay samples too (written once, at exit)."""
        with self.lock:
            counters: dict[str, float] = {}
            for (_, name, labels), value in self.self_counters.items():
                key = name + "{" + ",".join(f"{k}={v}" for k, v in labels) + "}"
                counters[key] = counters.get(key, 0.0) + value
            return {
                "spans": self.spans,
                "trace_requests": self.trace_requests,
                "metric_requests": self.metric_requests,
                "log_requests": self.log_requests,
                "first_receipt_ns": self.first_ns,
                "last_receipt_ns": self.last_ns,
                "delays_ns": list(self.delays_ns) if full else [],
                "bridge_counters": counters,
                "metric_points_last_export": dict(self.metric_points_last),
            }


def _handler(sink: Sink) -> grpc.GenericRpcHandler:
    def unary(fn: Any) -> grpc.RpcMethodHandler:
        return grpc.unary_unary_rpc_method_handler(fn, request_deserializer=None, response_serializer=None)

    handlers = {
        f"/{_TRACES}/Export": unary(sink.traces),
        f"/{_METRICS}/Export": unary(sink.metrics),
        f"/{_LOGS}/Export": unary(sink.logs),
    }

    class _Generic(grpc.GenericRpcHandler):
        def service(self, details: Any) -> grpc.RpcMethodHandler | None:
            return handlers.get(details.method)

    return _Generic()


def _write(path: Path, sink: Sink, full: bool = False) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(sink.stats(full)))
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stats", type=Path, required=True)
    parser.add_argument("--sample", type=int, default=16, help="read the start time of every n-th span")
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--max-seconds", type=float, default=900, help="exit by itself after this long")
    args = parser.parse_args()
    sink = Sink(args.sample)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        handlers=(_handler(sink),),
        options=[("grpc.max_receive_message_length", 256 * 1024 * 1024)],
    )
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"PORT {port}", flush=True)
    deadline = time.monotonic() + args.max_seconds
    while not stop.wait(args.interval) and time.monotonic() < deadline:
        _write(args.stats, sink)
    server.stop(1).wait()
    _write(args.stats, sink, full=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
