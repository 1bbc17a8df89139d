"""`als-bridge demo`: the bridge, a small mesh of real Envoy sidecars, steady traffic, and what
the bridge made of it: a live view, a summary, and `demo-report.html`.

The bridge runs in this process exactly as configured below (the Collector-style config a user
writes), exporting over OTLP to the demo's own sink, and to the user's backend too with
`--otlp-endpoint` / `--otlp-http`. `--classic` runs the earlier two-sidecar demo that prints
spans (`bridge/demo/classic.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path
from typing import Any

from bridge.components import parse_config
from bridge.demo.boutique import Boutique, Users
from bridge.demo.classic import print_prometheus
from bridge.demo.mesh import MeshError
from bridge.demo.sink import DemoSink
from bridge.demo.view import DEMO_EXPORTER, Tracker, View, summary
from bridge.logging_setup import setup_logging
from bridge.service import Service, build_service

_METRICS_INTERVAL = "1s"  # the view updates as often as the bridge hands out its metrics
_SETTLE_S = 2.5  # Envoy flushes ALS every 0.5 s here, the batch processor every 0.5 s, metrics every 1 s
_REPORT_EVERY_S = 10.0
_SHUTDOWN_S = 6.0  # the demo sink drains at once; a user backend that is down must not hold the exit


def demo_config(sink_endpoint: str, args: argparse.Namespace) -> dict[str, Any]:
    """The bridge's config: traces and metrics (and logs with `--logs`) to the demo's sink, and to
    the user's backend when asked; `--verbosity` adds the `debug` exporter to the traces."""
    exporters: dict[str, Any] = {DEMO_EXPORTER: {"endpoint": sink_endpoint, "tls": {"insecure": True}}}
    if args.otlp_endpoint:
        exporters["otlp/user"] = {"endpoint": args.otlp_endpoint, "tls": {"insecure": not args.otlp_tls}}
    if args.otlp_http:
        exporters["otlphttp/user"] = {"endpoint": args.otlp_http}
    names = list(exporters)
    trace_exporters = [*names, "debug"] if args.verbosity else names
    if args.verbosity:
        exporters["debug"] = {"verbosity": args.verbosity}
    metric_exporters = list(names)
    if args.metrics:
        exporters["prometheus"] = {"endpoint": "127.0.0.1:0"}
        metric_exporters.append("prometheus")
    pipelines: dict[str, Any] = {
        "traces": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": trace_exporters},
        "metrics": {"receivers": ["envoy_als"], "exporters": metric_exporters},
    }
    if args.logs:
        pipelines["logs"] = {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": names}
    receiver = {
        "endpoint": "127.0.0.1:0",
        "reporters": args.reporters,
        "metrics": {"interval": _METRICS_INTERVAL},
    }
    return {
        "receivers": {"envoy_als": receiver},
        "processors": {"batch": {"timeout": "500ms"}},
        "exporters": exporters,
        "service": {"pipelines": pipelines, "telemetry": {"logs": {"level": "warn"}}},
    }


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _next_update(duration: float, elapsed: float) -> float:
    """Seconds until the next view update: every second, and at the end of `duration` (0: none)."""
    return 1.0 if not duration else max(0.05, min(1.0, duration - elapsed))


async def _traffic(
    args: argparse.Namespace, users: Users, view: View, sink: DemoSink, stop: asyncio.Event
) -> float:
    """Run until `--duration` is over (never with 0) or `stop` is set; returns the seconds run.
    The report is rewritten every `_REPORT_EVERY_S` meanwhile, so it can be opened early."""
    from bridge.demo.report import write_report

    started = time.monotonic()
    last_report = started
    users.start()
    view.start()
    try:
        while not stop.is_set():
            elapsed = time.monotonic() - started
            if args.duration and elapsed >= args.duration:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=_next_update(args.duration, elapsed))
            view.update(users.stats.sent)
            if time.monotonic() - last_report >= _REPORT_EVERY_S:
                last_report = time.monotonic()
                await asyncio.to_thread(write_report, sink, Path(args.report), last_report - started)
    finally:
        await asyncio.to_thread(users.stop)
    return time.monotonic() - started


async def _run(args: argparse.Namespace) -> int:
    sink = DemoSink()
    sink.start()
    service: Service | None = None
    mesh: Boutique | None = None
    seconds = 0.0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        service = build_service(parse_config(demo_config(sink.endpoint, args), "<demo>"))
        await service.start()
        port = service.receivers[0].port
        mesh = Boutique(f"127.0.0.1:{port}", reporters=args.reporters)
        _say(f"bridge listening for ALS on 127.0.0.1:{port}; starting 6 Envoy sidecars and the services...")
        await asyncio.to_thread(mesh.start)
        until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
        _say(f"mesh up (Envoy PIDs {' '.join(map(str, mesh.pids))}); {args.rate:g} user visits/s {until}")
        _say(f"report: {Path(args.report).resolve()} (written every {_REPORT_EVERY_S:g} s, final at the end)")
        users = Users(mesh.gateway_port, args.rate)
        terminal = sys.stdout.isatty() and not args.plain and not args.verbosity
        view = View(Tracker(sink), sys.stdout, live=terminal)
        try:
            seconds = await _traffic(args, users, view, sink, stop)
        finally:
            view.stop()
        stats = users.stats
        _say(f"{stats.sent} user visits sent ({stats.failed_to_send} did not reach the gateway); settling...")
        await asyncio.sleep(_SETTLE_S)  # the last entries through Envoy, the batch, one metrics interval
    except MeshError as error:
        _say(f"the demo mesh did not start: {error}")
        return 1
    finally:
        if mesh is not None:
            await asyncio.to_thread(mesh.stop)
        if service is not None:
            if args.metrics:
                await asyncio.to_thread(print_prometheus, service)
            await service.shutdown(timeout=_SHUTDOWN_S)
        sink.stop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    summary(sink, sys.stdout, seconds, sys.stdout.isatty())
    from bridge.demo.report import write_report

    path = write_report(sink, Path(args.report), seconds)
    _say(f"report: {path.resolve()} (open it in a browser; it needs no network)")
    spans, points, _ = sink.counts()
    return 0 if spans and points else 1


def main(args: argparse.Namespace) -> int:
    setup_logging("warn")
    if not args.classic and (args.rate <= 0 or args.duration < 0):
        _say("als-bridge demo: --rate must be above 0 and --duration 0 (until Ctrl-C) or more")
        return 2
    if args.classic:
        from bridge.demo.classic import main as classic_main

        return classic_main(args)
    return asyncio.run(_run(args))
