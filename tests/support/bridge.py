"""Run a real bridge (the service the CLI runs) on its own event loop in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bridge.components import parse_config
from bridge.service import Service, build_service


def traces_and_logs_config(
    *,
    otlp_grpc: str | None = None,
    otlp_http: str | None = None,
    reporters: str = "both",
    receiver: dict[str, Any] | None = None,
    batch_timeout: str = "100ms",
) -> dict[str, Any]:
    """A config with a traces and a logs pipeline from one `envoy_als` receiver to the test sink."""
    exporters: dict[str, Any] = {}
    if otlp_grpc:
        exporters["otlp"] = {"endpoint": otlp_grpc, "tls": {"insecure": True}}
    if otlp_http:
        exporters["otlphttp"] = {"endpoint": otlp_http}
    names = list(exporters)
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0", "reporters": reporters, **(receiver or {})}},
        "processors": {"batch": {"timeout": batch_timeout}},
        "exporters": exporters,
        "service": {
            "pipelines": {
                "traces": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": names},
                "logs": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": names},
            }
        },
    }


@contextmanager
def running_bridge(config: dict[str, Any]) -> Iterator[Service]:
    """Start the bridge; on exit shut it down as SIGTERM would (flush, drain the exporters)."""
    service = build_service(parse_config(config, "<test>"))
    loop = asyncio.new_event_loop()
    started = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(service.start())
        except BaseException as err:  # surfaced to the test below
            errors.append(err)
        finally:
            started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="bridge-loop", daemon=True)
    thread.start()
    started.wait(10)
    if errors:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
        raise errors[0]
    try:
        yield service
    finally:
        asyncio.run_coroutine_threadsafe(service.shutdown(timeout=10), loop).result(20)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
