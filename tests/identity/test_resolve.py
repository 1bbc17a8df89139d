from __future__ import annotations

from unittest import mock

import pytest

from bridge.decode.entry import FilterStateValue
from bridge.identity import Direction, IdentityResolver, IdentitySource, Workload, workload_from_node
from bridge.identity import resolve as resolve_mod
from bridge.identity.resolve import detect_direction
from bridge.receivers.envoy_als.config import PeerMatch, StaticPeer
from tests.fixtures.metadata import (
    REVIEWS_NODE_ID,
    any_bytes,
    any_bytes_flatnode,
    any_string,
    any_struct,
    entry_view,
    istio_node,
    lower_struct,
    peer_header_value,
    upper_struct,
)

LOCAL = workload_from_node(istio_node())


@pytest.fixture
def resolver() -> IdentityResolver:
    return IdentityResolver(
        [
            StaticPeer(PeerMatch(cidr="192.168.0.0/16"), service="legacy-vm", instance="vm-7"),
            StaticPeer(PeerMatch(authority="api.stripe.com"), service="stripe"),
        ]
    )


@pytest.mark.parametrize(
    ("key", "direction"),
    [
        ("downstream_peer", Direction.INBOUND),
        ("wasm.downstream_peer", Direction.INBOUND),
        ("envoy.wasm.metadata_exchange.downstream", Direction.INBOUND),
        ("upstream_peer", Direction.OUTBOUND),
        ("wasm.upstream_peer", Direction.OUTBOUND),
        ("envoy.wasm.metadata_exchange.upstream", Direction.OUTBOUND),
    ],
)
def test_direction_from_mx_key(key: str, direction: Direction) -> None:
    # the key wins over a contradicting cluster name
    view = entry_view(
        filter_state={key: any_struct(lower_struct())},
        upstream_cluster="outbound|1||x" if direction is Direction.INBOUND else "inbound|1||",
    )
    assert detect_direction(view) is direction


def test_direction_fallbacks() -> None:
    assert detect_direction(entry_view(upstream_cluster="inbound|9080||")) is Direction.INBOUND
    assert (
        detect_direction(entry_view(upstream_cluster="outbound|9080||r.d.svc.cluster.local"))
        is Direction.OUTBOUND
    )
    assert detect_direction(entry_view(response_flags="NR")) is Direction.OUTBOUND  # local reply, no cluster
    both = {"downstream_peer": any_struct(lower_struct()), "upstream_peer": any_struct(lower_struct())}
    assert (
        detect_direction(entry_view(filter_state=both, upstream_cluster="inbound|1||")) is Direction.INBOUND
    )


def test_inbound_struct_peer(resolver: IdentityResolver) -> None:
    ends = resolver.resolve(entry_view(filter_state={"downstream_peer": any_struct(lower_struct())}), LOCAL)
    assert ends.direction is Direction.INBOUND
    assert ends.local is LOCAL
    assert (ends.peer.service, ends.peer.source, ends.peer_error) == ("reviews", IdentitySource.STRUCT, "")


def test_outbound_flatnode_peer_with_id(resolver: IdentityResolver) -> None:
    fs = {
        "wasm.upstream_peer": any_bytes_flatnode(),
        "wasm.upstream_peer_id": any_bytes(REVIEWS_NODE_ID.encode()),
    }
    ends = resolver.resolve(entry_view(filter_state=fs), LOCAL)
    assert ends.direction is Direction.OUTBOUND
    assert (ends.peer.service, ends.peer.source) == ("reviews", IdentitySource.FLATNODE)
    assert ends.peer.node_id == REVIEWS_NODE_ID


@pytest.mark.parametrize("sentinel", ["unknown", "envoy.wasm.metadata_exchange.peer_unknown"])
def test_peer_id_sentinels_are_ignored(resolver: IdentityResolver, sentinel: str) -> None:
    fs = {
        "wasm.downstream_peer": any_bytes_flatnode(),
        "wasm.downstream_peer_id": any_bytes(sentinel.encode()),
    }
    assert resolver.resolve(entry_view(filter_state=fs), LOCAL).peer.node_id == ""


def test_istio_15_bytes_struct(resolver: IdentityResolver) -> None:
    fs = {
        "envoy.wasm.metadata_exchange.downstream": any_bytes(upper_struct().SerializeToString()),
        "envoy.wasm.metadata_exchange.downstream_id": any_bytes(REVIEWS_NODE_ID.encode()),
    }
    peer = resolver.resolve(entry_view(filter_state=fs), LOCAL).peer
    assert (peer.service, peer.workload_kind, peer.source, peer.node_id) == (
        "reviews",
        "deployment",
        IdentitySource.STRUCT,
        REVIEWS_NODE_ID,
    )


