from __future__ import annotations

from bridge.identity import (
    IdentitySource,
    Workload,
    peer_span_attributes,
    resource_attributes,
    workload_from_node,
)
from bridge.identity.cluster_name import workload_from_authority
from tests.fixtures.metadata import istio_node, upper_struct


def test_k8s_pod() -> None:
    w = workload_from_node(istio_node(region="us-east1", zone="us-east1-b"))
    assert resource_attributes(w) == (
        ("service.name", "productpage"),
        ("service.namespace", "default"),
        ("service.version", "v1"),
        ("service.instance.id", "productpage-v1-d66dcfdc5-kh6v7.default"),
        ("k8s.namespace.name", "default"),
        ("k8s.pod.name", "productpage-v1-d66dcfdc5-kh6v7"),
        ("k8s.deployment.name", "productpage-v1"),
        ("k8s.cluster.name", "Kubernetes"),
        ("cloud.region", "us-east1"),
        ("cloud.availability_zone", "us-east1-b"),
        ("istio.mesh.id", "cluster.local"),
    )


def test_vm() -> None:
    md = upper_struct(
        OWNER=None, NAME="vm-1", WORKLOAD_NAME="billing", LABELS={"app": "billing"}, MESH_ID=None
    )
    w = workload_from_node(
        istio_node(node_id="sidecar~10.9.0.4~vm-1.default~default.svc.cluster.local", metadata=md)
    )
    attrs = dict(resource_attributes(w))
    assert attrs == {
        "service.name": "billing",
        "service.namespace": "default",
        "service.instance.id": "vm-1.default",
        "host.name": "vm-1",
    }


def test_unknown_and_ip_only() -> None:
    assert resource_attributes(Workload()) == (("service.name", "unknown"),)
    assert peer_span_attributes(Workload()) == ()
    ip_only = workload_from_authority("10.0.0.1")
    assert ip_only is not None and peer_span_attributes(ip_only) == ()


def test_peer_span_attributes() -> None:
    w = Workload(service="reviews", namespace="default", workload="reviews-v1", source=IdentitySource.STRUCT)
    assert peer_span_attributes(w) == (
        ("service.peer.name", "reviews"),
        ("service.peer.namespace", "default"),
        ("istio.peer.workload.name", "reviews-v1"),
        ("istio.peer.workload.namespace", "default"),
    )


def test_cluster_named_peer_gets_k8s_namespace_only() -> None:
    w = Workload(service="reviews", namespace="default", source=IdentitySource.CLUSTER)
    assert dict(resource_attributes(w)) == {
        "service.name": "reviews",
        "service.namespace": "default",
        "k8s.namespace.name": "default",
    }
