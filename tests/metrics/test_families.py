"""build_families, and what all families share: resources and the store's cardinality guard."""

from __future__ import annotations

import pytest

from bridge.metrics.config import (
    IstioMetricsConfig,
    MetricsConfig,
    SemconvMetricsConfig,
    ServiceGraphMetricsConfig,
    SpanMetricsConfig,
)
from bridge.metrics.families import (
    IstioFamily,
    SemconvFamily,
    ServiceGraphFamily,
    SpanMetricsFamily,
    build_families,
)
from bridge.metrics.store import MetricStore
from bridge.telemetry import SELF
from tests.metrics.support import (
    EXTERNAL,
    POSTGRES_STATIC,
    PRODUCTPAGE,
    UNKNOWN,
    http_view,
    inbound,
    inbound_view,
    outbound,
    points,
    spans_of,
)


def test_all_families_by_default() -> None:
    families = build_families(MetricStore(), MetricsConfig())
    assert [type(f) for f in families] == [IstioFamily, ServiceGraphFamily, SpanMetricsFamily, SemconvFamily]


def test_only_enabled_families() -> None:
    store = MetricStore()
    config = MetricsConfig(
        istio=IstioMetricsConfig(enabled=False),
        servicegraph=ServiceGraphMetricsConfig(enabled=True),
        spanmetrics=SpanMetricsConfig(enabled=False),
        semconv=SemconvMetricsConfig(enabled=False),
    )
    assert [type(f) for f in build_families(store, config)] == [ServiceGraphFamily]
    assert {i.name for i in store.instruments} == {
        "traces_service_graph_request_total",
        "traces_service_graph_request_failed_total",
        "traces_service_graph_request_server_seconds",
        "traces_service_graph_request_client_seconds",
    }


def test_resources_the_bridge_for_all_but_semconv() -> None:
    store = MetricStore()
    families = build_families(store, MetricsConfig())
    view, ends = http_view(), outbound()
    for family in families:
        family.record(view, ends, spans_of(view, ends, "both"), "both")
    by_resource = store.collect(0, 1, "cumulative")
    assert set(by_resource) == {None, PRODUCTPAGE}
    assert {m.name for m in by_resource[PRODUCTPAGE]} == {"http.client.request.duration"}
    assert "istio_requests_total" in {m.name for m in by_resource[None]}


@pytest.mark.parametrize("family_name", ["istio_requests_total", "traces_service_graph_request_total"])
def test_overflow_past_max_series(family_name: str) -> None:
    SELF.reset()
    store = MetricStore(max_series_per_metric=2)
    families = build_families(store, MetricsConfig())
    entries = [
        (inbound_view(), inbound()),
        (inbound_view(), inbound(POSTGRES_STATIC)),
        (inbound_view(), inbound(UNKNOWN)),
        (http_view(authority="api.example.com"), outbound(EXTERNAL)),
    ]
    for view, ends in entries:
        for family in families:
            family.record(view, ends, spans_of(view, ends, "both"), "both")
    found = points(store, family_name)
    assert len(found) == 3
    overflow = [p for p in found if p.labels == {"otel.metric.overflow": True}]
    assert [p.value for p in overflow] == [2]
    assert SELF.get("als_bridge_metric_overflow_total", metric=family_name) == 2
