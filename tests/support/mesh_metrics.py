"""One real-Envoy traffic run whose metrics land in a real VictoriaMetrics and a real Prometheus.

Why one run: starting Envoy, the bridge and both stores costs tens of seconds on a 2-core machine,
and every test that checks a query (the README's, the shipped dashboards', Istio's and Kiali's)
needs the same thing: the bridge's metrics after known traffic, on both paths (OTLP push to
VictoriaMetrics, scrape by Prometheus). `tests/integration/conftest.py` makes it a package-scoped
fixture.

Why two rounds: dashboards query `rate(...)`, and a counter whose samples all hold the same value
has a rate of zero. Each round sends every kind of call once per `ROUND` count, and the second
round starts only after both stores hold the first, so every series increases between samples.

Besides the mesh traffic, each round sends the bridge what its health dashboard shows: a malformed
ALS message (`als_bridge_decode_errors_total{kind="malformed_message"}`) and entries on a stream
that never identified itself (`als_bridge_entries_dropped_total{reason="no_identifier"}`), neither
of which adds to the mesh's metrics. Two exporters aimed at a closed port give export failures
(`retry_on_failure` off) and queue drops (a queue smaller than one export).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from bridge.config.model import ComponentID
from bridge.demo import Mesh
from bridge.service import Service
from tests.fixtures.als import http_entry, message, send_stream
from tests.support.backends import Prometheus, VictoriaMetrics, _Store
from tests.support.bridge import running_bridge

ROUNDS = 2
# calls of each kind in one round
ROUND = {"http_ok": 2, "http_503": 1, "no_route": 1, "grpc_ok": 1, "grpc_not_found": 1, "tcp": 1}
HTTP_OK = ROUNDS * ROUND["http_ok"]
HTTP_503 = ROUNDS * ROUND["http_503"]
NO_ROUTE = ROUNDS * ROUND["no_route"]
GRPC_OK = ROUNDS * ROUND["grpc_ok"]
GRPC_NOT_FOUND = ROUNDS * ROUND["grpc_not_found"]
TCP = ROUNDS * ROUND["tcp"]
TCP_PAYLOAD = b"ping\n"
# calls that reach b's sidecar (the no-route requests never leave a's)
MESHED = HTTP_OK + HTTP_503 + GRPC_OK + GRPC_NOT_FOUND

FAILING_EXPORTER = "otlphttp/closed"  # export failures, reason retry_disabled
DROPPING_EXPORTER = "otlphttp/tiny_queue"  # queue drops
_CLOSED_PORT = "http://127.0.0.1:1"


@dataclass
class MeshMetrics:
    """The two stores after the traffic, and the bridge that fed them (still running)."""

    vm: VictoriaMetrics
    prometheus: Prometheus
    service: Service

    @property
    def stores(self) -> tuple[_Store, _Store]:
        return self.vm, self.prometheus

    def store(self, name: str) -> _Store:
        """ "victoria-metrics" or "prometheus"."""
        return {s.name: s for s in self.stores}[name]


def bridge_config(vm_url: str) -> dict[str, Any]:
    """Metrics to VictoriaMetrics over OTLP/HTTP and on the `prometheus` exporter, plus two
    exporters that cannot deliver."""
    closed = {"endpoint": _CLOSED_PORT, "compression": "none", "timeout": "1s"}
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0", "metrics": {"interval": "500ms"}}},
        "processors": {"batch": {"timeout": "100ms"}},
        "exporters": {
            "otlphttp/vm": {
                "endpoint": "http://127.0.0.1:1",
                "metrics_endpoint": vm_url,
                "compression": "gzip",
            },
            "prometheus": {"endpoint": "127.0.0.1:0"},
            FAILING_EXPORTER: {**closed, "retry_on_failure": {"enabled": False}},
            DROPPING_EXPORTER: {**closed, "sending_queue": {"queue_size": 1}},
        },
        "service": {
            "pipelines": {
                "metrics": {
                    "receivers": ["envoy_als"],
                    "processors": ["batch"],
                    "exporters": ["otlphttp/vm", "prometheus", FAILING_EXPORTER, DROPPING_EXPORTER],
                }
            }
        },
    }


def send_round(mesh: Mesh, als_port: int) -> None:
    """One round of every kind of call, and the bad ALS input the health dashboard counts."""
    for _ in range(ROUND["http_ok"]):
        assert mesh.http_get("/status/200") == 200
    for _ in range(ROUND["http_503"]):
        assert mesh.http_get("/status/503") == 503
    for _ in range(ROUND["no_route"]):
        assert mesh.http_get("/nowhere") == 404
    for _ in range(ROUND["grpc_ok"]):
        assert mesh.grpc_lookup("alice") == grpc.StatusCode.OK
    for _ in range(ROUND["grpc_not_found"]):
        assert mesh.grpc_lookup("nobody") == grpc.StatusCode.NOT_FOUND
    for _ in range(ROUND["tcp"]):
        assert mesh.tcp_roundtrip(TCP_PAYLOAD) == TCP_PAYLOAD
    send_stream(als_port, [b"\xff\xff\xff\xff\x0f not an ALS message"])
    send_stream(als_port, [message([http_entry(request_id="anonymous")], identify=False).SerializeToString()])


def _prometheus_port(service: Service) -> int:
    port: int = service.exporters[ComponentID("prometheus")].exporter.port  # type: ignore[attr-defined]
    return port


def wait_for_requests(stores: tuple[_Store, ...], count: int) -> None:
    """Until both sidecars' entries of `count` meshed requests are in every store."""
    for store in stores:
        store.wait_for_query(
            'sum(istio_requests_total{reporter="destination"})',
            lambda r: bool(r) and r[0][1] == count,
            timeout=30,
        )


@contextmanager
def mesh_metrics() -> Iterator[MeshMetrics]:
    """Start the stores, the bridge and the mesh; send the rounds; yield with everything running."""
    with ExitStack() as stack:
        vm = stack.enter_context(VictoriaMetrics())
        service = stack.enter_context(running_bridge(bridge_config(vm.otlp_metrics_url)))
        prom = stack.enter_context(Prometheus([f"127.0.0.1:{_prometheus_port(service)}"]))
        als_port = service.receivers[0].port
        with Mesh(als_address=f"127.0.0.1:{als_port}") as mesh:
            per_round = MESHED // ROUNDS
            for n in range(1, ROUNDS + 1):
                send_round(mesh, als_port)
                wait_for_requests((vm, prom), n * per_round)
                if n < ROUNDS:
                    time.sleep(1.5)  # a few more samples of this round's values in both stores
            time.sleep(2.5)  # the last round's self counters: a few scrapes (1 s) and exports (0.5 s) more
            yield MeshMetrics(vm, prom, service)  # Envoy still streams to the bridge: streams_open > 0
