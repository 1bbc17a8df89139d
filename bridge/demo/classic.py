"""`als-bridge demo --classic`: the bridge with the `debug` exporter, two real Envoy sidecars, traffic.

What a newcomer sees within a minute and without a cluster: the spans of real requests through
real Envoy, CLIENT spans of workload `a` paired with SERVER spans of workload `b`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import urllib.request
from typing import Any

from bridge.components import parse_config
from bridge.config.model import ComponentID
from bridge.demo.mesh import Mesh
from bridge.logging_setup import setup_logging
from bridge.service import Service, build_service
from bridge.telemetry import SELF

_SETTLE_SECONDS = 1.5  # Envoy flushes its ALS buffer every 0.2 s here; the batch processor every 0.5 s


# The series `--metrics` prints: one family each, what the README's queries read.
SHOWN_METRICS = (
    "istio_requests_total",
    "traces_service_graph_request_total",
    "traces_span_metrics_calls_total",
    "http_server_request_duration_seconds_count",
    "rpc_server_call_duration_seconds_count",
)


def demo_config(reporters: str, verbosity: str, logs: bool, metrics: bool = False) -> dict[str, Any]:
    pipelines: dict[str, Any] = {
        "traces": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": ["debug"]},
    }
    exporters: dict[str, Any] = {"debug": {"verbosity": verbosity}}
    if logs:
        pipelines["logs"] = {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": ["debug"]}
    if metrics:
        pipelines["metrics"] = {"receivers": ["envoy_als"], "exporters": ["prometheus"]}
        exporters["prometheus"] = {"endpoint": "127.0.0.1:0"}
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0", "reporters": reporters}},
        "processors": {"batch": {"timeout": "500ms"}},
        "exporters": exporters,
        "service": {"pipelines": pipelines, "telemetry": {"logs": {"level": "warn"}}},
    }


def print_prometheus(service: Service) -> None:
    """The demo's metrics as a Prometheus scrape of the `prometheus` exporter shows them; used by
    both demos (`--metrics`), after the last flush and before the bridge shuts down."""
    service.flush_metrics()
    exporter = service.exporters[ComponentID("prometheus")]
    deadline = time.monotonic() + 5
    while exporter.queue_length and time.monotonic() < deadline:
        time.sleep(0.05)
    port = exporter.exporter.port  # type: ignore[attr-defined]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    print(f"\nmetrics (scraped from http://127.0.0.1:{port}/metrics, selected series):")
    for line in text.splitlines():
        if line.startswith(SHOWN_METRICS):
            print(line)


async def _run(args: argparse.Namespace) -> int:
    metrics = bool(getattr(args, "metrics", False))
    config = parse_config(
        demo_config(args.reporters, args.verbosity or "normal", args.logs, metrics), "<demo>"
    )
    service = build_service(config)
    await service.start()
    port = service.receivers[0].port
    mesh = Mesh(als_address=f"127.0.0.1:{port}", reporters=args.reporters)
    print(f"bridge listening for ALS on 127.0.0.1:{port}; starting two Envoy sidecars...", file=sys.stderr)
    try:
        await asyncio.to_thread(mesh.start)
        for round_ in range(max(args.requests, 1)):
            results = await asyncio.to_thread(mesh.send_sample_traffic)
            if round_ == 0:
                print("sent: " + ", ".join(f"{k} -> {v!r}" for k, v in results.items()), file=sys.stderr)
        await asyncio.sleep(_SETTLE_SECONDS)
        if metrics:
            await asyncio.to_thread(print_prometheus, service)
    finally:
        await asyncio.to_thread(mesh.stop)
        await service.shutdown()
    received = SELF.get("als_bridge_entries_received_total")
    exported = SELF.get("als_bridge_exported_items_total")
    print(f"done: {received:.0f} access log entries received, {exported:.0f} items exported", file=sys.stderr)
    return 0 if exported else 1


def main(args: argparse.Namespace) -> int:
    setup_logging("warn")
    return asyncio.run(_run(args))
