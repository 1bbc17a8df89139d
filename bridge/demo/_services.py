"""The demo's applications: tiny Online-Boutique-shaped services, each behind its own sidecar.

Every service runs in a thread of this process on a free loopback port. A service calls the
others only through its own sidecar's outbound listeners (as an app in a mesh does), and
forwards `x-request-id` and `traceparent`, the headers Istio asks applications to propagate, so
that the spans of one user request form one trace.

What each answers, and the errors the mesh gets from them:
* `frontend`: `/` (a gRPC call to catalog), `/product/<id>` (gRPC NOT_FOUND for an unknown id,
  answered 404), `/cart/checkout` (a TCP round trip to redis-cart, then checkout), `/coupons`
  (a path its sidecar has no route for: Envoy answers 404 with flag NR; frontend degrades to 200).
* `checkout` (a VM): rates (the external service), payment, then shipping; 502 if payment failed.
* `payment` (a VM): 503 now and then; `shipping`: now and then slow.
* `catalog`: gRPC `boutique.Catalog/GetProduct`; `rates`: the external service (no sidecar);
  `redis-cart`: a TCP server (no sidecar) that answers every command with `+OK`.
"""

from __future__ import annotations

import http.client
import random
import socketserver
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc

from bridge.demo._apps import ServerThreads, tcp_exchange

HOST = "127.0.0.1"
CATALOG_SERVICE = "boutique.Catalog"
CATALOG_METHOD = "GetProduct"
CATALOG_PATH = f"/{CATALOG_SERVICE}/{CATALOG_METHOD}"
KNOWN_PRODUCTS = ("featured", "sunglasses", "tank-top", "watch", "loafers", "mug")
PROPAGATED = ("x-request-id", "traceparent", "tracestate")
TIMEOUT_S = 5.0

# How often each kind of error happens (the same in every run: a seeded random generator).
PAYMENT_FAILURE_RATE = 0.08
SHIPPING_SLOW_RATE = 0.1
SHIPPING_SLOW_S = 0.35

# (status, body) of one request; `Call` makes outbound calls through the service's own sidecar.
Reply = tuple[int, bytes]
Handler = Callable[["Request", "Call"], Reply]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: Mapping[str, str]

    def propagated(self) -> dict[str, str]:
        """The headers a mesh application forwards on every call it makes for this request."""
        return {k: v for k, v in self.headers.items() if k in PROPAGATED}


@dataclass
class Outbound:
    """One destination as the calling app sees it: its sidecar's outbound listener port, and the
    authority of the destination's service (what `host` says, as the app would address it)."""

    authority: str
    port: int = 0  # set once the caller's sidecar has started


@dataclass
class Call:
    """Outbound calls of one app, each through that app's sidecar."""

    outbound: dict[str, Outbound] = field(default_factory=dict)
    _channels: dict[str, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def http(self, dest: str, method: str, path: str, request: Request) -> int:
        target = self.outbound[dest]
        conn = http.client.HTTPConnection(HOST, target.port, timeout=TIMEOUT_S)
        try:
            headers = {"host": target.authority, **request.propagated()}
            conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers)
            reply = conn.getresponse()
            reply.read()
            return reply.status
        except OSError:
            return 503
        finally:
            conn.close()

    def grpc(self, dest: str, key: str, request: Request) -> grpc.StatusCode:
        call = self._channel(dest).unary_unary(CATALOG_PATH)
        try:
            call(key.encode(), timeout=TIMEOUT_S, metadata=tuple(request.propagated().items()))
        except grpc.RpcError as error:
            code: grpc.StatusCode = error.code()
            return code
        return grpc.StatusCode.OK

    def _channel(self, dest: str) -> Any:
        with self._lock:
            if dest not in self._channels:
                target = self.outbound[dest]
                options = [("grpc.default_authority", target.authority)]
                self._channels[dest] = grpc.insecure_channel(f"{HOST}:{target.port}", options=options)
            return self._channels[dest]

    def tcp(self, dest: str, payload: bytes) -> bytes:
        """One connection per command (redis clients pool, but this keeps each in its own entry)."""
        try:
            return tcp_exchange(self.outbound[dest].port, payload, TIMEOUT_S)
        except OSError:
            return b""

    def close(self) -> None:
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()