def test_set_filter_state_string(resolver: IdentityResolver) -> None:
    fs = {"downstream_peer": any_string(peer_header_value(upper_struct()))}
    peer = resolver.resolve(entry_view(filter_state=fs), LOCAL).peer
    assert (peer.service, peer.source) == ("reviews", IdentitySource.STRING)


def test_inbound_uses_the_request_header(resolver: IdentityResolver) -> None:
    view = entry_view(
        upstream_cluster="inbound|9080||",
        request_headers={
            "x-envoy-peer-metadata": peer_header_value(upper_struct()),
            "x-envoy-peer-metadata-id": REVIEWS_NODE_ID,
        },
    )
    peer = resolver.resolve(view, LOCAL).peer
    assert (peer.service, peer.source, peer.node_id) == ("reviews", IdentitySource.HEADER, REVIEWS_NODE_ID)


def test_outbound_ignores_its_own_request_header_and_reads_the_response(resolver: IdentityResolver) -> None:
    own = peer_header_value(upper_struct(NAME="productpage-1", LABELS={"app": "productpage"}))
    view = entry_view(
        upstream_cluster="outbound|9080||reviews.default.svc.cluster.local",
        request_headers={"x-envoy-peer-metadata": own},
    )
    peer = resolver.resolve(view, LOCAL).peer
    assert (peer.service, peer.source) == ("reviews", IdentitySource.CLUSTER)
    view.response_headers = {"x-envoy-peer-metadata": peer_header_value(upper_struct())}
    peer = resolver.resolve(view, LOCAL).peer
    assert (peer.service, peer.source) == ("reviews", IdentitySource.HEADER)
    assert peer.workload == "reviews-v1"


def test_struct_beats_header(resolver: IdentityResolver) -> None:
    view = entry_view(
        filter_state={"downstream_peer": any_struct(lower_struct(service="from-struct"))},
        request_headers={"x-envoy-peer-metadata": peer_header_value(upper_struct())},
    )
    assert resolver.resolve(view, LOCAL).peer.service == "from-struct"


def test_bad_struct_falls_back_to_header_and_reports_the_error(resolver: IdentityResolver) -> None:
    view = entry_view(
        filter_state={"wasm.downstream_peer": any_bytes(b"\x10\x00\x00\x00garbage")},
        request_headers={"x-envoy-peer-metadata": peer_header_value(upper_struct())},
    )
    ends = resolver.resolve(view, LOCAL)
    assert ends.peer.source is IdentitySource.HEADER
    assert ends.peer_error.startswith("flatnode: ")


@pytest.mark.parametrize(
    "value",
    [
        any_bytes(b"\xff" * 40),  # corrupt FlatNode
        any_bytes(b"\x0c\x00\x00\x00"),  # truncated
        FilterStateValue("type.googleapis.com/google.protobuf.Struct", b"\xff\xff"),  # garbage Struct
        FilterStateValue("type.googleapis.com/google.protobuf.BytesValue", b"\xff\xff"),  # bad wrapper
        any_string("%%%not-base64"),
        FilterStateValue("type.googleapis.com/google.protobuf.Duration", b""),
    ],
)
def test_corrupt_metadata_sets_peer_error_and_never_raises(
    resolver: IdentityResolver, value: FilterStateValue
) -> None:
    ends = resolver.resolve(entry_view(filter_state={"wasm.downstream_peer": value}), LOCAL)
    assert ends.peer.source is IdentitySource.UNKNOWN
    assert ends.peer_error


def test_bad_header_sets_peer_error(resolver: IdentityResolver) -> None:
    view = entry_view(upstream_cluster="inbound|80||", request_headers={"x-envoy-peer-metadata": "!!!"})
    ends = resolver.resolve(view, LOCAL)
    assert ends.peer == Workload()
    assert ends.peer_error.startswith("base64: ")


def test_static_map_inbound_and_outbound(resolver: IdentityResolver) -> None:
    inbound = resolver.resolve(
        entry_view(upstream_cluster="inbound|80||", downstream_remote_ip="192.168.4.4"), LOCAL
    )
    assert (inbound.peer.service, inbound.peer.ip, inbound.peer.source) == (
        "legacy-vm",
        "192.168.4.4",
        IdentitySource.STATIC,
    )
    outbound = resolver.resolve(
        entry_view(
            upstream_cluster="PassthroughCluster", upstream_remote_ip="1.1.1.1", authority="api.stripe.com"
        ),
        LOCAL,
    )
    assert outbound.peer.service == "stripe"


def test_cluster_then_authority_fallbacks(resolver: IdentityResolver) -> None:
    view = entry_view(
        upstream_cluster="outbound|9080|v1|reviews.default.svc.cluster.local", authority="reviews:9080"
    )
    assert resolver.resolve(view, LOCAL).peer.source is IdentitySource.CLUSTER
    view = entry_view(upstream_cluster="PassthroughCluster", authority="httpbin.org")
    peer = resolver.resolve(view, LOCAL).peer
    assert (peer.service, peer.source) == ("httpbin.org", IdentitySource.AUTHORITY)
    # inbound never guesses from the authority (it is our own service's host)
    assert not resolver.resolve(
        entry_view(upstream_cluster="inbound|80||", authority="x.y"), LOCAL
    ).peer.known


