"""`prometheus`: keeps the latest value of every metric series and serves them on `GET /metrics`.

The Collector's `prometheus` exporter, for users whose Prometheus scrapes rather than receives OTLP
(Debian's Prometheus builds cannot ingest OTLP at all). `send` only updates memory; the HTTP server
runs on its own thread from construction to `shutdown`, so a slow scraper holds up no pipeline.

Every scrape also carries the bridge's own `als_bridge_*` counters and gauges, without `job` or
`instance` labels: the scrape target's own labels are the right identity for the bridge itself.
The same counters also reach this exporter through a metrics pipeline (the recorder adds them
for OTLP backends); those copies are not served, or a PromQL `sum()` would count them twice.
"""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from bridge.exporters.base import EncodedRequest, ExportError, ExportRequest, Signal
from bridge.exporters.prometheus.config import PrometheusExporterConfig
from bridge.exporters.prometheus.exposition import (
    OPENMETRICS_CONTENT_TYPE,
    TEXT_CONTENT_TYPE,
    render_chunks,
    wants_open_metrics,
)
from bridge.exporters.prometheus.naming import label_name, sanitize_name
from bridge.exporters.prometheus.store import Family, FamilyKind, MetricStore, Series
from bridge.telemetry import SELF

log = logging.getLogger("bridge.exporters.prometheus")

METRICS_PATH = "/metrics"
_SHUTDOWN_JOIN = 5.0  # seconds to wait for the server thread once told to stop
_POLL_INTERVAL = 0.1  # how often the server loop checks for shutdown: bounds how long shutdown() takes

Scrape = Callable[[str], tuple[Iterator[bytes], str]]  # Accept header -> (body pieces, content type)


class PrometheusExporter:
    """Serves `GET /metrics` on `config.endpoint` from construction until `shutdown()`."""

    def __init__(
        self, name: str, config: PrometheusExporterConfig, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.name = name
        self._open_metrics = config.enable_open_metrics
        self._store = MetricStore(config, clock)
        self._server = _listen(name, config.endpoint, self.scrape_chunks)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(_POLL_INTERVAL,),
            name=f"{name} {METRICS_PATH}",
            daemon=True,
        )
        self._thread.start()
        log.info("%s: serving %s on %s (port %d)", name, METRICS_PATH, config.endpoint, self.port)

    def send(self, signal: Signal, request: ExportRequest) -> None:
        """Take a metrics request into the scrape state; other signals are a pipeline mistake."""
        if signal is not Signal.METRICS:
            raise ExportError(f"{self.name}: the prometheus exporter takes metrics, not {signal.value}")
        if isinstance(request, EncodedRequest):
            self._store.apply_encoded(request.payload)
        else:
            self._store.apply(request)

    def scrape(self, accept: str = "") -> tuple[bytes, str]:
        """What `GET /metrics` answers to a scraper sending `accept`: (body, content type)."""
        chunks, content_type = self.scrape_chunks(accept)
        return b"".join(chunks), content_type

    def scrape_chunks(self, accept: str = "") -> tuple[Iterator[bytes], str]:
        """The same body in pieces, as the HTTP handler sends it (see `render_chunks`); the series
        are taken from the store at once, so the pieces are one consistent snapshot."""
        open_metrics = self._open_metrics and wants_open_metrics(accept)
        families = [f for f in self._store.collect() if not f.name.startswith(SELF_PREFIX)]
        families += self_families()
        content_type = OPENMETRICS_CONTENT_TYPE if open_metrics else TEXT_CONTENT_TYPE
        return render_chunks(families, open_metrics), content_type

    def shutdown(self) -> None:
        """Stop serving and free the port; the state is dropped with the exporter."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(_SHUTDOWN_JOIN)


SELF_PREFIX = "als_bridge_"


def self_families() -> list[Family]:
    """`bridge.telemetry.SELF` as metric families (their names already end in `_total` for counters)."""
    families: dict[str, Family] = {}
    for sample in SELF.snapshot():
        name = sanitize_name(sample.name)
        kind: FamilyKind = "gauge" if sample.kind == "gauge" else "counter"
        family = families.setdefault(name, Family(name, kind, sample.description))
        labels = tuple(sorted((label_name(key), value) for key, value in sample.labels if value))
        family.series[labels] = Series(labels, float(sample.value), 0, 0.0)
    return [families[name] for name in sorted(families)]


class _MetricsServer(ThreadingHTTPServer):
    daemon_threads = True  # a hung scraper must not keep the process alive
    scrape: Scrape


class _MetricsServer6(_MetricsServer):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _MetricsServer
    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its connection every interval

    def do_GET(self) -> None:
        if urlsplit(self.path).path != METRICS_PATH:
            self._reply(404, b"not found; metrics are at /metrics\n", "text/plain; charset=utf-8")
            return
        try:
            chunks, content_type = self.server.scrape(self.headers.get("Accept", ""))
            first = next(chunks, b"")
        except Exception:  # a bug here must cost one scrape, not the server thread
            log.exception("prometheus: scrape failed")
            self._reply(500, b"scrape failed; see the bridge's log\n", "text/plain; charset=utf-8")
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for chunk in itertools.chain((first,), chunks):
                if chunk:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        except Exception:  # too late for a status: end the connection so the scraper sees it cut short
            log.exception("prometheus: scrape failed while sending")
            self.close_connection = True

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """One line per scrape would drown the bridge's log; errors are logged where they happen."""


def _listen(name: str, endpoint: str, scrape: Scrape) -> _MetricsServer:
    host, port = split_host_port(endpoint)
    server_class = _MetricsServer6 if ":" in host else _MetricsServer
    try:
        server = server_class((host, port), _Handler)
    except OSError as err:
        raise OSError(f"{name}: cannot listen on {endpoint}: {err}") from err
    server.scrape = scrape
    return server


def split_host_port(endpoint: str) -> tuple[str, int]:
    """`0.0.0.0:8889` -> ("0.0.0.0", 8889); `[::1]:0` -> ("::1", 0). The config loader checked the form."""
    host, _, port = endpoint.rpartition(":")
    return host.removeprefix("[").removesuffix("]"), int(port)
