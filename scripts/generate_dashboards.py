#!/usr/bin/env python3
"""Generate the Grafana dashboards shipped in `deploy/kustomize/components/dashboards/`.

Why generated: the dashboards are built with Grafana's own `grafana-foundation-sdk` (the typed
builders Grafana publishes for its dashboard schema), so a panel type, field or variable that the
schema does not have fails here rather than in a user's Grafana. The JSON is committed next to its
kustomization (a `configMapGenerator` reads it); `tests/deploy/test_dashboards.py` checks that the
committed files are exactly what this script writes, so they cannot drift apart.

    .venv/bin/python scripts/generate_dashboards.py          # rewrite the JSON files
    .venv/bin/python scripts/generate_dashboards.py --check  # exit 1 if they are out of date

Queries use only the bridge's own series: the `istio` metric family (Istio's names and labels)
for the mesh, the `als_bridge_*` self metrics for the bridge. Every query runs in
`tests/integration/test_dashboard_queries.py` against a real Prometheus and VictoriaMetrics after
real-Envoy traffic.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, dashboard, nodegraph, prometheus, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DataTransformerConfig,
    VariableOption,
    VariableRefresh,
    VariableSort,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

OUT = Path(__file__).resolve().parents[1] / "deploy/kustomize/components/dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "[$__rate_interval]"

# --- "Mesh from access logs" --------------------------------------------------------------------
# Per service: what the called side's sidecar saw (reporter="destination"), as Istio's service
# dashboards do. Per edge: what the caller's sidecar saw (reporter="source"): it also has the calls
# that never reached a sidecar (no route, a destination outside the mesh). Both are filtered by
# the called side, so choosing a service shows it and its callers.
SVC = (
    'reporter="destination", destination_workload_namespace=~"$namespace", '
    'destination_canonical_service=~"$service"'
)
EDGE = (
    'reporter="source", destination_workload_namespace=~"$namespace", '
    'destination_canonical_service=~"$service"'
)
BY_SVC = "destination_canonical_service, destination_workload_namespace"
BY_EDGE = "source_canonical_service, destination_canonical_service"


def _ratio(selector: str, by: str, error: str) -> str:
    return (
        f"sum by ({by}) (rate(istio_requests_total{{{selector}, {error}}}{RATE}))"
        f" / sum by ({by}) (rate(istio_requests_total{{{selector}}}{RATE}))"
    )


def _quantile(q: str, selector: str, by: str) -> str:
    return (
        f"histogram_quantile({q}, sum by (le, {by}) "
        f"(rate(istio_request_duration_milliseconds_bucket{{{selector}}}{RATE})))"
    )


MESH_QUERIES: dict[str, str] = {
    "service_rps": f"sum by ({BY_SVC}) (rate(istio_requests_total{{{SVC}}}{RATE}))",
    "service_errors": _ratio(SVC, BY_SVC, 'response_code=~"5.."'),
    "service_p50": _quantile("0.5", SVC, BY_SVC),
    "service_p99": _quantile("0.99", SVC, BY_SVC),
    "edge_rps": f"sum by ({BY_EDGE}) (rate(istio_requests_total{{{EDGE}}}{RATE}))",
    "edge_errors": _ratio(EDGE, BY_EDGE, 'response_code=~"5..|0"'),
    "edge_p50": _quantile("0.5", EDGE, BY_EDGE),
    "edge_p99": _quantile("0.99", EDGE, BY_EDGE),
    # node graph: one row per edge (id, source, target, mainstat) and one per service (id, title)
    "graph_edges": (
        "label_join(label_replace(label_replace("
        f"sum by ({BY_EDGE}) (rate(istio_requests_total{{{EDGE}}}{RATE})), "
        '"source", "$1", "source_canonical_service", "(.*)"), '
        '"target", "$1", "destination_canonical_service", "(.*)"), "id", "->", "source", "target")'
    ),
    "graph_nodes": (
        "label_replace(sum by (title) (label_replace(sum by (source_canonical_service) "
        f"(rate(istio_requests_total{{{EDGE}}}{RATE})), "
        '"title", "$1", "source_canonical_service", "(.*)") '
        "or label_replace(sum by (destination_canonical_service) "
        f"(rate(istio_requests_total{{{EDGE}}}{RATE})), "
        '"title", "$1", "destination_canonical_service", "(.*)")), "id", "$1", "title", "(.*)")'
    ),
    "response_flags": (
        "topk(10, sum by (response_flags, source_canonical_service, destination_service_name) "
        f'(rate(istio_requests_total{{{EDGE}, response_flags!="-"}}{RATE})))'
    ),
    "grpc_status": (
        f"sum by (destination_canonical_service, grpc_response_status) "
        f'(rate(istio_requests_total{{{SVC}, request_protocol="grpc"}}{RATE}))'
    ),
    "tcp_bytes": (
        f"sum by ({BY_EDGE}) (rate(istio_tcp_sent_bytes_total{{{EDGE}}}{RATE}))"
        f" + sum by ({BY_EDGE}) (rate(istio_tcp_received_bytes_total{{{EDGE}}}{RATE}))"
    ),
}

# --- "als-bridge health" ------------------------------------------------------------------------
# The replica is `instance` where the store maps the resource to job/instance (a scrape of the
# prometheus exporter: the scrape target; Prometheus' and Mimir's OTLP intake: the bridge's
# service.instance.id) and `service_instance_id` where it keeps resource attributes as labels
# (VictoriaMetrics' OTLP intake). Grouping by both works on either: the missing one is empty.
REPLICA = "instance, service_instance_id"
HEALTH_QUERIES: dict[str, str] = {
    "entries_in": f"sum by ({REPLICA}, type) (rate(als_bridge_entries_received_total{RATE}))",
    "decode_errors": f"sum by ({REPLICA}, kind) (rate(als_bridge_decode_errors_total{RATE}))",
    "entries_dropped": f"sum by ({REPLICA}, reason) (rate(als_bridge_entries_dropped_total{RATE}))",
    "export_dropped": (f"sum by ({REPLICA}, exporter, reason) (rate(als_bridge_dropped_items_total{RATE}))"),
    "export_failed": (
        f"sum by ({REPLICA}, exporter, reason) (rate(als_bridge_export_failed_items_total{RATE}))"
    ),
    "exported": (f"sum by ({REPLICA}, exporter, signal) (rate(als_bridge_exported_items_total{RATE}))"),
    "queue_length": f"sum by ({REPLICA}, exporter) (als_bridge_queue_length)",
    "streams_open": f"sum by ({REPLICA}) (als_bridge_streams_open)",
}


def _target(expr: str, legend: str, ref: str = "A", instant_table: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)
    if instant_table:
        query = query.instant().format(PromQueryFormat.TABLE)
    return query


def _timeseries(
    panel_id: int, title: str, unit: str, targets: list[tuple[str, str]], description: str
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(panel_id)
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(DS)
        .span(12)
        .height(8)
    )
    for index, (expr, legend) in enumerate(targets):
        panel = panel.with_target(_target(expr, legend, chr(ord("A") + index)))
    return panel


def _datasource_variable() -> dashboard.DatasourceVariable:
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def _label_variable(name: str, label: str, query: str) -> dashboard.QueryVariable:
    return (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query({"query": query, "refId": f"{name}-values"})
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(VariableOption(selected=True, text="All", value="$__all"))
    )


def mesh_dashboard() -> dict[str, Any]:
    q = MESH_QUERIES
    per_svc = "{{destination_canonical_service}}.{{destination_workload_namespace}}"
    per_edge = "{{source_canonical_service}} → {{destination_canonical_service}}"
    builder = (
        dashboard.Dashboard("Mesh from access logs")
        .uid("als-bridge-mesh")
        .description(
            "Istio's standard metrics as als-bridge computes them from Envoy access logs: "
            "per service (as the called sidecar saw it) and per edge (as the caller's sidecar saw it)."
        )
        .tags(["als-bridge", "istio", "mesh"])
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh("30s")
        .with_variable(_datasource_variable())
        .with_variable(
            _label_variable(
                "namespace", "Namespace", "label_values(istio_requests_total, destination_workload_namespace)"
            )
        )
        .with_variable(
            _label_variable(
                "service",
                "Service",
                'label_values(istio_requests_total{destination_workload_namespace=~"$namespace"}, '
                "destination_canonical_service)",
            )
        )
        .with_row(dashboard.Row("Services (reported by the called sidecar)").id(100))
        .with_panel(
            _timeseries(
                1, "Requests per second", "reqps", [(q["service_rps"], per_svc)], "Requests to each service."
            )
        )
        .with_panel(
            _timeseries(
                2,
                "Error ratio (5xx)",
                "percentunit",
                [(q["service_errors"], per_svc)],
                "Share of requests answered with a 5xx, as Istio's dashboards count errors.",
            )
        )
        .with_panel(
            _timeseries(
                3,
                "Latency p50 / p99",
                "ms",
                [(q["service_p50"], "p50 " + per_svc), (q["service_p99"], "p99 " + per_svc)],
                "Request duration at the called sidecar (istio_request_duration_milliseconds).",
            )
        )
        .with_panel(
            _timeseries(
                4,
                "gRPC status",
                "reqps",
                [(q["grpc_status"], "{{destination_canonical_service}} status {{grpc_response_status}}")],
                'gRPC calls (request_protocol="grpc") by grpc_response_status, the gRPC status code.',
            )
        )
        .with_row(dashboard.Row("Edges (reported by the calling sidecar)").id(101))
        .with_panel(
            nodegraph.Panel()
            .id(5)
            .title("Service graph")
            .description("Nodes are services, edges carry requests per second (caller's view).")
            .datasource(DS)
            .span(24)
            .height(12)
            .with_target(_target(q["graph_nodes"], "", "nodes", instant_table=True))
            .with_target(_target(q["graph_edges"], "", "edges", instant_table=True))
            .with_transformation(
                DataTransformerConfig(
                    id_val="organize",
                    options={
                        "excludeByName": {"Time": True},
                        "renameByName": {"Value #nodes": "mainstat", "Value #edges": "mainstat"},
                    },
                )
            )
        )
        .with_panel(
            _timeseries(
                6, "Requests per second", "reqps", [(q["edge_rps"], per_edge)], "Requests on each edge."
            )
        )
        .with_panel(
            _timeseries(
                7,
                "Error ratio (5xx or no response)",
                "percentunit",
                [(q["edge_errors"], per_edge)],
                "Share of calls that got a 5xx or no HTTP status at all (response_code 0).",
            )
        )
        .with_panel(
            _timeseries(
                8,
                "Latency p50 / p99",
                "ms",
                [(q["edge_p50"], "p50 " + per_edge), (q["edge_p99"], "p99 " + per_edge)],
                "Request duration at the calling sidecar: the caller's wait, network included.",
            )
        )
        .with_panel(
            _timeseries(
                9,
                "TCP bytes per second",
                "Bps",
                [(q["tcp_bytes"], per_edge)],
                "Bytes sent plus received on TCP connections, per edge.",
            )
        )
        .with_panel(
            table.Panel()
            .id(10)
            .title("Top response flags")
            .description(
                "Envoy's response flags other than '-' (NR no route, UH no healthy upstream, UF "
                "connection failure, URX retries exhausted ...), per caller and destination."
            )
            .datasource(DS)
            .span(12)
            .height(8)
            .with_target(_target(q["response_flags"], "", "A", instant_table=True))
        )
    )
    return _json(builder.build())


def health_dashboard() -> dict[str, Any]:
    q = HEALTH_QUERIES
    builder = (
        dashboard.Dashboard("als-bridge health")
        .uid("als-bridge-health")
        .description("What each als-bridge replica receives, drops, exports and holds.")
        .tags(["als-bridge"])
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .refresh("30s")
        .with_variable(_datasource_variable())
        .with_row(dashboard.Row("In").id(100))
        .with_panel(
            _timeseries(
                1,
                "Entries received per second",
                "ops",
                [(q["entries_in"], "{{instance}}{{service_instance_id}} {{type}}")],
                "ALS entries (http, tcp) per replica.",
            )
        )
        .with_panel(
            _timeseries(
                2,
                "ALS streams open",
                "short",
                [(q["streams_open"], "{{instance}}{{service_instance_id}}")],
                "Envoy's gRPC streams per replica: a replica with none gets no traffic.",
            )
        )
        .with_panel(
            _timeseries(
                3,
                "Decode errors per second",
                "ops",
                [(q["decode_errors"], "{{instance}}{{service_instance_id}} {{kind}}")],
                "Messages or peer metadata that could not be decoded, by kind.",
            )
        )
        .with_panel(
            _timeseries(
                4,
                "Entries dropped per second",
                "ops",
                [(q["entries_dropped"], "{{instance}}{{service_instance_id}} {{reason}}")],
                "Entries the receiver dropped, by reason (no_identifier, rate_limited, ...).",
            )
        )
        .with_row(dashboard.Row("Out").id(101))
        .with_panel(
            _timeseries(
                5,
                "Items exported per second",
                "ops",
                [(q["exported"], "{{instance}}{{service_instance_id}} {{exporter}} {{signal}}")],
                "Spans, data points and log records each exporter delivered.",
            )
        )
        .with_panel(
            _timeseries(
                6,
                "Export failures per second",
                "ops",
                [(q["export_failed"], "{{instance}}{{service_instance_id}} {{exporter}} {{reason}}")],
                "Items an exporter gave up on after its retries.",
            )
        )
        .with_panel(
            _timeseries(
                7,
                "Items dropped before export per second",
                "ops",
                [(q["export_dropped"], "{{instance}}{{service_instance_id}} {{exporter}} {{reason}}")],
                "Items that did not fit an exporter's queue.",
            )
        )
        .with_panel(
            bargauge.Panel()
            .id(8)
            .title("Queue length")
            .description("Items waiting in each exporter's queue, per replica.")
            .unit("short")
            .datasource(DS)
            .span(12)
            .height(8)
            .with_target(_target(q["queue_length"], "{{instance}}{{service_instance_id}} {{exporter}}"))
        )
    )
    return _json(builder.build())


def _json(model: object) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return data


DASHBOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    "mesh-from-access-logs.json": mesh_dashboard,
    "als-bridge-health.json": health_dashboard,
}


def render(make: Callable[[], dict[str, Any]]) -> str:
    return json.dumps(make(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs")
    args = parser.parse_args(argv)
    stale = []
    for name, make in DASHBOARDS.items():
        path = OUT / name
        text = render(make)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path))
        else:
            path.write_text(text)
    if stale:
        print("out of date (run scripts/generate_dashboards.py):", *stale, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
