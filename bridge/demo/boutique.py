"""The demo mesh: an Online-Boutique-shaped set of services behind real Envoy sidecars.

    user -> istio-ingressgateway -> frontend (pod) -> catalog (pod, gRPC)
                                             |-> redis-cart (TCP, no sidecar)
                                             `-> checkout (VM) -> payment (VM)
                                                           |-> shipping (pod)
                                                           `-> api.rates.example (external, no sidecar)

Six Envoy processes (one per workload with a sidecar, each `--concurrency 1`), every one with
Istio's node id and metadata for its kind (pod, VM from a WorkloadGroup, gateway `router~`),
Istio's cluster names, metadata exchange emulated with the `x-envoy-peer-metadata` headers and
`set_filter_state`, and the access loggers configured as the README recommends (the
`content-type`, `grpc-status`, `traceparent` headers included).

Start order follows the ports: the apps first, then the sidecars from the leaves up (a
caller's outbound clusters point at its callees' inbound listeners, whose ports are read back
from Envoy). `stop()` ends every process this mesh started, by PID.
"""

from __future__ import annotations

import http.client
import random
import shutil
import tempfile
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

from bridge.demo import _envoy_config as cfg
from bridge.demo._envoy import EnvoyError, EnvoyProcess
from bridge.demo._services import CATALOG_SERVICE, KNOWN_PRODUCTS, Apps, Outbound
from bridge.demo._workloads import DemoWorkload
from bridge.demo.mesh import REPORTERS, MeshError

NAMESPACE = "boutique"
GATEWAY_HOST = "boutique.example.com"


def _fqdn(service: str) -> str:
    return f"{service}.{NAMESPACE}.svc.cluster.local"


WORKLOADS: dict[str, DemoWorkload] = {
    "istio-ingressgateway": DemoWorkload(
        app="istio-ingressgateway",
        version="1.24.0",
        pod="istio-ingressgateway-7c9d8-x2lwp",
        namespace="istio-system",
        kind="gateway",
        extra_labels={"istio": "ingressgateway"},
    ),
    "frontend": DemoWorkload(
        app="frontend", version="v1", pod="frontend-v1-6f8d9-k2m4p", namespace=NAMESPACE
    ),
    "catalog": DemoWorkload(app="catalog", version="v1", pod="catalog-v1-59b7c-q8r2s", namespace=NAMESPACE),
    "shipping": DemoWorkload(
        app="shipping", version="v1", pod="shipping-v1-84c6d-z7x9w", namespace=NAMESPACE
    ),
    "checkout": DemoWorkload(
        app="checkout", version="v2", pod="checkout-vm-1", namespace=NAMESPACE, kind="vm"
    ),
    "payment": DemoWorkload(app="payment", version="v1", pod="payment-vm-1", namespace=NAMESPACE, kind="vm"),
}


@dataclass(frozen=True)
class Dest:
    """One destination of a workload's outbound traffic, as Istio would build its cluster."""

    name: str  # the destination app (in `Apps`), and the outbound listener's suffix
    host: str  # the service host the cluster is named after
    port: int  # the service port
    protocol: str  # "http" | "grpc" | "tcp"
    sidecar: bool  # False: the cluster points at the app itself (no sidecar there)
    routes: tuple[str, ...] = ("/",)  # routed path prefixes; anything else gets Envoy's 404 (NR)


# Inbound: workload -> (protocol of its app). Outbound: workload -> its destinations.
INBOUND: dict[str, str] = {
    "frontend": "http",
    "checkout": "http",
    "payment": "http",
    "shipping": "http",
    "catalog": "grpc",
}
OUTBOUND: dict[str, tuple[Dest, ...]] = {
    "istio-ingressgateway": (Dest("frontend", _fqdn("frontend"), 8080, "http", True),),
    "frontend": (
        Dest("catalog", _fqdn("catalog"), 3550, "grpc", True, (f"/{CATALOG_SERVICE}/",)),
        Dest("checkout", _fqdn("checkout"), 5050, "http", True, ("/checkout",)),
        Dest("redis-cart", _fqdn("redis-cart"), 6379, "tcp", False),
    ),
    "checkout": (
        Dest("payment", _fqdn("payment"), 50051, "http", True),
        Dest("shipping", _fqdn("shipping"), 50052, "http", True),
        Dest("rates", "api.rates.example", 80, "http", False),
    ),
}
# Start order: callees before callers.
START_ORDER: tuple[tuple[str, ...], ...] = (
    ("payment", "shipping", "catalog"),
    ("checkout",),
    ("frontend",),
    ("istio-ingressgateway",),
)
# Every edge the demo's traffic crosses, by service name (what the bridge names them).
EDGES: tuple[tuple[str, str], ...] = (
    ("istio-ingressgateway", "frontend"),
    ("frontend", "catalog"),
    ("frontend", "checkout"),
    ("frontend", "redis-cart"),
    ("checkout", "payment"),
    ("checkout", "shipping"),
    ("checkout", "api.rates.example"),
)
VMS = ("checkout", "payment")


