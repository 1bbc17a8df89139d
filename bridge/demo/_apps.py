"""Workload B's application: an HTTP/1.1 server, a gRPC server and a TCP echo server.

All three run in threads of this process and bind port 0 on 127.0.0.1, so the ports are
race-free; the server sidecar's config is written after they are up.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
import urllib.parse
from collections.abc import Callable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc

HOST = "127.0.0.1"
GRPC_SERVICE = "demo.Greeter"
GRPC_METHOD = "Lookup"
# The one key `Lookup` knows; any other key is answered NOT_FOUND without a body ("trailers-only").
KNOWN_KEY = "alice"


class _StatusHandler(BaseHTTPRequestHandler):
    """`GET /status/<code>` answers `<code>` with a small body (after `?delay_ms=N`); anything
    else 404."""

    protocol_version = "HTTP/1.1"  # keep-alive, as Envoy's upstream pool expects

    def do_GET(self) -> None:
        delay = _delay_s(self.path)
        if delay:
            time.sleep(delay)  # a slow call, for latency-based sampling
        code = _status_code(self.path)
        body = f"status {code}\n".encode() if code else b"unknown path\n"
        self.send_response(code or 404)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        # the caller may have given up waiting (a test of cancelled calls): nothing to answer
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line; Envoy's ALS is the log we care about."""


def _delay_s(path: str) -> float:
    """`?delay_ms=N` (at most 10 s): how long to wait before answering."""
    query = urllib.parse.parse_qs(path.partition("?")[2])
    text = query.get("delay_ms", ["0"])[0]
    return min(int(text), 10_000) / 1000 if text.isdigit() else 0.0


def _status_code(path: str) -> int:
    """The code asked for by `/status/<code>`, or 0 if the path is not one."""
    prefix = "/status/"
    if not path.startswith(prefix):
        return 0
    text = path[len(prefix) :].split("?", 1)[0]
    if text.isdigit() and 200 <= int(text) <= 599:
        return int(text)
    return 0


class _EchoHandler(socketserver.BaseRequestHandler):
    """Echo every byte until the peer half-closes, then close: one TCP "request" per connection."""

    def handle(self) -> None:
        sock = self.request
        while chunk := sock.recv(65536):
            sock.sendall(chunk)


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _lookup(request: bytes, context: grpc.ServicerContext) -> bytes:
    """`demo.Greeter/Lookup`: raw bytes in and out, so no generated code is needed."""
    key = request.decode("utf-8", "replace")
    if key == KNOWN_KEY:
        return f"hello {key}".encode()
    context.abort(grpc.StatusCode.NOT_FOUND, f"no such key: {key}")
    raise AssertionError("unreachable: abort raises")


def tcp_exchange(port: int, payload: bytes, timeout: float) -> bytes:
    """A client's TCP round trip through a loopback port: send `payload`, half-close, and read
    until the other side closes (one connection, so one TCP access-log entry)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


class ServerThreads:
    """Servers run in daemon threads of this process, and their one-call shutdown; the base of
    both demos' application sets (workload B here, the boutique services in `_services`)."""

    def __init__(self) -> None:
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []
        self._grpc: grpc.Server | None = None

    def _serve(self, server: socketserver.TCPServer, name: str) -> int:
        """Run `server` in a daemon thread; returns its bound port."""
        self._servers.append(server)
        thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)
        return int(server.server_address[1])

    def _serve_grpc(
        self,
        service: str,
        method: str,
        unary: Callable[[bytes, grpc.ServicerContext], bytes],
        thread_prefix: str,
    ) -> int:
        """Start the one gRPC server (a single unary method of `service`); returns its port."""
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix=thread_prefix))
        handler = grpc.method_handlers_generic_handler(
            service, {method: grpc.unary_unary_rpc_method_handler(unary)}
        )
        server.add_generic_rpc_handlers((handler,))
        port: int = server.add_insecure_port(f"{HOST}:0")
        server.start()
        self._grpc = server
        return port

    def stop(self) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace=0).wait(5)
            self._grpc = None
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()


class UpstreamApp(ServerThreads):
    """The three servers of workload B; `start()` binds them, `stop()` shuts down what started."""

    def __init__(self) -> None:
        super().__init__()
        self.http_port = 0
        self.grpc_port = 0
        self.tcp_port = 0

    def start(self) -> None:
        http = ThreadingHTTPServer((HOST, 0), _StatusHandler)
        http.daemon_threads = True
        self.http_port = self._serve(http, "demo-http")
        self.tcp_port = self._serve(_EchoServer((HOST, 0), _EchoHandler), "demo-echo")
        self.grpc_port = self._serve_grpc(GRPC_SERVICE, GRPC_METHOD, _lookup, "demo-grpc")
