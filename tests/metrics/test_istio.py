"""Istio standard metrics: label values per direction, protocol and identity source; reporters."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.decode import EntryView
from bridge.identity import Ends, IdentityResolver, IdentitySource, Workload, workload_from_node
from bridge.metrics.config import IstioMetricsConfig
from bridge.metrics.families.istio import HTTP_LABELS, TCP_LABELS, IstioFamily, namespace_of_principal
from bridge.metrics.store import MetricStore
from bridge.spans import Reporters
from tests.fixtures.metadata import any_bytes_flatnode, any_struct, entry_view, istio_node, lower_struct
from tests.metrics.support import (
    EXTERNAL,
    MS,
    POSTGRES_STATIC,
    PRODUCTPAGE,
    PRODUCTPAGE_PEER,
    REVIEWS,
    REVIEWS_BY_CLUSTER,
    REVIEWS_PEER,
    UNKNOWN,
    as_peer,
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

PRODUCTPAGE_SOURCE = {
    "source_workload": "productpage-v1",
    "source_canonical_service": "productpage",
    "source_canonical_revision": "v1",
    "source_workload_namespace": "default",
    "source_principal": "spiffe://cluster.local/ns/default/sa/bookinfo-productpage",
    "source_app": "productpage",
    "source_version": "v1",
    "source_cluster": "Kubernetes",
}
REVIEWS_DESTINATION = {
    "destination_workload": "reviews-v2",
    "destination_workload_namespace": "default",
    "destination_principal": "spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
    "destination_app": "reviews",
    "destination_version": "v2",
    "destination_canonical_service": "reviews",
    "destination_canonical_revision": "v2",
    "destination_cluster": "Kubernetes",
}


def record(view: EntryView, ends: Ends, reporters: Reporters = "both") -> MetricStore:
    store = MetricStore()
    family = IstioFamily(store, IstioMetricsConfig())
    family.record(view, ends, spans_of(view, ends, reporters), reporters)
    return store


def request_labels(store: MetricStore) -> dict[str, Any]:
    return only(store, "istio_requests_total").labels


def test_outbound_http_labels_in_istio_order() -> None:
    store = record(http_view(), outbound())
    (metric,) = (m for m in store.collect(0, 1, "cumulative")[None] if m.name == "istio_requests_total")
    keys = [kv.key for kv in metric.sum.data_points[0].attributes]
    assert keys == [k for k in HTTP_LABELS if k != "grpc_response_status"]  # empty value: left out
    assert request_labels(store) == {
        "reporter": "source",
        **PRODUCTPAGE_SOURCE,
        **REVIEWS_DESTINATION,
        "destination_service": "reviews.default.svc.cluster.local",
        "destination_service_name": "reviews",
        "destination_service_namespace": "default",
        "request_protocol": "http",
        "response_code": "200",
        "response_flags": "-",
        "connection_security_policy": "unknown",
    }


def test_inbound_http_labels_with_mutual_tls() -> None:
    store = record(inbound_view(), inbound())
    assert request_labels(store) == {
        "reporter": "destination",
        **PRODUCTPAGE_SOURCE,
        **REVIEWS_DESTINATION,
        # Istio's server-side fallback: the inbound cluster names no service
        "destination_service": "reviews",
        "destination_service_name": "reviews",
        "destination_service_namespace": "default",
        "request_protocol": "http",
        "response_code": "200",
        "response_flags": "-",
        "connection_security_policy": "mutual_tls",
    }


def test_inbound_without_tls_has_no_principals_and_policy_none() -> None:
    labels = request_labels(record(inbound_view(tls_peer_uri_san="", tls_local_uri_san=""), inbound()))
    assert labels["connection_security_policy"] == "none"
    assert labels["source_principal"] == "unknown"  # Istio reads principals from the TLS SANs only
    assert labels["destination_principal"] == "unknown"
    assert labels["source_workload_namespace"] == "default"  # from the peer's metadata


def test_inbound_with_one_san_is_not_mutual_tls() -> None:
    labels = request_labels(record(inbound_view(tls_local_uri_san=""), inbound()))
    assert labels["connection_security_policy"] == "none"
    assert labels["source_principal"] == "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"


def test_source_namespace_comes_from_the_peer_principal() -> None:
    view = inbound_view(tls_peer_uri_san="spiffe://cluster.local/ns/shop/sa/front")
    labels = request_labels(record(view, inbound()))
    assert labels["source_workload_namespace"] == "shop"
    assert labels["source_principal"] == "spiffe://cluster.local/ns/shop/sa/front"


def test_inbound_pre_181_cluster_names_the_service() -> None:
    view = inbound_view(upstream_cluster="inbound|9080|http|reviews.default.svc.cluster.local")
    labels = request_labels(record(view, inbound()))
    assert labels["destination_service"] == "reviews.default.svc.cluster.local"
    assert labels["destination_service_name"] == "reviews"


def test_inbound_passthrough_cluster_is_the_service_name() -> None:
    labels = request_labels(record(inbound_view(upstream_cluster="InboundPassthroughClusterIpv4"), inbound()))
    assert labels["destination_service_name"] == "InboundPassthroughClusterIpv4"
    assert labels["destination_service"] == "reviews"


def test_inbound_ignores_the_host_header() -> None:
    view = inbound_view(authority="evil.example.com")
    assert request_labels(record(view, inbound()))["destination_service"] == "reviews"


@pytest.mark.parametrize(
    ("overrides", "service", "name"),
    [
        (
            dict(route_name="allow_any", upstream_cluster="PassthroughCluster"),
            "api.example.com",
            "PassthroughCluster",
        ),
        (dict(route_name="block_all", upstream_cluster=""), "api.example.com", "BlackHoleCluster"),
        (dict(upstream_cluster="PassthroughCluster"), "api.example.com", "PassthroughCluster"),
        (dict(upstream_cluster=""), "api.example.com", "api.example.com"),
        (dict(upstream_cluster="outbound|443||api.example.com"), "api.example.com", "api.example.com"),
        (dict(upstream_cluster="outbound_.443_._.api.example.com"), "api.example.com", "api.example.com"),
    ],
)
def test_outbound_destination_service_without_an_istio_service(
    overrides: dict[str, Any], service: str, name: str
) -> None:
    view = http_view(authority="API.example.com:443", **overrides)
    labels = request_labels(record(view, outbound(EXTERNAL)))
    assert (labels["destination_service"], labels["destination_service_name"]) == (service, name)
    assert labels["destination_service_namespace"] == "unknown"  # neither the host nor the peer has one


def test_outbound_with_nothing_naming_the_destination() -> None:
    labels = request_labels(
        record(http_view(authority="", upstream_cluster="", response_code=0), outbound(UNKNOWN))
    )
    assert labels["destination_service"] == "unknown"
    assert labels["destination_service_name"] == "unknown"
    assert labels["destination_service_namespace"] == "unknown"
    assert labels["response_code"] == "0"


def test_destination_service_namespace_falls_back_to_the_peer() -> None:
    peer = Workload(service="ext", namespace="partners", source=IdentitySource.STATIC)
    view = http_view(authority="partner.example.com", upstream_cluster="outbound|443||partner.example.com")
    assert request_labels(record(view, outbound(peer)))["destination_service_namespace"] == "partners"


@pytest.mark.parametrize(
    "source", [IdentitySource.FLATNODE, IdentitySource.STRUCT, IdentitySource.HEADER, IdentitySource.STRING]
)
def test_every_mx_form_gives_the_same_labels(source: IdentitySource) -> None:
    store = record(http_view(), outbound(as_peer(REVIEWS, source)))
    assert request_labels(store)["destination_workload"] == "reviews-v2"
    assert request_labels(store) == request_labels(record(http_view(), outbound()))


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (
            POSTGRES_STATIC,
            {
                "destination_workload": "unknown",
                "destination_workload_namespace": "databases",
                "destination_canonical_service": "postgres",
                "destination_canonical_revision": "latest",
                "destination_app": "unknown",
                "destination_principal": "unknown",
            },
        ),
        (
            REVIEWS_BY_CLUSTER,
            {
                "destination_workload": "unknown",
                "destination_workload_namespace": "default",
                "destination_canonical_service": "reviews",
                "destination_canonical_revision": "latest",
                "destination_version": "unknown",
                "destination_cluster": "unknown",
            },
        ),
        (
            UNKNOWN,
            {
                "destination_workload": "unknown",
                "destination_workload_namespace": "unknown",
                "destination_canonical_service": "unknown",
                "destination_canonical_revision": "latest",
                "destination_cluster": "unknown",
                # the cluster name still names the service
                "destination_service": "reviews.default.svc.cluster.local",
                "destination_service_namespace": "default",
            },
        ),
    ],
)
def test_peers_without_mx_fill_what_they_know(peer: Workload, expected: dict[str, str]) -> None:
    labels = request_labels(record(http_view(), outbound(peer)))
    assert {k: labels[k] for k in expected} == expected


def test_unknown_caller_on_the_server_side() -> None:
    view = inbound_view(tls_peer_uri_san="", tls_local_uri_san="")
    labels = request_labels(record(view, inbound(UNKNOWN)))
    source = {k: v for k, v in labels.items() if k.startswith("source_")}
    assert source == {k: ("latest" if k.endswith("revision") else "unknown") for k in PRODUCTPAGE_SOURCE}


def test_local_fallbacks_unknown_and_latest() -> None:
    bare = Workload(workload="job-1", source=IdentitySource.NODE)
    labels = request_labels(record(http_view(), outbound(local=bare)))
    assert labels["source_workload"] == "job-1"
    assert labels["source_canonical_revision"] == "latest"
    for key in (
        "source_canonical_service",
        "source_workload_namespace",
        "source_principal",
        "source_cluster",
    ):
        assert labels[key] == "unknown"


def test_identities_decoded_from_real_metadata() -> None:
    """FlatNode (Istio 1.6-1.23) outbound, Struct (1.24+) inbound, through the real resolver."""
    local = workload_from_node(istio_node())
    resolver = IdentityResolver([])
    out_view = entry_view(
        filter_state={"wasm.upstream_peer": any_bytes_flatnode()},
        upstream_cluster="outbound|9080||reviews.default.svc.cluster.local",
        authority="reviews:9080",
        response_code=200,
    )
    labels = request_labels(record(out_view, resolver.resolve(out_view, local)))
    assert (labels["source_workload"], labels["destination_workload"]) == ("productpage-v1", "reviews-v1")
    assert labels["destination_principal"] == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    assert labels["destination_canonical_revision"] == "v1"
    in_view = entry_view(
        filter_state={"downstream_peer": any_struct(lower_struct())},
        upstream_cluster="inbound|9080||",
        response_code=200,
    )
    labels = request_labels(record(in_view, resolver.resolve(in_view, local)))
    assert (labels["reporter"], labels["source_workload"]) == ("destination", "reviews-v1")
    assert labels["destination_workload"] == "productpage-v1"


def test_grpc_request_labels() -> None:
    labels = request_labels(record(grpc_view("14"), outbound()))
    assert (labels["request_protocol"], labels["grpc_response_status"], labels["response_code"]) == (
        "grpc",
        "14",
        "200",
    )


def test_grpc_status_not_logged_is_left_empty_as_istio_does() -> None:
    view = grpc_view(None, response_code=503, response_flags="UH")
    labels = request_labels(record(view, outbound()))
    assert "grpc_response_status" not in labels  # no code invented from the HTTP status
    assert (labels["request_protocol"], labels["response_code"], labels["response_flags"]) == (
        "grpc",
        "503",
        "UH",
    )


def test_grpc_recognised_without_content_type_from_a_logged_status_or_the_path() -> None:
    trailers_only = http_view(
        method="POST",
        path="/demo.Greeter/Lookup",
        protocol_version="2",
        response_headers={"grpc-status": "5"},
    )
    labels = request_labels(record(trailers_only, outbound()))
    assert (labels["request_protocol"], labels["grpc_response_status"]) == ("grpc", "5")
    nothing_logged = http_view(method="POST", path="/demo.Greeter/Lookup", protocol_version="2")
    labels = request_labels(record(nothing_logged, outbound()))
    assert labels["request_protocol"] == "grpc"
    assert "grpc_response_status" not in labels
    rest = http_view(method="POST", path="/api/orders", protocol_version="2")
    assert request_labels(record(rest, outbound()))["request_protocol"] == "http"


def test_http_has_no_grpc_status() -> None:
    assert "grpc_response_status" not in request_labels(record(http_view(), outbound()))


def test_tcp_connection_counters() -> None:
    view = tcp_view(response_flags="")
    store = record(view, outbound(POSTGRES_STATIC))
    for name, value in [
        ("istio_tcp_connections_opened_total", 1),
        ("istio_tcp_connections_closed_total", 1),
        ("istio_tcp_sent_bytes_total", 5000),
        ("istio_tcp_received_bytes_total", 1000),
    ]:
        point = only(store, name)
        assert point.value == value, name
        assert list(point.labels) == list(TCP_LABELS)
        assert point.labels["request_protocol"] == "tcp"
        assert point.labels["destination_service"] == "postgres.databases.svc.cluster.local"
    assert points(store, "istio_requests_total") == []


def test_durations_in_milliseconds_on_a_bound_go_in_that_bucket() -> None:
    store = record(http_view(last_downstream_tx_ns=5 * MS), outbound())
    point = only(store, "istio_request_duration_milliseconds")
    assert point.total == 5
    assert point.buckets[point.bounds.index(5)] == 1


def test_duration_uses_the_entry_end() -> None:
    view = http_view(last_downstream_tx_ns=-1, duration_ns=int(2.5 * MS))
    assert only(record(view, outbound()), "istio_request_duration_milliseconds").total == 2.5


def test_sizes_prefer_wire_bytes() -> None:
    store = record(http_view(wire_bytes_received=1000, wire_bytes_sent=25), outbound())
    assert only(store, "istio_request_bytes").total == 1000
    assert only(store, "istio_response_bytes").total == 25
    point = only(store, "istio_response_bytes")
    assert point.buckets[point.bounds.index(25)] == 1


def test_sizes_fall_back_to_headers_and_body() -> None:
    store = record(http_view(), outbound())
    assert only(store, "istio_request_bytes").total == 120
    assert only(store, "istio_response_bytes").total == 500


@pytest.mark.parametrize(
    ("reporters", "view", "ends", "expected"),
    [
        ("both", http_view(), outbound(), [("source", "unknown")]),
        ("both", inbound_view(), inbound(), [("destination", "mutual_tls")]),
        ("both", inbound_view(), inbound(UNKNOWN), [("destination", "mutual_tls")]),
        ("server_side", inbound_view(), inbound(), [("destination", "mutual_tls"), ("source", "unknown")]),
        ("server_side", inbound_view(), inbound(POSTGRES_STATIC), [("destination", "mutual_tls")]),
        ("server_side", http_view(), outbound(), []),
        ("server_side", http_view(), outbound(EXTERNAL), [("source", "unknown")]),
    ],
)
def test_reporter_series_per_mode(
    reporters: Reporters, view: EntryView, ends: Ends, expected: list[tuple[str, str]]
) -> None:
    store = record(view, ends, reporters)
    found = sorted(
        (p.labels["reporter"], p.labels["connection_security_policy"])
        for p in points(store, "istio_requests_total")
    )
    assert found == sorted(expected)


def test_synthesized_source_series_matches_the_destination_one() -> None:
    store = record(inbound_view(), inbound(), "server_side")
    by_reporter = {p.labels["reporter"]: p.labels for p in points(store, "istio_requests_total")}
    differing = {k for k in HTTP_LABELS if by_reporter["source"].get(k) != by_reporter["destination"].get(k)}
    assert differing == {"reporter", "connection_security_policy"}
    assert len(points(store, "istio_request_duration_milliseconds")) == 2


def test_synthesized_source_series_for_tcp() -> None:
    view = tcp_view(upstream_cluster="inbound|5432||", tls_peer_uri_san="a", tls_local_uri_san="b")
    store = record(view, inbound(PRODUCTPAGE_PEER, POSTGRES_STATIC), "server_side")
    assert sorted(p.labels["reporter"] for p in points(store, "istio_tcp_connections_opened_total")) == [
        "destination",
        "source",
    ]


def test_a_meshed_call_gives_one_series_per_reporter_in_both_modes() -> None:
    both = MetricStore()
    family = IstioFamily(both, IstioMetricsConfig())
    for view, ends in ((http_view(), outbound()), (inbound_view(), inbound())):
        family.record(view, ends, spans_of(view, ends, "both"), "both")
    server_side = record(inbound_view(), inbound(), "server_side")
    for store in (both, server_side):
        assert sorted(p.labels["reporter"] for p in points(store, "istio_requests_total")) == [
            "destination",
            "source",
        ]


def test_identity_labels_are_cached_per_identity() -> None:
    store = MetricStore()
    family = IstioFamily(store, IstioMetricsConfig())
    for code in (200, 404, 200):
        view = http_view(response_code=code)
        family.record(view, outbound(), spans_of(view, outbound(), "both"), "both")
    assert len(family._cache) == 1
    assert sorted(p.value for p in points(store, "istio_requests_total")) == [1, 2]


def test_configured_buckets() -> None:
    store = MetricStore()
    IstioFamily(store, IstioMetricsConfig(duration_buckets=[1, 10], size_buckets=[100])).record(
        http_view(), outbound(), spans_of(http_view(), outbound(), "both"), "both"
    )
    assert only(store, "istio_request_duration_milliseconds").bounds == (1, 10)
    assert only(store, "istio_request_bytes").bounds == (100,)


def test_units() -> None:
    store = record(http_view(), outbound())
    units = {m.name: m.unit for m in store.collect(0, 1, "cumulative")[None]}
    assert units == {
        "istio_requests_total": "",
        "istio_request_duration_milliseconds": "ms",
        "istio_request_bytes": "By",
        "istio_response_bytes": "By",
    }


@pytest.mark.parametrize(
    ("principal", "namespace"),
    [
        ("spiffe://cluster.local/ns/shop/sa/front", "shop"),
        ("spiffe://td/ns/a", "a"),
        ("spiffe://cluster.local/sa/front", ""),
        ("", ""),
    ],
)
def test_namespace_of_principal(principal: str, namespace: str) -> None:
    assert namespace_of_principal(principal) == namespace


def test_resources_are_the_bridge() -> None:
    store = record(http_view(), outbound())
    assert set(store.collect(0, 1, "cumulative")) == {None}
    assert PRODUCTPAGE not in store.collect(0, 1, "cumulative")
    assert REVIEWS_PEER != REVIEWS
