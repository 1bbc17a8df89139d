"""`otlp`: sends OTLP export requests over gRPC (the Collector's `otlp` exporter).

A thin client over the `opentelemetry-proto` service stubs: the bridge builds the protobuf
requests itself (one request carries many resources), so the SDK exporters, which encode SDK
objects, are of no use here. No retries happen in this module; `send` maps the gRPC status to
a retryable or permanent `ExportError` and the queue does the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from bridge.exporters import _rpc_status
from bridge.exporters._partial_success import report_partial_success
from bridge.exporters.base import ExportError, ExportRequest, Signal
from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.shared_config import TLSClientConfig

_logger = logging.getLogger(__name__)

# Codes that may succeed on a later attempt, as in the OTLP specification's gRPC section.
# RESOURCE_EXHAUSTED is retryable only when the server says when to come back (RetryInfo).
_RETRYABLE_CODES = frozenset(
    {
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)
# Each signal's Export method and response type. Calls go through the channel directly rather
# than the generated stubs, so a request already in wire format (`EncodedRequest`) and a
# protobuf message are sent alike: both have SerializeToString().
_METHODS: dict[Signal, tuple[str, Any]] = {
    Signal.TRACES: (
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        trace_service_pb2.ExportTraceServiceResponse,
    ),
    Signal.METRICS: (
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    Signal.LOGS: (
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        logs_service_pb2.ExportLogsServiceResponse,
    ),
}


def _serialize(request: Any) -> bytes:
    payload: bytes = request.SerializeToString()
    return payload


_STATUS_DETAILS_KEY = "grpc-status-details-bin"

# The channel's own reconnect backoff defaults to growing to 120 s, during which every call fails
# at once with UNAVAILABLE even if the backend is back. Cap it near the queue's retry interval.
_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.primary_user_agent", "als-bridge"),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.min_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 5000),
]


class OTLPExporter:
    """OTLP/gRPC to one endpoint, over one channel shared by the three signals."""

    def __init__(self, name: str, config: OTLPExporterConfig) -> None:
        self.name = name
        self._timeout = float(config.timeout)
        self._metadata = tuple((key.lower(), str(value)) for key, value in config.headers.items())
        target, secure = parse_endpoint(config.endpoint, config.tls)
        gzip = config.compression == "gzip"
        compression = grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression
        if secure:
            credentials = channel_credentials(name, config.tls)
            self._channel = grpc.secure_channel(target, credentials, _CHANNEL_OPTIONS, compression)
        else:
            self._channel = grpc.insecure_channel(target, _CHANNEL_OPTIONS, compression)
        self._calls: dict[Signal, Callable[..., Any]] = {
            signal: self._channel.unary_unary(
                method, request_serializer=_serialize, response_deserializer=response.FromString
            )
            for signal, (method, response) in _METHODS.items()
        }

    def send(self, signal: Signal, request: ExportRequest) -> None:
        try:
            response = self._calls[signal](request, timeout=self._timeout, metadata=self._metadata)
        except grpc.RpcError as err:
            raise export_error(self.name, signal, err) from None
        report_partial_success(self.name, signal, response)

    def shutdown(self) -> None:
        self._channel.close()


def parse_endpoint(endpoint: str, tls: TLSClientConfig) -> tuple[str, bool]:
    """The gRPC target and whether to use TLS.

    As in the Collector: `https://` forces TLS and `http://` means plaintext, whatever
    `tls.insecure` says; without a scheme, `tls.insecure` decides. Other targets that gRPC
    understands (`dns:///host:port`, `unix:/path`) are passed through unchanged.
    """
    lowered = endpoint.lower()
    if lowered.startswith("https://"):
        return endpoint[len("https://") :].rstrip("/"), True
    if lowered.startswith("http://"):
        return endpoint[len("http://") :].rstrip("/"), False
    return endpoint, not tls.insecure


def channel_credentials(name: str, tls: TLSClientConfig) -> Any:
    """TLS credentials from the configured files; system roots when no CA file is given.

    gRPC Python cannot turn off certificate verification, so `insecure_skip_verify` is refused
    here rather than ignored: the user would otherwise get handshake failures with no hint why.
    """
    if tls.insecure_skip_verify:
        raise ValueError(
            f"{name}: tls.insecure_skip_verify is not supported by the gRPC exporter; "
            "set tls.ca_file to the server's CA instead"
        )
    try:
        tls.validate()
    except ValueError as exc:
        raise ValueError(f"{name}: tls.{exc}") from None
    return grpc.ssl_channel_credentials(
        root_certificates=_read(name, "tls.ca_file", tls.ca_file),
        private_key=_read(name, "tls.key_file", tls.key_file),
        certificate_chain=_read(name, "tls.cert_file", tls.cert_file),
    )


def _read(name: str, option: str, path: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ValueError(f"{name}: cannot read {option} {path!r}: {err.strerror or err}") from err


def export_error(name: str, signal: Signal, err: grpc.RpcError) -> ExportError:
    """Classifies a failed call: retryable or not, and the delay the server asked for."""
    code = _call_attr(err, "code")
    details = _call_attr(err, "details") or ""
    delay = _retry_delay(_call_attr(err, "trailing_metadata"))
    retryable = code in _RETRYABLE_CODES or (code == grpc.StatusCode.RESOURCE_EXHAUSTED and delay is not None)
    code_name = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
    return ExportError(f"{name}: export {signal.value} failed: {code_name}: {details}", retryable, delay)


def _call_attr(err: grpc.RpcError, method: str) -> Any:
    """`err.code()` and friends; a bare RpcError (not also a grpc.Call) has none of them."""
    getter = getattr(err, method, None)
    return getter() if callable(getter) else None


def _retry_delay(trailing_metadata: Any) -> float | None:
    for key, value in trailing_metadata or ():
        if key == _STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = _rpc_status.parse_status(value)
            return None if status is None else _rpc_status.retry_delay(status)
    return None
