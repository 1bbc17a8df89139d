"""The health_check extension in the running bridge: ready only once the ALS receiver listens,
not ready from the first moment of shutdown (while it still flushes), and a port it cannot have
stops the start with one clear line."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest

from bridge.components import parse_config
from bridge.extensions.health_check import HealthCheckExtension
from bridge.receivers.envoy_als import _protos
from bridge.service import build_service


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def config(health_endpoint: str = "127.0.0.1:0") -> dict[str, Any]:
    return {
        "extensions": {"health_check": {"endpoint": health_endpoint, "drain_delay": "0s"}},
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0"}},
        "exporters": {"debug": {"verbosity": "basic"}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {"traces": {"receivers": ["envoy_als"], "exporters": ["debug"]}},
        },
    }


def test_ready_only_after_the_receiver_listens_and_not_ready_during_shutdown() -> None:
    async def scenario() -> None:
        service = build_service(parse_config(config(), "<test>"))
        (extension,) = service.extensions
        assert isinstance(extension, HealthCheckExtension)
        (receiver,) = service.receivers
        listening = asyncio.Event()
        real_start = receiver.start

        async def held_start() -> None:  # the receiver takes its time to bind
            await listening.wait()
            await real_start()

        receiver.start = held_start  # type: ignore[method-assign]
        starting = asyncio.create_task(service.start())
        while extension.port == 0:
            await asyncio.sleep(0.01)
        status, body = await asyncio.to_thread(get, extension.port, "/readyz")
        assert (status, body) == (
            503,
            {"status": "not ready", "not_ready": {"receiver envoy_als": "not listening yet"}},
        )
        assert (await asyncio.to_thread(get, extension.port, "/healthz"))[0] == 200
        listening.set()
        await starting
        assert await asyncio.to_thread(get, extension.port, "/readyz") == (200, {"status": "ready"})
        with socket.create_connection(("127.0.0.1", receiver.port), timeout=5):
            pass  # ready means the ALS port takes connections

        # An open ALS stream holds the receiver's stop for its grace period (2 s): readiness must
        # already say 503 then, while liveness stays 200 (Kubernetes must not kill a flushing pod).
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{receiver.port}")
        stream = channel.stream_unary(f"/{_protos.SERVICE_NAME}/{_protos.METHOD_NAME}")
        call = stream()
        await call.write(b"")  # an empty message: the stream is open on the server
        await asyncio.sleep(0.3)
        stopping = asyncio.create_task(service.shutdown(timeout=10))
        await asyncio.sleep(0.3)
        assert not stopping.done()
        status, body = await asyncio.to_thread(get, extension.port, "/readyz")
        assert status == 503 and body["stopping"].startswith("shutting down")
        assert (await asyncio.to_thread(get, extension.port, "/healthz"))[0] == 200
        await stopping
        call.cancel()
        await channel.close()
        with pytest.raises(OSError):  # the extension stopped last and freed its port
            await asyncio.to_thread(get, extension.port, "/healthz")

    asyncio.run(scenario())


def test_a_health_port_in_use_stops_the_start_with_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config_file = tmp_path / "config.yaml"
        config_file.write_text(json.dumps(config(f"127.0.0.1:{port}")))
        result = subprocess.run(
            [sys.executable, "-m", "bridge", "--config", str(config_file)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert (
        f"cannot start: extensions.health_check: cannot listen on 127.0.0.1:{port}: Address already in use"
        in result.stderr
    )
    assert "Traceback" not in result.stderr