def test_tcp_peer_not_found_skips_metadata(resolver: IdentityResolver) -> None:
    fs = {
        "peer_not_found": FilterStateValue("type.googleapis.com/google.protobuf.BoolValue", b"\x08\x01"),
        "downstream_peer": any_struct(lower_struct()),
    }
    ends = resolver.resolve(entry_view(is_tcp=True, filter_state=fs), LOCAL)
    assert ends.direction is Direction.INBOUND
    assert not ends.peer.known and ends.peer_error == ""


def test_same_bytes_decode_once_and_return_the_same_object(resolver: IdentityResolver) -> None:
    fs = {"wasm.downstream_peer": any_bytes_flatnode()}
    with mock.patch.object(
        resolve_mod, "workload_from_flatnode", wraps=resolve_mod.workload_from_flatnode
    ) as spy:
        first = resolver.resolve(entry_view(filter_state=dict(fs)), LOCAL).peer
        second = resolver.resolve(entry_view(filter_state=dict(fs)), LOCAL).peer
    assert first is second
    assert spy.call_count == 1


def test_errors_are_cached_too(resolver: IdentityResolver) -> None:
    fs = {"wasm.downstream_peer": any_bytes(b"\xff" * 40)}
    with mock.patch.object(
        resolve_mod, "workload_from_flatnode", wraps=resolve_mod.workload_from_flatnode
    ) as spy:
        for _ in range(3):
            assert resolver.resolve(entry_view(filter_state=fs), LOCAL).peer_error
    assert spy.call_count == 1


def test_cache_is_bounded(resolver: IdentityResolver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resolve_mod, "CACHE_SIZE", 5)
    for i in range(20):
        resolver.resolve(
            entry_view(filter_state={"downstream_peer": any_struct(lower_struct(name=f"p{i}"))}), LOCAL
        )
    assert resolver.cache_len() <= 5


def _fresh(value: FilterStateValue) -> FilterStateValue:
    """The same type URL and bytes in new objects, as the decoder makes them for every entry."""
    return FilterStateValue(str(value.type_url), bytes(bytearray(value.value)))


def test_a_new_copy_of_the_same_blob_hits_the_cache(resolver: IdentityResolver) -> None:
    blob = any_struct(lower_struct())
    first = resolver.resolve(entry_view(filter_state={"downstream_peer": blob}), LOCAL)
    size = resolver.cache_len()
    again = resolver.resolve(entry_view(filter_state={"downstream_peer": _fresh(blob)}), LOCAL)
    assert again.peer is first.peer
    assert resolver.cache_len() == size


def test_different_blobs_never_share_a_cached_peer(resolver: IdentityResolver) -> None:
    # same length, one byte apart, and the same bytes under another type URL or peer id
    a, b = any_struct(lower_struct(name="pod-a")), any_struct(lower_struct(name="pod-b"))
    assert len(a.value) == len(b.value)
    ends_a = resolver.resolve(entry_view(filter_state={"downstream_peer": a}), LOCAL)
    ends_b = resolver.resolve(entry_view(filter_state={"downstream_peer": b}), LOCAL)
    assert (ends_a.peer.instance, ends_b.peer.instance) == ("pod-a", "pod-b")
    as_bytes = FilterStateValue(any_bytes(b"").type_url, a.value)
    other_type = resolver.resolve(entry_view(filter_state={"downstream_peer": as_bytes}), LOCAL)
    assert other_type.peer is not ends_a.peer
    with_id = resolver.resolve(
        entry_view(filter_state={"downstream_peer": a, "downstream_peer_id": any_string(REVIEWS_NODE_ID)}),
        LOCAL,
    )
    assert with_id.peer is not ends_a.peer
    assert with_id.peer.node_id == REVIEWS_NODE_ID


def test_repeated_ends_are_the_same_object_per_local_peer_and_direction(resolver: IdentityResolver) -> None:
    fs = {"downstream_peer": any_struct(lower_struct())}
    first = resolver.resolve(entry_view(filter_state=dict(fs)), LOCAL)
    assert resolver.resolve(entry_view(filter_state=dict(fs)), LOCAL) is first
    other_local = workload_from_node(istio_node(node_id="sidecar~10.0.0.9~other-1.ns~ns.svc.cluster.local"))
    elsewhere = resolver.resolve(entry_view(filter_state=dict(fs)), other_local)
    assert elsewhere.local is other_local
    assert elsewhere.peer is first.peer
    outbound = resolver.resolve(entry_view(filter_state={"upstream_peer": fs["downstream_peer"]}), LOCAL)
    assert outbound.direction is Direction.OUTBOUND
    assert outbound.peer is first.peer
