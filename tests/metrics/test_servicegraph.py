"""Service graph metrics: one count per call whatever entries arrive, virtual nodes, failures."""

from __future__ import annotations

import pytest

from bridge.decode import EntryView
from bridge.identity import Ends, IdentitySource, Workload
from bridge.metrics.config import ServiceGraphMetricsConfig
from bridge.metrics.families.servicegraph import ServiceGraphFamily
from bridge.metrics.store import MetricStore
from bridge.spans import Reporters
from tests.metrics.support import (
    EXTERNAL,
    MS,
    POSTGRES_STATIC,
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

TOTAL = "traces_service_graph_request_total"
FAILED = "traces_service_graph_request_failed_total"
SERVER = "traces_service_graph_request_server_seconds"
CLIENT = "traces_service_graph_request_client_seconds"
MESHED_EDGE = {
    "client": "productpage",
    "server": "reviews",
    "client_service_namespace": "default",
    "server_service_namespace": "default",
}


def record(entries: list[tuple[EntryView, Ends]], reporters: Reporters) -> MetricStore:
    store = MetricStore()
    family = ServiceGraphFamily(store, ServiceGraphMetricsConfig())
    for view, ends in entries:
        family.record(view, ends, spans_of(view, ends, reporters), reporters)
    return store


def counts(store: MetricStore) -> dict[str, float]:
    """Total per metric: the counter values, the histograms' counts."""
    return {name: sum(p.value for p in points(store, name)) for name in (TOTAL, FAILED, SERVER, CLIENT)}


def test_a_meshed_call_counts_once_from_both_entries() -> None:
    store = record([(http_view(), outbound()), (inbound_view(), inbound())], "both")
    assert counts(store) == {TOTAL: 1, FAILED: 0, SERVER: 1, CLIENT: 1}
    assert only(store, TOTAL).labels == MESHED_EDGE  # connection_type "" is left out
    assert only(store, SERVER).labels == only(store, CLIENT).labels == MESHED_EDGE


def test_a_meshed_call_counts_once_from_the_server_entry_alone() -> None:
    store = record([(inbound_view(), inbound())], "server_side")
    assert counts(store) == {TOTAL: 1, FAILED: 0, SERVER: 1, CLIENT: 1}
    assert only(store, CLIENT).total == only(store, SERVER).total  # approximated by the server's view


def test_server_side_mode_ignores_outbound_entries_to_meshed_destinations() -> None:
    store = record([(http_view(), outbound())], "server_side")
    assert counts(store) == {TOTAL: 0, FAILED: 0, SERVER: 0, CLIENT: 0}


def test_the_outbound_entry_alone_does_not_count_a_meshed_call() -> None:
    """In `both` mode the destination's inbound entry counts it; the client latency is still kept."""
    store = record([(http_view(), outbound())], "both")
    assert counts(store) == {TOTAL: 0, FAILED: 0, SERVER: 0, CLIENT: 1}


@pytest.mark.parametrize("reporters", ["both", "server_side"])
def test_a_call_to_an_unmeshed_destination_counts_from_the_outbound_entry(reporters: Reporters) -> None:
    view = http_view(authority="api.example.com", upstream_cluster="PassthroughCluster")
    store = record([(view, outbound(EXTERNAL))], reporters)
    assert counts(store) == {TOTAL: 1, FAILED: 0, SERVER: 0, CLIENT: 1}
    assert only(store, TOTAL).labels == {
        "client": "productpage",
        "server": "api.example.com",
        "connection_type": "virtual_node",
        "client_service_namespace": "default",
    }


@pytest.mark.parametrize("reporters", ["both", "server_side"])
def test_a_call_from_an_unmeshed_caller_counts_from_the_inbound_entry(reporters: Reporters) -> None:
    store = record([(inbound_view(tls_peer_uri_san=""), inbound(UNKNOWN))], reporters)
    assert counts(store) == {TOTAL: 1, FAILED: 0, SERVER: 1, CLIENT: 0}
    assert only(store, TOTAL).labels == {
        "client": "user",
        "server": "reviews",
        "connection_type": "virtual_node",
        "server_service_namespace": "default",
    }


def test_a_statically_named_caller_keeps_its_name() -> None:
    vm = Workload(service="legacy-billing", namespace="vms", source=IdentitySource.STATIC)
    store = record([(inbound_view(), inbound(vm))], "both")
    labels = only(store, TOTAL).labels
    assert (labels["client"], labels["client_service_namespace"], labels["connection_type"]) == (
        "legacy-billing",
        "vms",
        "virtual_node",
    )


def test_an_unnamed_destination_is_unknown() -> None:
    store = record([(http_view(authority="", upstream_cluster=""), outbound(UNKNOWN))], "both")
    labels = only(store, TOTAL).labels
    assert (labels["server"], labels["connection_type"]) == ("unknown", "virtual_node")


def test_tcp_to_a_static_database() -> None:
    store = record([(tcp_view(), outbound(POSTGRES_STATIC))], "both")
    assert only(store, TOTAL).labels["server"] == "postgres"
    assert only(store, CLIENT).total == 2.0


@pytest.mark.parametrize(
    ("view", "ends", "is_failed"),
    [
        (inbound_view(response_code=200), inbound(), False),
        # the SERVER span of a 404 is not an error, the CLIENT span is: the edge failed
        (inbound_view(response_code=404), inbound(), True),
        (inbound_view(response_code=503), inbound(), True),
        (inbound_view(response_code=0, response_flags="DC"), inbound(), True),
        (http_view(response_code=503), outbound(EXTERNAL), True),
        (grpc_view("0", upstream_cluster="inbound|9080||"), inbound(), False),
        (grpc_view("5", upstream_cluster="inbound|9080||"), inbound(), True),  # NOT_FOUND: client-side error
        (tcp_view(response_flags="UF,URX"), outbound(POSTGRES_STATIC), True),
        (tcp_view(response_flags="DC"), outbound(POSTGRES_STATIC), False),
    ],
)
def test_failed_when_either_side_failed(view: EntryView, ends: Ends, is_failed: bool) -> None:
    store = record([(view, ends)], "both")
    assert counts(store)[TOTAL] == 1
    assert counts(store)[FAILED] == (1 if is_failed else 0)
    if is_failed:
        assert only(store, FAILED).labels == only(store, TOTAL).labels


def test_latency_in_seconds_on_a_bound_goes_in_that_bucket() -> None:
    store = record([(inbound_view(last_downstream_tx_ns=10 * MS), inbound())], "both")
    point = only(store, SERVER)
    assert point.total == pytest.approx(0.01)
    assert point.buckets[point.bounds.index(0.01)] == 1


def test_units() -> None:
    store = record([(inbound_view(), inbound())], "server_side")
    units = {m.name: m.unit for m in store.collect(0, 1, "cumulative")[None]}
    assert units == {TOTAL: "", SERVER: "s", CLIENT: "s"}


GATEWAY = Workload(
    service="istio-ingressgateway",
    namespace="istio-system",
    workload="istio-ingressgateway",
    workload_kind="deployment",
    instance="istio-ingressgateway-1",
    is_gateway=True,
    source=IdentitySource.NODE,
)


@pytest.mark.parametrize("reporters", ["both", "server_side"])
def test_a_gateway_counts_the_request_it_received_from_outside(reporters: Reporters) -> None:
    store = record([(http_view(), outbound(local=GATEWAY))], reporters)
    user_edge = {
        "client": "user",
        "server": "istio-ingressgateway",
        "connection_type": "virtual_node",
        "server_service_namespace": "istio-system",
    }
    assert only(store, TOTAL).labels == user_edge  # gateway -> reviews: from reviews' inbound entry
    assert only(store, SERVER).labels == user_edge


def test_a_gateway_called_by_a_sidecar_over_mtls_counts_no_user_edge() -> None:
    """An egress gateway: its caller's own outbound entry counts that call."""
    view = http_view(tls_peer_uri_san="spiffe://cluster.local/ns/pay/sa/payment")
    store = record([(view, outbound(peer=EXTERNAL, local=GATEWAY))], "both")
    assert only(store, TOTAL).labels["client"] == "istio-ingressgateway"
    assert only(store, TOTAL).labels["server"] == "api.example.com"
