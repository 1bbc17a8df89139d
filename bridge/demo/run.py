"""`als-bridge demo`: the bridge with the `debug` exporter, two real Envoy sidecars, traffic.

What a newcomer sees within a minute and without a cluster: the spans of real requests through
real Envoy, CLIENT spans of workload `a` paired with SERVER spans of workload `b`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from bridge.config import parse_config
from bridge.demo.mesh import Mesh
from bridge.logging_setup import setup_logging
from bridge.service import build_service
from bridge.telemetry import SELF

_SETTLE_SECONDS = 1.5  # Envoy flushes its ALS buffer every 0.2 s here; the batch processor every 0.5 s


def demo_config(reporters: str, verbosity: str, logs: bool) -> dict[str, Any]:
    pipelines: dict[str, Any] = {
        "traces": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": ["debug"]},
    }
    if logs:
        pipelines["logs"] = {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": ["debug"]}
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0", "reporters": reporters}},
        "processors": {"batch": {"timeout": "500ms"}},
        "exporters": {"debug": {"verbosity": verbosity}},
        "service": {"pipelines": pipelines, "telemetry": {"logs": {"level": "warn"}}},
    }


async def _run(args: argparse.Namespace) -> int:
    config = parse_config(demo_config(args.reporters, args.verbosity, args.logs), "<demo>")
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
