"""Semantic-convention duration metrics: attributes, units, and the workload as resource."""

from __future__ import annotations

import pytest

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.metrics.config import SemconvMetricsConfig
from bridge.metrics.families.semconv import SemconvFamily
from bridge.metrics.store import MetricStore
from bridge.spans import Reporters
from tests.metrics.support import (
    MS,
    PRODUCTPAGE,
    PRODUCTPAGE_PEER,
    REVIEWS,
    grpc_view,
    http_view,
    inbound,
    inbound_view,
    metric,
    only,
    outbound,
    points,
    spans_of,
    tcp_view,
)

HTTP_SERVER = "http.server.request.duration"
HTTP_CLIENT = "http.client.request.duration"
RPC_SERVER = "rpc.server.call.duration"
RPC_CLIENT = "rpc.client.call.duration"


def record(view: EntryView, ends: Ends, reporters: Reporters = "both") -> MetricStore:
    store = MetricStore()
    SemconvFamily(store, SemconvMetricsConfig()).record(
        view, ends, spans_of(view, ends, reporters), reporters
    )
    return store


def test_http_client_attributes_on_the_callers_resource() -> None:
    store = record(http_view(), outbound())
    point = only(store, HTTP_CLIENT, PRODUCTPAGE)
    assert point.labels == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "http.response.status_code": "200",
        "network.protocol.version": "1.1",
        "server.address": "reviews",
        "server.port": "9080",
    }
    assert point.total == pytest.approx(0.012)
    assert None not in store.collect(0, 1, "cumulative")


def test_http_server_attributes_have_no_path() -> None:
    store = record(inbound_view(), inbound())
    point = only(store, HTTP_SERVER, REVIEWS)
    assert point.labels == {
        "http.request.method": "GET",
        "url.scheme": "http",
        "http.response.status_code": "200",
        "network.protocol.version": "1.1",
    }


def test_error_type_follows_the_side() -> None:
    server = only(record(inbound_view(response_code=404), inbound()), HTTP_SERVER, REVIEWS)
    assert "error.type" not in server.labels  # 4xx is not a server error
    client = only(record(http_view(response_code=404), outbound()), HTTP_CLIENT, PRODUCTPAGE)
    assert client.labels["error.type"] == "404"
    reset = only(
        record(http_view(response_code=0, response_flags="UF"), outbound()), HTTP_CLIENT, PRODUCTPAGE
    )
    assert (reset.labels["error.type"], "http.response.status_code" in reset.labels) == ("UF", False)


def test_server_side_mode_records_the_synthesized_client_on_the_caller() -> None:
    store = record(inbound_view(), inbound(), "server_side")
    assert only(store, HTTP_SERVER, REVIEWS).labels["http.request.method"] == "GET"
    assert only(store, HTTP_CLIENT, PRODUCTPAGE_PEER).labels["server.address"] == "reviews"


def test_rpc_attributes() -> None:
    store = record(grpc_view("14"), outbound())
    assert only(store, RPC_CLIENT, PRODUCTPAGE).labels == {
        "rpc.system.name": "grpc",
        "rpc.method": "bookinfo.Ratings/Get",
        "rpc.response.status_code": "UNAVAILABLE",
        "error.type": "UNAVAILABLE",
    }
    assert metric(store, HTTP_CLIENT, PRODUCTPAGE) is None


def test_rpc_server_error_rule() -> None:
    view = grpc_view("5", upstream_cluster="inbound|9080||")
    labels = only(record(view, inbound()), RPC_SERVER, REVIEWS).labels
    assert labels["rpc.response.status_code"] == "NOT_FOUND"
    assert "error.type" not in labels


def test_tcp_records_nothing() -> None:
    assert record(tcp_view(), outbound()).collect(0, 1, "cumulative") == {}


def test_units_and_semconv_buckets() -> None:
    store = record(http_view(last_downstream_tx_ns=250 * MS), outbound())
    found = metric(store, HTTP_CLIENT, PRODUCTPAGE)
    assert found is not None and found.unit == "s"
    point = only(store, HTTP_CLIENT, PRODUCTPAGE)
    assert point.bounds == (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
    assert point.buckets[point.bounds.index(0.25)] == 1


def test_server_address_per_authority_and_fallback_address() -> None:
    store = MetricStore()
    family = SemconvFamily(store, SemconvMetricsConfig())
    entries = [
        (http_view(), outbound(), "both"),
        (http_view(authority="ratings.default:8080"), outbound(), "both"),
        (http_view(authority=""), outbound(), "both"),  # the upstream address names the server
        (
            inbound_view(authority="", downstream_local_ip="10.0.0.3"),
            inbound(),
            "server_side",
        ),  # synthesized: the server's own address
    ]
    for view, ends, reporters in entries:
        family.record(view, ends, spans_of(view, ends, reporters), reporters)
    found = {
        (p.labels["server.address"], p.labels["server.port"])
        for resource in (PRODUCTPAGE, PRODUCTPAGE_PEER)
        for p in points(store, HTTP_CLIENT, resource)
    }
    assert found == {
        ("reviews", "9080"),
        ("ratings.default", "8080"),
        ("10.0.0.2", "9080"),
        ("10.0.0.3", "9080"),
    }
