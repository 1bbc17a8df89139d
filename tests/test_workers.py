"""`service.workers: N`: N processes share the receiver's port; each is its own instance."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.fixtures.als import http_entry, message, send_stream
from tests.support.otlp_sink import OTLPSink, attributes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nothing listens on {port}")


def test_two_workers_share_the_port_and_report_as_distinct_instances(tmp_path: Path) -> None:
    port = _free_port()
    with OTLPSink() as sink:
        config = {
            "receivers": {"envoy_als": {"endpoint": f"127.0.0.1:{port}", "metrics": {"interval": "300ms"}}},
            "exporters": {"otlp": {"endpoint": sink.grpc_endpoint, "tls": {"insecure": True}}},
            "service": {
                "workers": 2,
                "pipelines": {
                    "traces": {"receivers": ["envoy_als"], "exporters": ["otlp"]},
                    "metrics": {"receivers": ["envoy_als"], "exporters": ["otlp"]},
                },
            },
        }
        path = tmp_path / "bridge.yaml"
        path.write_text(yaml.safe_dump(config))
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(path)], stderr=subprocess.PIPE
        )
        try:
            _wait_listening(port)
            time.sleep(1.0)  # both workers bound (the first one listening proves only one)
            for connection in range(16):  # SO_REUSEPORT spreads connections, not streams
                send_stream(
                    port,
                    [
                        message(
                            [http_entry(request_id=f"w-{connection}-{i}") for i in range(5)]
                        ).SerializeToString()
                    ],
                )
            assert sink.wait_for(lambda: len(sink.spans()) >= 80, timeout=20)

            def instances() -> set[str]:
                return {
                    attributes(rm.resource.attributes).get("service.instance.id", "")
                    for request in list(sink.metrics)
                    for rm in request.resource_metrics
                    if attributes(rm.resource.attributes).get("service.name") == "als-bridge"
                }

            assert sink.wait_for(lambda: len(instances()) == 2, timeout=20), instances()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
    assert len(sink.spans()) == 80