def _inbound_listener(workload: DemoWorkload, protocol: str, app_port: int, logs: list[cfg.Json]) -> cfg.Json:
    cluster = cfg.inbound_cluster(app_port)
    mx = cfg._mx_headers(workload, cfg._RESPONSE)
    routes = [cfg._route("/", cluster, mx)]
    return cfg._http_listener(f"inbound_{protocol}", routes, logs, [cfg._downstream_peer_filter()])


def _outbound_listener(
    workload: DemoWorkload, dest: Dest, http_logs: list[cfg.Json], tcp_logs: list[cfg.Json]
) -> cfg.Json:
    cluster = cfg.outbound_cluster(dest.port, dest.host)
    if dest.protocol == "tcp":
        return cfg._tcp_listener(f"outbound_{dest.name}", cluster, tcp_logs)
    mx = cfg._mx_headers(workload, cfg._REQUEST)
    routes = [cfg._route(prefix, cluster, mx) for prefix in dest.routes]
    return cfg._http_listener(f"outbound_{dest.name}", routes, http_logs, [])


def sidecar_config(
    name: str,
    app_port: int,
    targets: dict[str, int],
    sink: cfg.AlsSink,
    reporters: str,
) -> cfg.Json:
    """The bootstrap of workload `name`'s Envoy: inbound in front of its app (if it serves),
    one outbound listener per destination; `targets` are the destinations' ports (their
    sidecar's inbound listener, or the app itself when it has no sidecar).

    `reporters="server_side"`: only inbound listeners log (Telemetry API `match: {mode: SERVER}`);
    the gateway logs in either mode (its listener is the only record of the request)."""
    workload = WORKLOADS[name]
    logs_outbound = reporters == "both" or workload.kind == "gateway"
    http_out = [cfg.http_access_log(sink)] if logs_outbound else []
    tcp_out = [cfg.tcp_access_log(sink)] if logs_outbound else []
    listeners: list[cfg.Json] = []
    clusters: list[cfg.Json] = [cfg.als_cluster(sink)]
    if name in INBOUND:
        protocol = INBOUND[name]
        listeners.append(_inbound_listener(workload, protocol, app_port, [cfg.http_access_log(sink)]))
        clusters.append(
            cfg._static_cluster(cfg.inbound_cluster(app_port), app_port, http2=protocol == "grpc")
        )
    for dest in OUTBOUND.get(name, ()):
        listeners.append(_outbound_listener(workload, dest, http_out, tcp_out))
        cluster = cfg.outbound_cluster(dest.port, dest.host)
        clusters.append(cfg._static_cluster(cluster, targets[dest.name], http2=dest.protocol == "grpc"))
    return cfg._bootstrap(workload, listeners, clusters)


