from __future__ import annotations

import pytest

from bridge.identity import IdentitySource
from bridge.identity.static_map import StaticPeerMap
from bridge.receivers.envoy_als.config import PeerMatch, StaticPeer


def peers() -> list[StaticPeer]:
    return [
        StaticPeer(PeerMatch(cidr="10.0.0.0/8"), service="corp-net"),
        StaticPeer(PeerMatch(cidr="10.20.0.0/16"), service="db-subnet", namespace="data"),
        StaticPeer(PeerMatch(ip="10.20.0.5"), service="postgres", instance="pg-1"),
        StaticPeer(PeerMatch(cidr="fd00::/64"), service="v6-net"),
        StaticPeer(PeerMatch(cluster="outbound|5432||db.example.com"), service="db"),
        StaticPeer(PeerMatch(authority="API.Stripe.com"), service="stripe"),
    ]


def test_longest_prefix_and_exact_ip() -> None:
    m = StaticPeerMap(peers())
    assert m.by_ip("10.1.2.3").service == "corp-net"  # type: ignore[union-attr]
    w = m.by_ip("10.20.9.9")
    assert w is not None and (w.service, w.ip, w.source) == ("db-subnet", "10.20.9.9", IdentitySource.STATIC)
    exact = m.by_ip("10.20.0.5")
    assert exact is not None and (exact.service, exact.is_vm) == ("postgres", True)
    assert m.by_ip("::ffff:10.20.9.9").service == "db-subnet"  # type: ignore[union-attr]
    assert m.by_ip("fd00::1").service == "v6-net"  # type: ignore[union-attr]
    assert m.by_ip("192.168.0.1") is None
    assert m.by_ip("not-an-ip") is None
    assert m.by_ip("10.20.9.9") is m.by_ip("10.20.9.9")  # memoized


def test_cluster_and_authority() -> None:
    m = StaticPeerMap(peers())
    assert m.by_cluster("outbound|5432||db.example.com").service == "db"  # type: ignore[union-attr]
    assert m.by_authority("api.stripe.COM:443").service == "stripe"  # type: ignore[union-attr]
    assert m.match(ip="192.168.0.1", authority="api.stripe.com").service == "stripe"  # type: ignore[union-attr]
    assert m.match(authority="example.org") is None


def test_empty_map_matches_nothing() -> None:
    m = StaticPeerMap([])
    assert m.empty and m.match("10.0.0.1", "c", "a") is None


@pytest.mark.parametrize(
    "match",
    [
        PeerMatch(),
        PeerMatch(ip="1.2.3.4", cidr="1.0.0.0/8"),
        PeerMatch(ip="nope"),
        PeerMatch(cidr="1.2.3.4/99"),
    ],
)
def test_bad_entries_are_rejected(match: PeerMatch) -> None:
    with pytest.raises(ValueError, match=r"static_peers\[0\]"):
        StaticPeerMap([StaticPeer(match, service="x")])
