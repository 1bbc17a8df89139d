"""Span metrics: one point per span, with the connector's label values."""

from __future__ import annotations

import pytest

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.metrics.config import SpanMetricsConfig
from bridge.metrics.families.spanmetrics import SpanMetricsFamily
from bridge.metrics.store import MetricStore
from bridge.spans import Reporters
from tests.metrics.support import (
    MS,
    UNKNOWN,
    grpc_view,
    http_view,
    inbound,
    inbound_view,
    only,
    outbound,
    points,
    spans_of,
    tcp_view,
)

CALLS = "traces_span_metrics_calls_total"
DURATION = "traces_span_metrics_duration_seconds"


def record(view: EntryView, ends: Ends, reporters: Reporters = "both") -> MetricStore:
    store = MetricStore()
    SpanMetricsFamily(store, SpanMetricsConfig()).record(
        view, ends, spans_of(view, ends, reporters), reporters
    )
    return store


def test_client_span() -> None:
    store = record(http_view(), outbound())
    assert only(store, CALLS).labels == {
        "service_name": "productpage",
        "span_name": "GET",
        "span_kind": "SPAN_KIND_CLIENT",
        "status_code": "STATUS_CODE_UNSET",
    }
    assert only(store, DURATION).labels == only(store, CALLS).labels


def test_server_span_with_error() -> None:
    store = record(inbound_view(response_code=503), inbound())
    labels = only(store, CALLS).labels
    assert (labels["service_name"], labels["span_kind"], labels["status_code"]) == (
        "reviews",
        "SPAN_KIND_SERVER",
        "STATUS_CODE_ERROR",
    )


def test_server_side_mode_counts_the_synthesized_client_under_the_caller() -> None:
    store = record(inbound_view(), inbound(), "server_side")
    found = sorted((p.labels["service_name"], p.labels["span_kind"]) for p in points(store, CALLS))
    assert found == [("productpage", "SPAN_KIND_CLIENT"), ("reviews", "SPAN_KIND_SERVER")]


def test_grpc_span_name_is_the_method() -> None:
    assert only(record(grpc_view("0"), outbound()), CALLS).labels["span_name"] == "bookinfo.Ratings/Get"


def test_tcp_span() -> None:
    labels = only(record(tcp_view(), outbound(UNKNOWN)), CALLS).labels
    assert (labels["span_name"], labels["span_kind"]) == ("TCP", "SPAN_KIND_CLIENT")


def test_no_spans_no_points() -> None:
    assert points(record(http_view(), outbound(), "server_side"), CALLS) == []


def test_unnamed_workload_is_unknown() -> None:
    labels = only(record(inbound_view(), inbound(local=UNKNOWN)), CALLS).labels
    assert labels["service_name"] == "unknown"


@pytest.mark.parametrize("ms", [2, 10, 1000])
def test_duration_seconds_on_a_bound(ms: int) -> None:
    point = only(record(http_view(last_downstream_tx_ns=ms * MS), outbound()), DURATION)
    assert point.total == pytest.approx(ms / 1000)
    assert point.buckets[point.bounds.index(ms / 1000)] == 1


def test_units() -> None:
    units = {m.name: m.unit for m in record(http_view(), outbound()).collect(0, 1, "cumulative")[None]}
    assert units == {CALLS: "", DURATION: "s"}
