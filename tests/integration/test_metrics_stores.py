"""Real Envoy -> the bridge -> metrics in real stores -> the PromQL that existing views run.

The bridge pushes its metrics over OTLP/HTTP to VictoriaMetrics (what an OTLP metrics backend
sees) and serves them on its `prometheus` exporter, scraped by a real Prometheus 2.42. The queries
are the kind Istio's dashboards, Kiali, Grafana's service graph and Jaeger's Monitor tab run, and
must return exactly the requests the test sent, on both paths. The traffic and the stores are
`tests.support.mesh_metrics`' (the package's `metric_stores` fixture).
"""

from __future__ import annotations

import pytest

from tests.support.backends import _Store
from tests.support.mesh_metrics import (
    GRPC_NOT_FOUND,
    GRPC_OK,
    HTTP_503,
    HTTP_OK,
    MESHED,
    NO_ROUTE,
    TCP,
    TCP_PAYLOAD,
    MeshMetrics,
)

pytestmark = [pytest.mark.envoy, pytest.mark.backends]


def _by(result: list[tuple[dict[str, str], float]], *labels: str) -> dict[tuple[str, ...], float]:
    return {tuple(m.get(label, "") for label in labels): v for m, v in result}


@pytest.mark.parametrize("store_name", ["victoria-metrics", "prometheus"])
def test_istio_dashboard_queries(metric_stores: MeshMetrics, store_name: str) -> None:
    store: _Store = metric_stores.store(store_name)
    q = 'sum by (response_code) (istio_requests_total{reporter="destination",destination_workload="b-v1",request_protocol="http"})'
    assert _by(store.query(q), "response_code") == {("200",): HTTP_OK, ("503",): HTTP_503}
    q = 'sum by (grpc_response_status) (istio_requests_total{reporter="source",source_workload="a-v1",request_protocol="grpc"})'
    assert _by(store.query(q), "grpc_response_status") == {("0",): GRPC_OK, ("5",): GRPC_NOT_FOUND}
    q = 'sum(istio_requests_total{reporter="source",response_flags="NR"})'
    assert _by(store.query(q)) == {(): NO_ROUTE}
    q = 'sum by (source_workload, destination_workload) (istio_request_duration_milliseconds_count{reporter="destination"})'
    assert _by(store.query(q), "source_workload", "destination_workload") == {("a-v1", "b-v1"): MESHED}
    q = 'sum(istio_tcp_connections_opened_total{reporter="destination"})'
    assert _by(store.query(q)) == {(): TCP}
    q = 'sum(istio_tcp_received_bytes_total{reporter="destination"})'
    assert _by(store.query(q)) == {(): TCP * len(TCP_PAYLOAD)}


@pytest.mark.parametrize("store_name", ["victoria-metrics", "prometheus"])
def test_service_graph_span_metrics_and_semconv_queries(metric_stores: MeshMetrics, store_name: str) -> None:
    store: _Store = metric_stores.store(store_name)
    meshed = MESHED
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
        ("demo.Greeter/Lookup",): GRPC_OK + GRPC_NOT_FOUND,
        ("TCP",): TCP,
    }
    q = 'sum(traces_span_metrics_calls_total{service_name="a",span_kind="SPAN_KIND_CLIENT",status_code="STATUS_CODE_ERROR"})'
    assert _by(store.query(q)) == {
        (): HTTP_503 + NO_ROUTE + GRPC_NOT_FOUND
    }  # a no-route 404 is a client error
    q = 'histogram_quantile(0.5, sum by (le) (traces_span_metrics_duration_seconds_bucket{service_name="b"}))'
    ((_, median),) = store.query(q)
    assert 0 < median < 1  # seconds: local calls are fast
    # OTel semantic-convention metrics
    assert _by(store.query("sum(http_server_request_duration_seconds_count)")) == {(): HTTP_OK + HTTP_503}
    assert _by(store.query("sum(http_client_request_duration_seconds_count)")) == {
        (): HTTP_OK + HTTP_503 + NO_ROUTE
    }
    assert _by(store.query("sum(rpc_server_call_duration_seconds_count)")) == {(): GRPC_OK + GRPC_NOT_FOUND}


def test_the_bridge_reports_itself(metric_stores: MeshMetrics) -> None:
    received = metric_stores.prometheus.query("sum(als_bridge_entries_received_total)")
    assert received and received[0][1] >= 2 * MESHED + NO_ROUTE
