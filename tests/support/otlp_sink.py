"""A real OTLP receiver for tests: gRPC and HTTP/protobuf, with fault injection.

Built on `opentelemetry-proto`'s service stubs and the standard library's HTTP server, so the
exporters are tested against the same wire protocol a Collector speaks. Everything received is
kept (parsed) together with its headers; faults are injected per request (`fail_next`), for the
whole sink (`set_down`: the listeners close and connections are refused), or per header
(`require_headers`).
"""

from __future__ import annotations

import gzip
import http.server
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bridge.exporters._rpc_status import encode_status
from tests.support.polling import eventually

# signal -> (request class, response class, partial_success field, add-servicer function)
_SIGNALS: dict[str, tuple[Any, Any, str, Any]] = {
    "traces": (
        trace_service_pb2.ExportTraceServiceRequest,
        trace_service_pb2.ExportTraceServiceResponse,
        "rejected_spans",
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server,
    ),
    "metrics": (
        metrics_service_pb2.ExportMetricsServiceRequest,
        metrics_service_pb2.ExportMetricsServiceResponse,
        "rejected_data_points",
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server,
    ),
    "logs": (
        logs_service_pb2.ExportLogsServiceRequest,
        logs_service_pb2.ExportLogsServiceResponse,
        "rejected_log_records",
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server,
    ),
}
_PROTOBUF = "application/x-protobuf"
# HTTP status -> gRPC code, for faults given only one way (OTLP spec's mapping, roughly).
_HTTP_FOR_CODE = {
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


@dataclass
class Received:
    """One request as it arrived, whether it was accepted or not."""

    signal: str  # "traces" | "metrics" | "logs"
    transport: str  # "grpc" | "http"
    path: str  # the HTTP path, or the gRPC method
    headers: dict[str, str]  # lower-cased names; for gRPC the invocation metadata
    request: Any  # the parsed Export*ServiceRequest (None if it did not parse)
    outcome: str  # "ok", a gRPC code name ("UNAVAILABLE") or an HTTP status ("503")


@dataclass
class SinkTLS:
    """Serve TLS with this certificate; with `client_ca_pem`, also require client certificates."""

    cert_pem: bytes
    key_pem: bytes
    client_ca_pem: bytes | None = None


@dataclass
class _Fault:
    grpc_code: grpc.StatusCode
    http_status: int
    retry_after: float | str | None


@dataclass
class _Decision:
    """What to answer one request with."""

    grpc_code: grpc.StatusCode | None = None
    http_status: int = 200
    message: str = ""
    retry_after: float | str | None = None
    response: Any = None
    outcome: str = "ok"


@dataclass
class _State:
    faults: list[_Fault] = field(default_factory=list)
    partial_success: tuple[int, str] | None = None
    delay: float = 0.0  # seconds each request is held before it is answered
    in_flight: int = 0
    most_in_flight: int = 0  # the most requests held at the same time


class OTLPSink:
    """Use as a context manager; `grpc_endpoint` is "127.0.0.1:PORT", `http_endpoint` "http(s)://127.0.0.1:PORT"."""

    def __init__(self, *, require_headers: dict[str, str] | None = None, tls: SinkTLS | None = None) -> None:
        self.require_headers = {k.lower(): v for k, v in (require_headers or {}).items()}
        self.tls = tls
        self.traces: list[Any] = []
        self.metrics: list[Any] = []
        self.logs: list[Any] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._state = _State()
        self._grpc_port = 0
        self._http_port = 0
        self._grpc_server: Any = None
        self._http_server: _HTTPServer | None = None
        self._http_thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> OTLPSink:
        self._start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self._grpc_port}"

    @property
    def http_endpoint(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._http_port}"

    def set_down(self, down: bool) -> None:
        """Down: both listeners close, so connections are refused. Up: they listen again on the same ports."""
        if down:
            self._stop()
        else:
            self._start()

    def _start(self) -> None:
        self._grpc_server = self._make_grpc_server()
        self._http_server = _HTTPServer(("127.0.0.1", self._http_port), _Handler, self)
        self._http_port = self._http_server.server_address[1]
        serve = self._http_server.serve_forever
        self._http_thread = threading.Thread(target=serve, args=(0.05,), daemon=True)
        self._http_thread.start()

    def _make_grpc_server(self) -> Any:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        for signal, (_, _, _, add_servicer) in _SIGNALS.items():
            add_servicer(_Servicer(self, signal), server)
        address = f"127.0.0.1:{self._grpc_port}"
        if self.tls:
            credentials = grpc.ssl_server_credentials(
                [(self.tls.key_pem, self.tls.cert_pem)],
                root_certificates=self.tls.client_ca_pem,
                require_client_auth=self.tls.client_ca_pem is not None,
            )
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
        if not port:
            raise RuntimeError(f"cannot listen on {address}")
        self._grpc_port = port
        server.start()
        return server

    def _stop(self) -> None:
        if self._grpc_server is not None:
            self._grpc_server.stop(None).wait()
            self._grpc_server = None
        if self._http_server is not None:
            self._http_server.shutdown()
            self._http_server.server_close()
            self._http_server = None

    # -- fault injection -------------------------------------------------------------------

    def fail_next(
        self,
        n: int,
        grpc_code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        http_status: int | None = None,
        retry_after: float | str | None = None,
    ) -> None:
        """The next `n` requests (either transport) fail. `retry_after` becomes a gRPC `RetryInfo`
        (seconds) and an HTTP `Retry-After` header (seconds, or an HTTP-date string)."""
        status = http_status if http_status is not None else _HTTP_FOR_CODE.get(grpc_code, 500)
        with self._lock:
            self._state.faults.extend(_Fault(grpc_code, status, retry_after) for _ in range(n))

    def set_delay(self, seconds: float) -> None:
        """Every request from now on is held `seconds` before it is answered: a slow backend."""
        with self._lock:
            self._state.delay = seconds

    @property
    def most_in_flight(self) -> int:
        """The most requests that were being answered at the same time."""
        with self._lock:
            return self._state.most_in_flight

    def _hold(self) -> None:
        """Waits out the configured delay, counting the requests held at once."""
        with self._lock:
            delay = self._state.delay
            self._state.in_flight += 1
            self._state.most_in_flight = max(self._state.most_in_flight, self._state.in_flight)
        try:
            if delay:
                time.sleep(delay)
        finally:
            with self._lock:
                self._state.in_flight -= 1

    def set_partial_success(self, rejected: int, message: str = "") -> None:
        """Every accepted request from now on reports `rejected` items (0 and "" to stop)."""
        with self._lock:
            self._state.partial_success = (rejected, message) if rejected or message else None

    # -- what arrived ----------------------------------------------------------------------

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """Every span received, with its resource's attributes."""
        with self._lock:
            requests = list(self.traces)
        return [
            (attributes(rs.resource.attributes), span)
            for request in requests
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Polls `predicate` until it holds (True) or `timeout` seconds pass (False)."""
        return eventually(predicate, timeout)

    def clear(self) -> None:
        with self._lock:
            self.traces.clear()
            self.metrics.clear()
            self.logs.clear()
            self.received.clear()

    # -- shared by both transports ---------------------------------------------------------

    def _decide(self, signal: str, headers: dict[str, str]) -> _Decision:
        for key, value in self.require_headers.items():
            if headers.get(key) != value:
                return _Decision(grpc.StatusCode.UNAUTHENTICATED, 401, f"missing or wrong header {key}")
        with self._lock:
            fault = self._state.faults.pop(0) if self._state.faults else None
            partial = self._state.partial_success
        if fault is not None:
            return _Decision(
                fault.grpc_code, fault.http_status, "injected fault", fault.retry_after, outcome="fault"
            )
        _, response_class, rejected_field, _ = _SIGNALS[signal]
        response = response_class()
        if partial is not None:
            setattr(response.partial_success, rejected_field, partial[0])
            response.partial_success.error_message = partial[1]
        return _Decision(response=response)

    def _record(self, received: Received, accepted: bool) -> None:
        with self._lock:
            self.received.append(received)
            if accepted:
                getattr(self, received.signal).append(received.request)


@dataclass
class Got:
    """One span the sink got, with its resource's attributes (a row of `spans()`)."""

    resource: dict[str, Any]
    span: Span

    @property
    def attrs(self) -> dict[str, Any]:
        return attributes(self.span.attributes)


def attributes(key_values: Any) -> dict[str, Any]:
    """Scalar OTLP attributes as a dict (arrays and maps as their protobuf values)."""
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value") or "string_value") for kv in key_values}


class _Servicer:
    """Export for one signal; the same object serves the Trace, Metrics and Logs services."""

    def __init__(self, sink: OTLPSink, signal: str) -> None:
        self._sink = sink
        self._signal = signal

    def Export(self, request: Any, context: Any) -> Any:
        headers = {key.lower(): value for key, value in context.invocation_metadata()}
        self._sink._hold()
        decision = self._sink._decide(self._signal, headers)
        outcome = decision.outcome if decision.grpc_code is None else decision.grpc_code.name
        self._sink._record(
            Received(self._signal, "grpc", f"/{self._signal}.Export", headers, request, outcome),
            decision.grpc_code is None,
        )
        if decision.grpc_code is not None:
            if isinstance(decision.retry_after, int | float):
                details = encode_status(decision.grpc_code.value[0], decision.message, decision.retry_after)
                context.set_trailing_metadata((("grpc-status-details-bin", details),))
            context.abort(decision.grpc_code, decision.message)
        return decision.response


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], handler: Any, sink: OTLPSink) -> None:
        super().__init__(address, handler)
        self.sink = sink
        if sink.tls:
            self.socket = _server_context(sink.tls).wrap_socket(self.socket, server_side=True)