# -- the handlers -------------------------------------------------------------------------------


def frontend(request: Request, call: Call) -> Reply:
    path = request.path.split("?", 1)[0]
    if path == "/":
        code = call.grpc("catalog", "featured", request)
        return (200, b"home\n") if code == grpc.StatusCode.OK else (500, b"catalog failed\n")
    if path.startswith("/product/"):
        code = call.grpc("catalog", path.removeprefix("/product/"), request)
        if code == grpc.StatusCode.OK:
            return 200, b"product\n"
        return (
            (404, b"no such product\n") if code == grpc.StatusCode.NOT_FOUND else (500, b"catalog failed\n")
        )
    if path == "/cart/checkout":
        call.tcp("redis-cart", b"HGETALL cart:demo-user\r\n")
        status = call.http("checkout", "POST", "/checkout", request)
        return (200, b"order placed\n") if status == 200 else (502, b"checkout failed\n")
    if path == "/coupons":
        call.http("checkout", "GET", "/legacy/coupons", request)  # no route: frontend's sidecar says 404
        return 200, b"no coupons today\n"
    return 404, b"not found\n"


def checkout(request: Request, call: Call) -> Reply:
    if request.path != "/checkout":
        return 404, b"not found\n"
    call.http("rates", "GET", "/v1/rates?base=USD", request)
    if call.http("payment", "POST", "/charge", request) != 200:
        return 502, b"payment failed\n"
    call.http("shipping", "POST", "/quote", request)
    return 200, b"ok\n"


def payment(rng: random.Random) -> Handler:
    def handle(request: Request, call: Call) -> Reply:
        if rng.random() < PAYMENT_FAILURE_RATE:
            return 503, b"card processor unavailable\n"
        return 200, b"charged\n"

    return handle


def shipping(rng: random.Random) -> Handler:
    def handle(request: Request, call: Call) -> Reply:
        if rng.random() < SHIPPING_SLOW_RATE:
            time.sleep(SHIPPING_SLOW_S)  # the slow call
        return 200, b"quote: 8.99 USD\n"

    return handle


def rates(request: Request, call: Call) -> Reply:
    return 200, b'{"EUR": 0.92, "JPY": 151.2}\n'


def _get_product(request: bytes, context: grpc.ServicerContext) -> bytes:
    key = request.decode("utf-8", "replace")
    if key in KNOWN_PRODUCTS:
        return f"product {key}".encode()
    context.abort(grpc.StatusCode.NOT_FOUND, f"no product {key}")
    raise AssertionError("unreachable: abort raises")


# -- servers ------------------------------------------------------------------------------------


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _AppServer

    def _handle(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body = self.server.handler(Request(self.command, self.path, headers), self.server.call)
        self.send_response(status)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _handle
    do_POST = _handle

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the sidecars' access logs are the demo's log."""


class _AppServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, handler: Handler, call: Call) -> None:
        super().__init__((HOST, 0), _HTTPHandler)
        self.handler = handler
        self.call = call


class _RedisHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        sock = self.request
        while sock.recv(65536):
            pass
        sock.sendall(b"+OK\r\n")


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Apps(ServerThreads):
    """All demo applications; `start()` binds every one, `stop()` ends what started."""

    def __init__(self, seed: int = 7) -> None:
        super().__init__()
        rng = random.Random(seed)
        self.handlers: dict[str, Handler] = {
            "frontend": frontend,
            "checkout": checkout,
            "payment": payment(rng),
            "shipping": shipping(rng),
            "rates": rates,
        }
        self.calls: dict[str, Call] = {name: Call() for name in self.handlers}
        self.ports: dict[str, int] = {}

    def start(self) -> None:
        for name, handler in self.handlers.items():
            self.ports[name] = self._serve(_AppServer(handler, self.calls[name]), f"app-{name}")
        self.ports["redis-cart"] = self._serve(_TCPServer((HOST, 0), _RedisHandler), "app-redis-cart")
        self.ports["catalog"] = self._serve_grpc(CATALOG_SERVICE, CATALOG_METHOD, _get_product, "catalog")

    def stop(self) -> None:
        for call in self.calls.values():
            call.close()
        super().stop()
