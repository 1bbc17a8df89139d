"""The `health_check` extension: an HTTP server for Kubernetes' probes and preStop hook.

- `GET <path>` (default `/`) and `GET /healthz`: 200 while the process serves (liveness).
- `GET /readyz`: 200 when every expected component is up and the bridge is not stopping;
  otherwise 503 with a JSON body naming what is not ready (readiness).
- `GET /drain`: flips readiness to 503 for good, waits `drain_delay`, then answers 200. It is
  the Deployment's preStop hook: the kubelet runs it before SIGTERM, so the pod leaves the
  Service's endpoints (and the sidecars' EDS) while it still serves everything; when SIGTERM then
  closes the ALS streams, Envoy reconnects to another replica instead of to this one.

The server runs in threads of its own, like the Collector's, so a busy event loop never fails
a probe; it answers until `shutdown()`, the very last step of the bridge's shutdown.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from bridge.extensions.health_check.config import DRAIN_PATH, LIVE_PATH, READY_PATH, HealthCheckConfig
from bridge.readiness import Readiness

log = logging.getLogger("bridge.extensions.health_check")

_POLL_INTERVAL = 0.1  # how often serve_forever checks for shutdown
_JOIN_TIMEOUT = 2.0


class HealthCheckStartError(OSError):
    """The extension cannot listen on its endpoint; the message names the extension and address."""


class HealthCheckExtension:
    """Serves the probe endpoints on `config.endpoint` from `start()` until `shutdown()`."""

    def __init__(self, name: str, config: HealthCheckConfig, readiness: Readiness) -> None:
        self.name = name
        self.readiness = readiness
        self._config = config
        self._started = time.time()
        self._server: _HealthServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    async def start(self) -> None:
        self.start_serving()

    async def shutdown(self) -> None:
        await asyncio.to_thread(self.stop_serving)

    def start_serving(self) -> None:
        """Bind and serve; a port in use or an address not of this host is a HealthCheckStartError."""
        host, port = _split_host_port(self._config.endpoint)
        server_class = _HealthServer6 if ":" in host else _HealthServer
        try:
            server = server_class((host, port), _Handler)
        except OSError as err:
            raise HealthCheckStartError(
                f"extensions.{self.name}: cannot listen on {self._config.endpoint}: {err.strerror or err}"
            ) from err
        server.extension = self
        self._server = server
        self.port = server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve_forever, args=(_POLL_INTERVAL,), name=f"{self.name} http", daemon=True
        )
        self._thread.start()
        log.info("extension %s serving health on %s (port %d)", self.name, self._config.endpoint, self.port)

    def stop_serving(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(_JOIN_TIMEOUT)
        self._server = None

    # What each path answers: (status, JSON body). Kept apart from HTTP so tests can read them.
    def live(self) -> tuple[int, dict[str, object]]:
        up_since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self._started))
        return 200, {
            "status": "Server available",
            "upSince": up_since,
            "uptime": f"{time.time() - self._started:.0f}s",
        }

    def ready(self) -> tuple[int, dict[str, object]]:
        report = self.readiness.report()
        return (200 if report.ready else 503), report.as_json()

    def drain(self) -> tuple[int, dict[str, object]]:
        """Not ready from now on; answer after `drain_delay` (the preStop hook waits for the answer)."""
        if not self.readiness.is_stopping:
            log.info(
                "drain requested (preStop): readiness is 503 now; waiting %.0f s", self._config.drain_delay
            )
        self.readiness.stopping("draining (preStop)")
        time.sleep(self._config.drain_delay)
        return 200, {"status": "draining", "waited": f"{self._config.drain_delay:g}s"}

    def route(self, path: str) -> tuple[int, dict[str, object]]:
        if path in (self._config.path, LIVE_PATH):
            return self.live()
        if path == READY_PATH:
            return self.ready()
        if path == DRAIN_PATH:
            return self.drain()
        paths = sorted({self._config.path, LIVE_PATH, READY_PATH, DRAIN_PATH})
        return 404, {"status": "not found", "paths": paths}


class _HealthServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung prober must not keep the process alive
    extension: HealthCheckExtension


class _HealthServer6(_HealthServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _HealthServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status, body = self.server.extension.route(urlsplit(self.path).path)
        payload = json.dumps(body).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        """A line per probe every few seconds would drown the bridge's log."""


def _split_host_port(endpoint: str) -> tuple[str, int]:
    """`0.0.0.0:13133` -> ("0.0.0.0", 13133); `[::1]:0` -> ("::1", 0). The config loader checked the form."""
    host, _, port = endpoint.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)
