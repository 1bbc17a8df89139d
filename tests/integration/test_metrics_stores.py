"""Real Envoy -> the bridge -> metrics in real stores -> the PromQL that existing views run.

The bridge pushes its metrics over OTLP/HTTP to VictoriaMetrics (what an OTLP metrics backend
sees) and serves them on its `prometheus` exporter, scraped by a real Prometheus 2.42. The queries
are the kind Istio's dashboards, Kiali, Grafana's service graph and Jaeger's Monitor tab run, and
must return exactly the requests the test sent, on both paths.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from bridge.config.model import ComponentID
from bridge.demo import Mesh
from bridge.service import Service
from tests.support.backends import Prometheus, VictoriaMetrics, _Store
from tests.support.bridge import running_bridge

pytestmark = [pytest.mark.envoy, pytest.mark.backends]

HTTP_OK, HTTP_503, GRPC_OK, GRPC_NOT_FOUND = 3, 2, 2, 1


def _config(vm_url: str) -> dict[str, Any]:
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
        },
        "service": {
            "pipelines": {
                "metrics": {
                    "receivers": ["envoy_als"],
                    "processors": ["batch"],
                    "exporters": ["otlphttp/vm", "prometheus"],
                }
            }
        },
    }


def _send(mesh: Mesh) -> None:
    for _ in range(HTTP_OK):
        assert mesh.http_get("/status/200") == 200
    for _ in range(HTTP_503):
        assert mesh.http_get("/status/503") == 503
    assert mesh.http_get("/nowhere") == 404
    for _ in range(GRPC_OK):
        assert mesh.grpc_lookup("alice") == grpc.StatusCode.OK
    for _ in range(GRPC_NOT_FOUND):
        assert mesh.grpc_lookup("nobody") == grpc.StatusCode.NOT_FOUND
    assert mesh.tcp_roundtrip(b"ping\n") == b"ping\n"


def _prometheus_port(service: Service) -> int:
    port: int = service.exporters[ComponentID("prometheus")].exporter.port  # type: ignore[attr-defined]
    return port


@pytest.fixture(scope="module")
def stores() -> Iterator[tuple[VictoriaMetrics, Prometheus]]:
    with (
        VictoriaMetrics() as vm,
        running_bridge(_config(vm.otlp_metrics_url)) as service,
        Prometheus([f"127.0.0.1:{_prometheus_port(service)}"]) as prom,
    ):
        with Mesh(als_address=f"127.0.0.1:{service.receivers[0].port}") as mesh:
            _send(mesh)
            total = HTTP_OK + HTTP_503 + GRPC_OK + GRPC_NOT_FOUND
            # wait until both sidecars' entries have been aggregated (2 per meshed request)
            for store in (vm, prom):
                store.wait_for_query(
                    'sum(istio_requests_total{reporter="destination"})',
                    lambda r, total=total: bool(r) and r[0][1] == total,
                    timeout=30,
                )
        yield vm, prom


def _by(result: list[tuple[dict[str, str], float]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(m.get(label, "") for label in labels): v for m, v in result}


@pytest.mark.parametrize("store_name", ["victoria-metrics", "prometheus"])
def test_istio_dashboard_queries(stores: tuple[VictoriaMetrics, Prometheus], store_name: str) -> None:
    store: _Store = stores[0] if store_name == "victoria-metrics" else stores[1]
    q = 'sum by (response_code) (istio_requests_total{reporter="destination",destination_workload="b-v1",request_protocol="http"})'
    assert _by(store.query(q), "response_code") == {("200",): HTTP_OK, ("503",): HTTP_503}
    q = 'sum by (grpc_response_status) (istio_requests_total{reporter="source",source_workload="a-v1",request_protocol="grpc"})'
    assert _by(store.query(q), "grpc_response_status") == {("0",): GRPC_OK, ("5",): GRPC_NOT_FOUND}
    q = 'sum(istio_requests_total{reporter="source",response_flags="NR"})'
    assert _by(store.query(q)) == {(): 1}
    q = 'sum by (source_workload, destination_workload) (istio_request_duration_milliseconds_count{reporter="destination"})'
    assert _by(store.query(q), "source_workload", "destination_workload") == {
        ("a-v1", "b-v1"): HTTP_OK + HTTP_503 + GRPC_OK + GRPC_NOT_FOUND
    }
    q = 'sum(istio_tcp_connections_opened_total{reporter="destination"})'
    assert _by(store.query(q)) == {(): 1}
    q = 'sum(istio_tcp_received_bytes_total{reporter="destination"})'
    assert _by(store.query(q)) == {(): len(b"ping\n")}


@pytest.mark.parametrize("store_name", ["victoria-metrics", "prometheus"])
def test_service_graph_span_metrics_and_semconv_queries(
    stores: tuple[VictoriaMetrics, Prometheus], store_name: str
) -> None:
    store: _Store = stores[0] if store_name == "victoria-metrics" else stores[1]
    meshed = HTTP_OK + HTTP_503 + GRPC_OK + GRPC_NOT_FOUND
    q = 'sum by (client, server) (traces_service_graph_request_total{connection_type=""})'
    assert _by(store.query(q), "client", "server") == {("a", "b"): meshed}
    q = 'sum by (client, server) (traces_service_graph_request_failed_total{connection_type=""})'
    assert _by(store.query(q), "client", "server") == {("a", "b"): HTTP_503 + GRPC_NOT_FOUND}
    q = 'sum(traces_service_graph_request_server_seconds_count{server="b",connection_type=""})'
    assert _by(store.query(q)) == {(): meshed}
    # Jaeger's Monitor tab
    q = 'sum by (span_name) (traces_span_metrics_calls_total{service_name="b",span_kind="SPAN_KIND_SERVER"})'
    assert _by(store.query(q), "span_name") == {
        ("GET",): HTTP_OK + HTTP_503,
        ("demo.Greeter/Lookup",): 3,
        ("TCP",): 1,
    }
    q = 'sum(traces_span_metrics_calls_total{service_name="a",span_kind="SPAN_KIND_CLIENT",status_code="STATUS_CODE_ERROR"})'
    assert _by(store.query(q)) == {(): HTTP_503 + 1 + GRPC_NOT_FOUND}  # the no-route 404 is a client error
    q = 'histogram_quantile(0.5, sum by (le) (traces_span_metrics_duration_seconds_bucket{service_name="b"}))'
    ((_, median),) = store.query(q)
    assert 0 < median < 1  # seconds: local calls are fast
    # OTel semantic-convention metrics
    assert _by(store.query("sum(http_server_request_duration_seconds_count)")) == {(): HTTP_OK + HTTP_503}
    assert _by(store.query("sum(http_client_request_duration_seconds_count)")) == {(): HTTP_OK + HTTP_503 + 1}
    assert _by(store.query("sum(rpc_server_call_duration_seconds_count)")) == {(): GRPC_OK + GRPC_NOT_FOUND}


def test_the_bridge_reports_itself(stores: tuple[VictoriaMetrics, Prometheus]) -> None:
    _, prom = stores
    received = prom.query("sum(als_bridge_entries_received_total)")
    assert received and received[0][1] >= 2 * 8 + 1
