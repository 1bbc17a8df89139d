from __future__ import annotations

import pytest

from bridge.identity import Direction, IdentitySource
from bridge.identity.cluster_name import (
    ClusterName,
    authority_host,
    direction_from_cluster,
    parse_cluster_name,
    workload_from_authority,
    workload_from_cluster,
)


@pytest.mark.parametrize(
    ("name", "direction"),
    [
        ("outbound|9080|v1|reviews.default.svc.cluster.local", Direction.OUTBOUND),
        ("outbound_.9080_.v1_.reviews.default.svc.cluster.local", Direction.OUTBOUND),
        ("inbound|9080||", Direction.INBOUND),
        ("inbound|9080|http|reviews.default.svc.cluster.local", Direction.INBOUND),
        ("InboundPassthroughCluster", Direction.INBOUND),
        ("InboundPassthroughClusterIpv6", Direction.INBOUND),
        ("PassthroughCluster", Direction.OUTBOUND),
        ("BlackHoleCluster", Direction.OUTBOUND),
        ("envoy_accesslog_service", None),
        ("", None),
    ],
)
def test_direction_from_cluster(name: str, direction: Direction | None) -> None:
    assert direction_from_cluster(name) is direction


def test_parse_forms() -> None:
    assert parse_cluster_name("outbound|9080|v1|reviews.default.svc.cluster.local") == ClusterName(
        Direction.OUTBOUND, 9080, "v1", "reviews.default.svc.cluster.local"
    )
    assert parse_cluster_name("outbound_.9080_.v1_.reviews.default.svc.cluster.local") == ClusterName(
        Direction.OUTBOUND, 9080, "v1", "reviews.default.svc.cluster.local"
    )
    assert parse_cluster_name("inbound|x||") == ClusterName(Direction.INBOUND, 0, "", "")
    assert parse_cluster_name("PassthroughCluster") is None


def test_workload_from_cluster() -> None:
    w = workload_from_cluster("outbound|9080|v1|reviews.default.svc.cluster.local")
    assert w is not None
    assert (w.service, w.namespace, w.version, w.source) == ("reviews", "default", "", IdentitySource.CLUSTER)
    external = workload_from_cluster("outbound|443||api.example.com")
    assert external is not None and (external.service, external.namespace) == ("api.example.com", "")
    assert workload_from_cluster("inbound|9080||") is None
    assert workload_from_cluster("PassthroughCluster") is None


def test_authority() -> None:
    w = workload_from_authority("reviews.default:9080")
    assert w is not None and (w.service, w.namespace, w.source) == (
        "reviews",
        "default",
        IdentitySource.AUTHORITY,
    )
    w = workload_from_authority("Ratings.Prod.svc.cluster.local")
    assert w is not None and (w.service, w.namespace) == ("ratings", "prod")
    w = workload_from_authority("api.example.com")
    assert w is not None and (w.service, w.namespace) == ("api.example.com", "")
    w = workload_from_authority("example.com")
    assert w is not None and (w.service, w.namespace) == ("example.com", "")
    w = workload_from_authority("[fd00::1]:8080")
    assert w is not None and (w.service, w.ip) == ("", "fd00::1")
    w = workload_from_authority("10.0.0.1:80")
    assert w is not None and (w.service, w.ip) == ("", "10.0.0.1")
    assert workload_from_authority("") is None
    assert authority_host("fd00::1") == "fd00::1"
