from __future__ import annotations

from bridge.identity import IdentitySource, workload_from_node
from bridge.identity.metadata import parse_node_id, parse_owner, workload_from_metadata
from tests.fixtures.metadata import istio_node, upper_struct


def test_sidecar_node_maps_every_istio_key() -> None:
    w = workload_from_node(istio_node(region="us-east1", zone="us-east1-b"))
    assert w.source is IdentitySource.NODE
    assert (w.service, w.namespace, w.version) == ("productpage", "default", "v1")
    assert (w.workload, w.workload_kind) == ("productpage-v1", "deployment")
    assert w.instance == "productpage-v1-d66dcfdc5-kh6v7"
    assert (w.app, w.app_version) == ("productpage", "v1")
    assert (w.cluster, w.mesh) == ("Kubernetes", "cluster.local")
    assert w.principal == "spiffe://cluster.local/ns/default/sa/bookinfo-productpage"
    assert w.ip == "10.44.1.7"
    assert w.node_id.startswith("sidecar~10.44.1.7~")
    assert (w.region, w.zone) == ("us-east1", "us-east1-b")
    assert not w.is_vm


def test_metadata_region_keys_beat_node_locality() -> None:
    node = istio_node(metadata=upper_struct(REGION="eu-west1", AVAILABILITY_ZONE="eu-west1-a"), region="x")
    w = workload_from_node(node)
    assert (w.region, w.zone) == ("eu-west1", "eu-west1-a")


def test_node_id_fills_instance_namespace_and_ip_when_metadata_lacks_them() -> None:
    node = istio_node(
        node_id="router~10.1.0.9~istio-ingressgateway-abc.istio-system~istio-system.svc.cluster.local",
        metadata=upper_struct(NAME=None, NAMESPACE=None, INSTANCE_IPS=None, SERVICE_ACCOUNT=None),
    )
    w = workload_from_node(node)
    assert (w.instance, w.namespace, w.ip) == ("istio-ingressgateway-abc", "istio-system", "10.1.0.9")


def test_vm_has_no_owner() -> None:
    md = upper_struct(
        OWNER=None,
        NAME="vm-1",
        WORKLOAD_NAME="billing",
        LABELS={"app": "billing"},
        TRUST_DOMAIN="example.org",
        SERVICE_ACCOUNT="billing-sa",
    )
    w = workload_from_node(
        istio_node(node_id="sidecar~10.9.0.4~vm-1.default~default.svc.cluster.local", metadata=md)
    )
    assert w.is_vm
    assert w.workload_kind == ""
    assert (w.service, w.version) == ("billing", "")
    assert w.principal == "spiffe://example.org/ns/default/sa/billing-sa"


def test_service_and_version_chains() -> None:
    def named(labels: dict[str, str], **extra: object) -> tuple[str, str, str, str]:
        md: dict[str, object] = {"NAME": "pod-1", "LABELS": labels, **extra}
        w = workload_from_metadata(md, IdentitySource.NODE)
        return w.service, w.version, w.app, w.app_version

    k8s = {"app.kubernetes.io/name": "kn", "app.kubernetes.io/version": "kv", "app": "a", "version": "v"}
    assert named(k8s) == ("kn", "kv", "kn", "kv")
    assert named({"app": "a", "version": "v"}) == ("a", "v", "a", "v")
    assert named({}, WORKLOAD_NAME="wl") == ("wl", "", "", "")
    assert named({}) == ("pod-1", "", "", "")
    canonical = {**k8s, "service.istio.io/canonical-name": "cn", "service.istio.io/canonical-revision": "cr"}
    assert named(canonical) == ("cn", "cr", "kn", "kv")


def test_istio_meta_passthrough_and_owner_kinds() -> None:
    md: dict[str, object] = {
        "ISTIO_META_CLUSTER_ID": "east",
        "NAMESPACE": "db",
        "OWNER": "kubernetes://apis/apps/v1/namespaces/db/statefulsets/postgres",
    }
    w = workload_from_metadata(md, IdentitySource.NODE)
    assert (w.cluster, w.workload_kind, w.workload) == ("east", "statefulset", "postgres")
    assert parse_owner("kubernetes://apis/batch/v1/namespaces/ns/cronjobs/nightly") == ("cronjob", "nightly")
    assert parse_owner("kubernetes://apis/v1/namespaces/ns/pods/p-1") == ("pod", "p-1")
    assert parse_owner("garbage") == ("", "")


def test_platform_metadata_gives_locality() -> None:
    md: dict[str, object] = {"NAME": "p", "PLATFORM_METADATA": {"gcp_location": "us-central1-c"}}
    w = workload_from_metadata(md, IdentitySource.NODE)
    assert (w.region, w.zone) == ("us-central1", "us-central1-c")
    md = {
        "NAME": "p",
        "PLATFORM_METADATA": {"aws_region": "us-east-1", "aws_availability_zone": "us-east-1a"},
    }
    w = workload_from_metadata(md, IdentitySource.NODE)
    assert (w.region, w.zone) == ("us-east-1", "us-east-1a")


def test_parse_node_id() -> None:
    assert parse_node_id("waypoint~10.0.0.1~wp-1.ns~ns.svc.cluster.local") == (
        "waypoint",
        "10.0.0.1",
        "wp-1",
        "ns",
    )
    assert parse_node_id("not-istio") == ("", "", "", "")
