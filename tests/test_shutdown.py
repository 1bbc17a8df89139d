"""The process as users run it: `python -m bridge --config FILE`, stopped by SIGTERM or SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.fixtures.als import http_entry, message, send_stream
from tests.support.otlp_sink import OTLPSink

_LISTENING = re.compile(r"listening on \S+ \(port (\d+)")


def _start_bridge(config_path: Path) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "--config", str(config_path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if match := _LISTENING.search(line):
            return proc, int(match.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError("the bridge did not start listening")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_flushes_held_spans_and_exits_zero(tmp_path: Path, sig: signal.Signals) -> None:
    with OTLPSink() as sink:
        config = {
            "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0"}},
            # a batch that would wait a minute: only the shutdown flush can deliver it in time
            "processors": {"batch": {"timeout": "60s", "send_batch_size": 100000}},
            "exporters": {"otlp": {"endpoint": sink.grpc_endpoint, "tls": {"insecure": True}}},
            "service": {
                "pipelines": {
                    "traces": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": ["otlp"]}
                }
            },
        }
        path = tmp_path / "bridge.yaml"
        path.write_text(yaml.safe_dump(config))
        proc, port = _start_bridge(path)
        try:
            entries = [http_entry(request_id=f"held-{i}") for i in range(25)]
            send_stream(port, [message(entries).SerializeToString()])
            time.sleep(0.3)
            assert sink.spans() == []  # still held by the batch processor
            started = time.monotonic()
            proc.send_signal(sig)
            assert proc.wait(timeout=15) == 0
            assert time.monotonic() - started < 15
        finally:
            if proc.poll() is None:
                proc.kill()
        assert len(sink.spans()) == 25


def test_a_port_in_use_is_one_clear_error_and_exit_1(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = {
            "receivers": {"envoy_als": {"endpoint": f"127.0.0.1:{port}"}},
            "exporters": {"debug": {}},
            "service": {"pipelines": {"traces": {"receivers": ["envoy_als"], "exporters": ["debug"]}}},
        }
        path = tmp_path / "bridge.yaml"
        path.write_text(yaml.safe_dump(config))
        out = subprocess.run(
            [sys.executable, "-m", "bridge", "--config", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert out.returncode == 1
    assert "cannot start" in out.stderr and f"127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr
