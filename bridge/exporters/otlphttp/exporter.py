"""`otlphttp`: sends OTLP export requests as HTTP/protobuf (the Collector's `otlphttp` exporter).

One urllib3 pool for the three signals. As in `otlp`, nothing is retried here: `send` turns
the HTTP outcome into a retryable or permanent `ExportError` and the queue decides.
"""

from __future__ import annotations

import email.utils
import gzip
import math
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import urllib3
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from bridge.exporters import _rpc_status
from bridge.exporters._partial_success import report_partial_success
from bridge.exporters.base import ExportError, ExportRequest, Signal
from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig

_RESPONSES: dict[Signal, Any] = {
    Signal.TRACES: trace_service_pb2.ExportTraceServiceResponse,
    Signal.METRICS: metrics_service_pb2.ExportMetricsServiceResponse,
    Signal.LOGS: logs_service_pb2.ExportLogsServiceResponse,
}
# Throttled or briefly unavailable, per the OTLP/HTTP specification.
_RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
_PROTOBUF = "application/x-protobuf"
_BODY_IN_MESSAGE = 256  # characters of an error body worth putting in a log line
_GZIP_LEVEL = 6  # level 9 costs much more CPU for a few per cent


class OTLPHTTPExporter:
    """OTLP/HTTP (protobuf) to one endpoint, or one per signal."""

    def __init__(self, name: str, config: OTLPHTTPExporterConfig) -> None:
        self.name = name
        self._gzip = config.compression == "gzip"
        self._urls = {
            Signal.TRACES: signal_url(config.endpoint, config.traces_endpoint, Signal.TRACES),
            Signal.METRICS: signal_url(config.endpoint, config.metrics_endpoint, Signal.METRICS),
            Signal.LOGS: signal_url(config.endpoint, config.logs_endpoint, Signal.LOGS),
        }
        self._headers = {"Content-Type": _PROTOBUF, "User-Agent": "als-bridge"}
        self._headers.update({key: str(value) for key, value in config.headers.items()})
        if self._gzip:
            self._headers["Content-Encoding"] = "gzip"
        tls = config.tls
        try:
            tls.validate()
        except ValueError as exc:
            raise ValueError(f"{name}: tls.{exc}") from None
        self._pool = urllib3.PoolManager(
            num_pools=4,
            # one kept connection per consumer that may send at once (`sending_queue.num_consumers`)
            maxsize=max(2, config.sending_queue.num_consumers),
            retries=False,
            timeout=urllib3.Timeout(total=float(config.timeout)),
            cert_reqs="CERT_NONE" if tls.insecure_skip_verify else "CERT_REQUIRED",
            assert_hostname=False if tls.insecure_skip_verify else None,
            ca_certs=tls.ca_file or None,
            cert_file=tls.cert_file or None,
            key_file=tls.key_file or None,
        )

    def url(self, signal: Signal) -> str:
        """Where requests of `signal` go (for start-up logs and tests)."""
        return self._urls[signal]

    def send(self, signal: Signal, request: ExportRequest) -> None:
        body: bytes = request.SerializeToString()
        if self._gzip:
            body = gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)
        url = self._urls[signal]
        try:
            response = self._pool.request("POST", url, body=body, headers=self._headers, redirect=False)
        except urllib3.exceptions.HTTPError as err:
            # Refused, reset, timed out, TLS handshake failed: all may pass; the queue's deadline bounds it.
            raise ExportError(f"{self.name}: export {signal.value} to {url} failed: {err}", True) from None
        status = response.status
        if 200 <= status < 300:
            self._read_partial_success(signal, response)
            return
        raise ExportError(
            f"{self.name}: export {signal.value} to {url} failed: HTTP {status}: {error_text(response)}",
            status in _RETRYABLE_STATUSES,
            parse_retry_after(response.headers.get("Retry-After")) if status in _RETRYABLE_STATUSES else None,
        )

    def shutdown(self) -> None:
        self._pool.clear()

    def _read_partial_success(self, signal: Signal, response: Any) -> None:
        """Only a protobuf body can carry partial_success; an empty or JSON body means full success."""
        data = response.data
        if not data or not response.headers.get("Content-Type", "").startswith(_PROTOBUF):
            return
        try:
            parsed = _RESPONSES[signal].FromString(data)
        except DecodeError:
            return
        report_partial_success(self.name, signal, parsed)


def signal_url(endpoint: str, signal_endpoint: str, signal: Signal) -> str:
    """The URL for one signal, as the Collector builds it.

    A per-signal endpoint is used as is. Otherwise `/v1/<signal>` is appended to the path of
    `endpoint`, so `http://mimir/otlp` gives `http://mimir/otlp/v1/metrics`; a query string stays.
    """
    if signal_endpoint:
        _check_url(signal_endpoint)
        return signal_endpoint
    _check_url(endpoint)
    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/") + f"/v1/{signal.value}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"otlphttp endpoint {url!r} must be an http:// or https:// URL with a host")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delay-seconds or an HTTP-date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one would compare as local time
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def error_text(response: Any) -> str:
    """A short, printable reason from an error response: the `Status` message, else the body text."""
    data: bytes = response.data or b""
    if response.headers.get("Content-Type", "").startswith(_PROTOBUF):
        status = _rpc_status.parse_status(data)
        if status is not None and status.message:
            return str(status.message)[:_BODY_IN_MESSAGE]
    text = data[: _BODY_IN_MESSAGE * 4].decode("utf-8", "replace").strip()
    if len(text) > _BODY_IN_MESSAGE:
        text = text[:_BODY_IN_MESSAGE] + "..."
    return text or "(empty body)"