class Boutique:
    """The demo mesh on 127.0.0.1, sending ALS to `als_address`; a context manager."""

    def __init__(self, als_address: str, reporters: str = "both", workdir: Path | None = None) -> None:
        if reporters not in REPORTERS:
            raise ValueError(f"reporters must be one of {', '.join(REPORTERS)}, not {reporters!r}")
        host, _, port = als_address.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"als_address must be HOST:PORT, not {als_address!r}")
        self.reporters = reporters
        self._sink = cfg.AlsSink(host=host, port=int(port), flush_interval_s=0.5)
        self._workdir_arg = workdir
        self.workdir: Path | None = None
        self.apps = Apps()
        self.envoys: dict[str, EnvoyProcess] = {}
        self._inbound_ports: dict[str, int] = {}
        self.gateway_port = 0

    def __enter__(self) -> Boutique:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pids(self) -> list[int]:
        return [pid for envoy in self.envoys.values() if (pid := envoy.pid)]

    def start(self) -> None:
        """Apps, then the sidecars level by level (those of one level in parallel)."""
        self.workdir = self._workdir_arg or Path(tempfile.mkdtemp(prefix="als-bridge-demo-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.apps.start()
            for level in START_ORDER:
                with futures.ThreadPoolExecutor(len(level)) as pool:
                    list(pool.map(self._start_sidecar, level))
        except EnvoyError as error:
            self.stop(keep_workdir=True)
            raise MeshError(f"{error}\n(workdir kept: {self.workdir})") from error
        except BaseException:
            self.stop()
            raise

    def _target_port(self, dest: Dest) -> int:
        return self._inbound_ports[dest.name] if dest.sidecar else self.apps.ports[dest.name]

    def _start_sidecar(self, name: str) -> None:
        assert self.workdir is not None
        targets = {d.name: self._target_port(d) for d in OUTBOUND.get(name, ())}
        config = sidecar_config(name, self.apps.ports.get(name, 0), targets, self._sink, self.reporters)
        envoy = EnvoyProcess(name, config, self.workdir)
        self.envoys[name] = envoy  # registered first, so stop() ends it even if start fails
        envoy.start()
        ports = envoy.listener_ports()
        if name in INBOUND:
            self._inbound_ports[name] = ports[f"inbound_{INBOUND[name]}"]
        for dest in OUTBOUND.get(name, ()):
            port = ports[f"outbound_{dest.name}"]
            if name == "istio-ingressgateway":
                self.gateway_port = port
            elif name in self.apps.calls:
                self.apps.calls[name].outbound[dest.name] = Outbound(f"{dest.host}:{dest.port}", port)

    def stop(self, keep_workdir: bool = False) -> None:
        """End every Envoy this mesh started (by PID), then the apps; remove the workdir it made."""
        for envoy in list(self.envoys.values()):
            envoy.stop()
        self.envoys.clear()
        self.apps.stop()
        if self._workdir_arg is None and self.workdir is not None and not keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


# -- the users ----------------------------------------------------------------------------------

# (weight, method, path) of what users do; `{product}` is a product id, sometimes unknown.
VISITS: tuple[tuple[int, str, str], ...] = (
    (30, "GET", "/"),
    (30, "GET", "/product/{product}"),
    (32, "POST", "/cart/checkout"),
    (8, "GET", "/coupons"),
)
UNKNOWN_PRODUCT_RATE = 0.1


@dataclass
class TrafficStats:
    """What the users sent; only for the progress line, never for the report (that comes from
    what the bridge exported)."""

    sent: int = 0
    failed_to_send: int = 0


class Users:
    """Steady traffic into the gateway at `rate` visits per second from a few threads, each user
    request with a fresh W3C `traceparent` (a browser's), until `stop()`."""

    def __init__(self, port: int, rate: float, threads: int = 3, seed: int = 11) -> None:
        self.port = port
        self.rate = rate
        self.threads = threads
        self.stats = TrafficStats()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> None:
        for i in range(self.threads):
            thread = threading.Thread(target=self._run, args=(i,), name=f"user-{i}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout=10)
        self._workers.clear()

    def _next(self) -> tuple[str, str, str]:
        with self._lock:
            weights = [w for w, _, _ in VISITS]
            _, method, path = self._rng.choices(VISITS, weights)[0]
            product = (
                f"discontinued-{self._rng.randrange(100)}"
                if self._rng.random() < UNKNOWN_PRODUCT_RATE
                else self._rng.choice(KNOWN_PRODUCTS)
            )
            traceparent = f"00-{self._rng.getrandbits(128):032x}-{self._rng.getrandbits(64):016x}-01"
        return method, path.format(product=product), traceparent

    def _run(self, index: int) -> None:
        interval = self.threads / self.rate if self.rate > 0 else 1.0
        next_at = time.monotonic() + index * interval / self.threads
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += interval
            method, path, traceparent = self._next()
            ok = visit(self.port, method, path, traceparent)
            with self._lock:
                self.stats.sent += 1
                self.stats.failed_to_send += 0 if ok else 1


def visit(port: int, method: str, path: str, traceparent: str) -> bool:
    """One user request to the ingress gateway; False if it could not be sent at all."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request(method, path, headers={"host": GATEWAY_HOST, "traceparent": traceparent})
        conn.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        conn.close()