def _server_context(tls: SinkTLS) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as tmp:  # ssl loads certificates from files only
        cert, key = Path(tmp, "cert.pem"), Path(tmp, "key.pem")
        cert.write_bytes(tls.cert_pem)
        key.write_bytes(tls.key_pem)
        context.load_cert_chain(cert, key)
    if tls.client_ca_pem is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=tls.client_ca_pem.decode())
    return context


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _HTTPServer
    protocol_version = "HTTP/1.0"  # one request per connection, so `set_down` really refuses

    def do_POST(self) -> None:
        sink = self.server.sink
        headers = {key.lower(): value for key, value in self.headers.items()}
        body = self.rfile.read(int(headers.get("content-length", "0")))
        signal = next((s for s in _SIGNALS if self.path.split("?")[0].endswith(f"/v1/{s}")), None)
        if signal is None:
            self._reply(404, b"unknown path", "text/plain")
            return
        request_class = _SIGNALS[signal][0]
        try:
            if headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            request = request_class.FromString(body)
        except Exception as err:
            sink._record(Received(signal, "http", self.path, headers, None, "400"), False)
            self._reply(400, encode_status(3, f"bad request: {err}"), _PROTOBUF)
            return
        decision = sink._decide(signal, headers)
        accepted = decision.grpc_code is None
        outcome = "ok" if accepted else str(decision.http_status)
        sink._record(Received(signal, "http", self.path, headers, request, outcome), accepted)
        if accepted:
            self._reply(200, decision.response.SerializeToString(), _PROTOBUF)
            return
        extra = {} if decision.retry_after is None else {"Retry-After": str(decision.retry_after)}
        code = decision.grpc_code.value[0] if decision.grpc_code else 2
        self._reply(decision.http_status, encode_status(code, decision.message), _PROTOBUF, extra)

    def _reply(
        self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on `received`, not on a log."""
