"""Every query of the shipped Grafana dashboards, and a representative set of Istio's dashboards',
Kiali's, Grafana's Tempo service graph's and Jaeger's Monitor tab's, run against the real
Prometheus and VictoriaMetrics after real-Envoy traffic (`tests.support.mesh_metrics`).

The dashboards' template variables are substituted as Grafana would: `$__rate_interval` by a
window that covers the traffic, `$namespace` / `$service` by "All" (`.*`) and by one chosen
value. A query must return the series the traffic implies (labels, and values where the traffic
fixes them), not merely run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.backends import Result
from tests.support.mesh_metrics import (
    DROPPING_EXPORTER,
    FAILING_EXPORTER,
    HTTP_503,
    MESHED,
    NO_ROUTE,
    MeshMetrics,
)

pytestmark = [pytest.mark.envoy, pytest.mark.backends]

DASHBOARDS = Path(__file__).parents[2] / "deploy/kustomize/components/dashboards"
STORES = ["victoria-metrics", "prometheus"]
WINDOW = "5m"


def dashboard_queries(name: str) -> Iterator[tuple[str, str]]:
    """(panel title / refId, expr) of every target of every panel of a shipped dashboard."""
    data = json.loads((DASHBOARDS / name).read_text())
    for panel in data["panels"]:
        for target in panel.get("targets", []):
            yield f"{panel['title']} / {target['refId']}", target["expr"]


def substitute(expr: str, namespace: str = ".*", service: str = ".*") -> str:
    """Grafana's variables as a user's choice sets them; anything left unreplaced is an error."""
    out = (
        expr.replace("$__rate_interval", WINDOW).replace("$namespace", namespace).replace("$service", service)
    )
    assert "$" not in out.replace('"$1"', ""), f"unsubstituted variable in {out}"
    return out


def _labels(result: Result, *names: str) -> set[tuple[str, ...]]:
    return {tuple(m.get(n, "") for n in names) for m, _ in result}


def _values(result: Result) -> list[float]:
    return [v for _, v in result]


# expected label sets of the mesh dashboard's queries with every variable at "All"; the label
# names are those the panel groups by
MESH_EXPECTED: dict[str, tuple[tuple[str, ...], set[tuple[str, ...]]]] = {
    "service_rps": (("destination_canonical_service", "destination_workload_namespace"), {("b", "demo")}),
    "service_errors": (("destination_canonical_service", "destination_workload_namespace"), {("b", "demo")}),
    "service_p50": (("destination_canonical_service", "destination_workload_namespace"), {("b", "demo")}),
    "service_p99": (("destination_canonical_service", "destination_workload_namespace"), {("b", "demo")}),
    "edge_rps": (("source_canonical_service", "destination_canonical_service"), {("a", "b")}),
    "edge_errors": (("source_canonical_service", "destination_canonical_service"), {("a", "b")}),
    "edge_p50": (("source_canonical_service", "destination_canonical_service"), {("a", "b")}),
    "edge_p99": (("source_canonical_service", "destination_canonical_service"), {("a", "b")}),
    "graph_edges": (("id", "source", "target"), {("a->b", "a", "b")}),
    "graph_nodes": (("id", "title"), {("a", "a"), ("b", "b")}),
    "response_flags": (("response_flags", "source_canonical_service"), {("NR", "a")}),
    "grpc_status": (("destination_canonical_service", "grpc_response_status"), {("b", "0"), ("b", "5")}),
    "tcp_bytes": (("source_canonical_service", "destination_canonical_service"), {("a", "b-tcp")}),
}


def _generator() -> Any:
    import importlib.util

    path = Path(__file__).parents[2] / "scripts/generate_dashboards.py"
    spec = importlib.util.spec_from_file_location("generate_dashboards", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def test_the_tests_cover_every_query_of_the_shipped_dashboards() -> None:
    shipped = {e for _, e in dashboard_queries("mesh-from-access-logs.json")}
    shipped |= {e for _, e in dashboard_queries("als-bridge-health.json")}
    known = set(GEN.MESH_QUERIES.values()) | set(GEN.HEALTH_QUERIES.values())
    assert shipped == known
    assert set(MESH_EXPECTED) == set(GEN.MESH_QUERIES)


@pytest.mark.parametrize("store_name", STORES)
def test_mesh_dashboard_with_every_variable_at_all(metric_stores: MeshMetrics, store_name: str) -> None:
    store = metric_stores.store(store_name)
    for key, expr in GEN.MESH_QUERIES.items():
        result = store.query(substitute(expr))
        labels, expected = MESH_EXPECTED[key]
        assert _labels(result, *labels) == expected, (key, result)
        assert all(v > 0 for v in _values(result)), (key, result)
    # values the traffic fixes: 5xx share of b's requests (as b saw them) and of a's calls to b
    ((_, errors),) = store.query(substitute(GEN.MESH_QUERIES["service_errors"]))
    assert errors == pytest.approx(HTTP_503 / MESHED, abs=0.05)
    ((_, edge_errors),) = store.query(substitute(GEN.MESH_QUERIES["edge_errors"]))
    assert edge_errors == pytest.approx(HTTP_503 / (MESHED + NO_ROUTE), abs=0.05)
    ((_, p50),) = store.query(substitute(GEN.MESH_QUERIES["service_p50"]))
    ((_, p99),) = store.query(substitute(GEN.MESH_QUERIES["service_p99"]))
    assert 0 < p50 <= p99 < 1000  # milliseconds: local calls


@pytest.mark.parametrize("store_name", STORES)
def test_mesh_dashboard_with_one_service_chosen(metric_stores: MeshMetrics, store_name: str) -> None:
    """Choosing namespace demo and service b keeps b and its callers; choosing another service
    keeps nothing of b."""
    store = metric_stores.store(store_name)
    for key, expr in GEN.MESH_QUERIES.items():
        chosen = store.query(substitute(expr, namespace="demo", service="b"))
        labels, expected = MESH_EXPECTED[key]
        expected_b = {t for t in expected if "b-tcp" not in t}
        assert _labels(chosen, *labels) == expected_b, (key, chosen)
        other = store.query(substitute(expr, namespace="demo", service="nobody"))
        assert other == [], (key, other)


@pytest.mark.parametrize("store_name", STORES)
def test_health_dashboard(metric_stores: MeshMetrics, store_name: str) -> None:
    store = metric_stores.store(store_name)
    q = GEN.HEALTH_QUERIES
    # (query, labels it groups by besides the replica, series the traffic must give (a subset:
    # the self metrics are process-wide, earlier tests in this process may have added others))
    checks: list[tuple[str, tuple[str, ...], set[tuple[str, ...]]]] = [
        ("entries_in", ("type",), {("http",), ("tcp",)}),
        ("decode_errors", ("kind",), {("malformed_message",)}),
        ("entries_dropped", ("reason",), {("no_identifier",)}),
        ("export_dropped", ("exporter", "reason"), {(DROPPING_EXPORTER, "too_large")}),
        ("export_failed", ("exporter", "reason"), {(FAILING_EXPORTER, "retry_disabled")}),
        ("exported", ("exporter", "signal"), {("otlphttp/vm", "metrics"), ("prometheus", "metrics")}),
    ]
    for key, labels, expected in checks:
        result = store.query(substitute(q[key]))
        by_labels = {tuple(m.get(n, "") for n in labels): v for m, v in result}
        assert expected <= set(by_labels), (key, result)
        assert all(by_labels[t] > 0 for t in expected), (key, result)
        assert all(m.get("instance") or m.get("service_instance_id") for m, _ in result), (key, result)
    queues = store.query(substitute(q["queue_length"]))
    exporters = {("otlphttp/vm",), ("prometheus",), (FAILING_EXPORTER,), (DROPPING_EXPORTER,)}
    assert exporters <= _labels(queues, "exporter"), queues
    streams = store.query(substitute(q["streams_open"]))
    assert streams and max(_values(streams)) >= 2, streams  # a's and b's Envoy are still connected


# --- queries of other projects' views, run unchanged on the bridge's istio_* series -----------
# Istio's dashboards (istio/istio manifests/addons/dashboards: mesh 7639, service 7636,
# workload 7630) and Kiali's graph and metrics queries (kiali/kiali business and graph telemetry);
# `$__rate_interval` / `[60s]` windows as they write them, their variables set to the demo's names.
R = WINDOW
OTHER_VIEWS: list[tuple[str, str, tuple[str, ...], set[tuple[str, ...]]]] = [
    (
        "Istio mesh: traffic volume",
        f'round(sum (rate(istio_requests_total{{reporter=~"source|waypoint"}}[{R}])), 0.001)',
        (),
        {()},
    ),
    (
        "Istio mesh: success rate",
        f'sum (rate(istio_requests_total{{reporter=~"source|waypoint",response_code!~"5.."}}[{R}])) '
        f'/ sum (rate(istio_requests_total{{reporter=~"source|waypoint"}}[{R}]))',
        (),
        {()},
    ),
    (
        "Istio mesh: HTTP/gRPC workloads",
        "label_join(sum by (destination_workload,destination_workload_namespace,destination_service) "
        f'(rate(istio_requests_total{{reporter=~"source|waypoint"}}[{R}])), "destination_workload_var", ".", '
        '"destination_workload", "destination_workload_namespace")',
        ("destination_workload_var", "destination_service"),
        # the no-route requests: no destination workload, as Istio reports them
        {("b-v1.demo", "b.demo.svc.cluster.local"), ("unknown.demo", "b.demo.svc.cluster.local")},
    ),
    (
        "Istio mesh: workload p99",
        "label_join(histogram_quantile(0.99, sum by (le,destination_workload,destination_workload_namespace) "
        f'(rate(istio_request_duration_milliseconds_bucket{{reporter=~"source|waypoint"}}[{R}]))), '
        '"destination_workload_var", ".", "destination_workload", "destination_workload_namespace")',
        ("destination_workload_var",),
        {("b-v1.demo",), ("unknown.demo",)},
    ),
    (
        "Istio mesh: TCP workloads",
        "label_join(sum by (destination_workload,destination_workload_namespace,destination_service) "
        f'(rate(istio_tcp_received_bytes_total{{reporter=~"source|waypoint"}}[{R}])), '
        '"destination_workload_var", ".", "destination_workload", "destination_workload_namespace")',
        ("destination_service",),
        {("b-tcp.demo.svc.cluster.local",)},
    ),
    (
        "Istio service: client request volume",
        'round(sum(irate(istio_requests_total{reporter=~"source",'
        f'destination_service="b.demo.svc.cluster.local"}}[{R}])), 0.001)',
        (),
        {()},
    ),
    (
        "Istio service: client request duration p50",
        '(histogram_quantile(0.50, sum(irate(istio_request_duration_milliseconds_bucket{reporter=~"source",'
        f'destination_service="b.demo.svc.cluster.local"}}[{R}])) by (le)) / 1000) or '
        'histogram_quantile(0.50, sum(irate(istio_request_duration_seconds_bucket{reporter=~"source",'
        f'destination_service="b.demo.svc.cluster.local"}}[{R}])) by (le))',
        (),
        {()},
    ),
    (
        "Istio service: incoming requests by source and response code",
        'round(sum(irate(istio_requests_total{connection_security_policy!="mutual_tls", '
        'destination_service="b.demo.svc.cluster.local", reporter=~"source", source_workload=~".*", '
        f'source_workload_namespace=~".*"}}[{R}])) by (source_workload, source_workload_namespace, '
        "response_code), 0.001)",
        ("source_workload", "response_code"),
        {("a-v1", "200"), ("a-v1", "503"), ("a-v1", "404")},
    ),
    (
        "Istio workload: outgoing requests by destination and response code",
        'round(sum(irate(istio_requests_total{destination_principal!~"spiffe.*", '
        'source_workload_namespace=~"demo", source_workload=~"a-v1", reporter="source", '
        f'destination_service=~".*"}}[{R}])) by (destination_service, response_code), 0.001)',
        ("destination_service", "response_code"),
        {("b.demo.svc.cluster.local", "404")},  # the meshed calls carry b's SPIFFE principal
    ),
    (
        "Istio workload: incoming request size p90",
        'histogram_quantile(0.90, sum(irate(istio_request_bytes_bucket{reporter=~"destination", '
        'connection_security_policy!="mutual_tls", destination_workload=~"b-v1", '
        f'destination_workload_namespace=~"demo"}}[{R}])) by (source_workload, source_workload_namespace, le))',
        ("source_workload",),
        {("a-v1",)},
    ),
    (
        "Kiali graph: HTTP/gRPC requests into namespace demo",
        f'sum(rate(istio_requests_total{{reporter="destination",destination_service_namespace="demo"}}[{R}])) '
        "by (source_cluster,source_workload_namespace,source_workload,source_canonical_service,"
        "source_canonical_revision,destination_cluster,destination_service_namespace,destination_service,"
        "destination_service_name,destination_workload_namespace,destination_workload,"
        "destination_canonical_service,destination_canonical_revision,request_protocol,response_code,"
        "grpc_response_status,response_flags) > 0",
        (
            "source_workload",
            "destination_workload",
            "request_protocol",
            "response_code",
            "grpc_response_status",
        ),
        {
            ("a-v1", "b-v1", "http", "200", ""),
            ("a-v1", "b-v1", "http", "503", ""),
            ("a-v1", "b-v1", "grpc", "200", "0"),
            ("a-v1", "b-v1", "grpc", "200", "5"),
        },
    ),
    (
        "Kiali graph: TCP bytes out of namespace demo",
        f'sum(rate(istio_tcp_sent_bytes_total{{reporter="source",source_workload_namespace="demo"}}[{R}])) '
        "by (source_cluster,source_workload_namespace,source_workload,source_canonical_service,"
        "source_canonical_revision,destination_cluster,destination_service_namespace,destination_service,"
        "destination_service_name,destination_workload_namespace,destination_workload,"
        "destination_canonical_service,destination_canonical_revision,response_flags) > 0",
        ("source_workload", "destination_service_name"),
        {("a-v1", "b-tcp")},
    ),
    (
        "Kiali metrics: request duration p95 by reporter",
        "histogram_quantile(0.95, sum(rate(istio_request_duration_milliseconds_bucket"
        f'{{destination_workload_namespace="demo",destination_workload="b-v1"}}[{R}])) by (le,reporter))',
        ("reporter",),
        {("source",), ("destination",)},
    ),
    # Grafana's Tempo service graph (its serviceMap queries, with $__range) and node stats
    (
        "Tempo service graph: requests",
        f"sum by (client, server) (rate(traces_service_graph_request_total[{R}]))",
        ("client", "server"),
        {("a", "b"), ("a", "b-tcp"), ("user", "b")},
    ),
    (
        "Tempo service graph: failed requests",
        f"sum by (client, server) (rate(traces_service_graph_request_failed_total[{R}]))",
        ("client", "server"),
        {("a", "b")},
    ),
    (
        "Tempo service graph: server latency buckets",
        f"sum by (client, server, le) (rate(traces_service_graph_request_server_seconds_bucket[{R}]))",
        ("client", "server"),
        {("a", "b"), ("user", "b")},
    ),
    # Jaeger's Monitor tab (its Prometheus reader's shapes, namespace traces_span_metrics)
    (
        "Jaeger Monitor: call rate of b by operation",
        'sum(rate(traces_span_metrics_calls_total{service_name =~ "b", span_kind =~ "SPAN_KIND_SERVER"}'
        f"[{R}])) by (service_name,span_name)",
        ("span_name",),
        {("GET",), ("demo.Greeter/Lookup",), ("TCP",)},
    ),
    (
        "Jaeger Monitor: error rate of a",
        'sum(rate(traces_span_metrics_calls_total{service_name =~ "a", status_code = "STATUS_CODE_ERROR", '
        f'span_kind =~ "SPAN_KIND_CLIENT"}}[{R}])) by (service_name) / sum(rate(traces_span_metrics_calls_total'
        f'{{service_name =~ "a", span_kind =~ "SPAN_KIND_CLIENT"}}[{R}])) by (service_name)',
        ("service_name",),
        {("a",)},
    ),
    (
        "Jaeger Monitor: p95 latency of b",
        "histogram_quantile(0.95, sum(rate(traces_span_metrics_duration_seconds_bucket"
        f'{{service_name =~ "b", span_kind =~ "SPAN_KIND_SERVER"}}[{R}])) by (service_name,le))',
        ("service_name",),
        {("b",)},
    ),
]


@pytest.mark.parametrize("store_name", STORES)
@pytest.mark.parametrize("view", OTHER_VIEWS, ids=[v[0] for v in OTHER_VIEWS])
def test_other_views_queries(
    metric_stores: MeshMetrics, store_name: str, view: tuple[str, str, tuple[str, ...], set[tuple[str, ...]]]
) -> None:
    """`irate` looks at the last two samples only, which are equal once the traffic has stopped:
    those queries must give no other series than expected (and the expected ones unless they take
    a quantile of zero rates); the others exactly the expected series, with positive values."""
    _, expr, labels, expected = view
    result = metric_stores.store(store_name).query(expr)
    if re.search(r"\birate\(", expr):
        # a quantile of all-zero irates is NaN, which VictoriaMetrics drops and Prometheus keeps
        assert _labels(result, *labels) <= expected, result
        assert result or "histogram_quantile" in expr, expr
    else:
        assert _labels(result, *labels) == expected, result
        if "_bucket" in expr and "histogram_quantile" not in expr:
            # per-bucket rates: a bucket below the fastest call is rightly 0 (on a loaded machine no
            # call is under 2 ms); every series' +Inf bucket counts all its calls
            assert all(v >= 0 for v in _values(result)), result
            assert all(v > 0 for m, v in result if m.get("le") == "+Inf"), result
        else:
            assert all(v > 0 for v in _values(result)), result


def readme_queries() -> list[str]:
    """Every query of the README's `promql` blocks (comment lines are the shown results)."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    queries = []
    for block in re.findall(r"```promql\n(.*?)```", text, re.S):
        queries += [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    return queries


@pytest.mark.parametrize("store_name", STORES)
def test_every_readme_query_returns_series(metric_stores: MeshMetrics, store_name: str) -> None:
    queries = readme_queries()
    assert len(queries) >= 8
    store = metric_stores.store(store_name)
    if store_name == "victoria-metrics":
        # VictoriaMetrics 1.112's OTLP intake keeps resource attributes as labels instead of making
        # job/instance of them (README, "Grafana dashboards"): job="<ns>/<svc>" is spelled so there
        queries = [
            re.sub(r'job="([^/"]+)/([^"]+)"', r'service_namespace="\1", service_name="\2"', q)
            for q in queries
        ]
    empty = [q for q in queries if not store.query(q)]
    assert not empty, empty
