"""VMs (WorkloadGroup/WorkloadEntry) and gateways as Istio's agent and proxies describe them:
as the reporter (node metadata) and as the mx peer in every encoding a proxy logs."""

from __future__ import annotations

import pytest

from bridge.demo.istio import IstioWorkload, flatnode, peer_struct
from bridge.identity import workload_from_node
from bridge.identity.flatnode import workload_from_flatnode
from bridge.identity.headers import workload_from_header
from bridge.identity.peer_struct import workload_from_struct_bytes
from bridge.identity.resource import resource_attributes
from bridge.identity.workload import Workload
from tests.fixtures.metadata import istio_node, upper_struct

VM = IstioWorkload(
    app="checkout", namespace="shop", version="v2", kind="vm", instance="vm-checkout-1", ip="10.10.0.5"
)
POD = IstioWorkload(
    app="frontend", namespace="shop", version="v1", kind="pod", instance="frontend-v1-7c9d-x2k4p"
)
GATEWAY = IstioWorkload(
    app="istio-ingressgateway",
    namespace="istio-system",
    version="",
    kind="gateway",
    instance="istio-ingressgateway-5d7b9-qq8rt",
    labels={"istio": "ingressgateway"},
)
ISTIO_VERSIONS = ("1.23.4", "1.24.2")


def _encodings(w: IstioWorkload, istio: str) -> dict[str, Workload]:
    """The peer `w` as a proxy of version `istio` logs it: header, Struct (1.24+), FlatNode."""
    md = w.mx_struct(istio)
    return {
        "header": workload_from_header(w.mx_header(istio)),
        "struct": workload_from_struct_bytes(peer_struct(md)),
        "flatnode": workload_from_flatnode(flatnode(md)),
    }


def _reporter(w: IstioWorkload) -> Workload:
    struct = upper_struct()
    struct.Clear()
    struct.update(w.node_metadata())
    return workload_from_node(istio_node(node_id=w.node_id, metadata=struct))


@pytest.mark.parametrize("istio", ISTIO_VERSIONS)
def test_a_vm_peer_is_a_host_in_every_encoding(istio: str) -> None:
    for encoding, peer in _encodings(VM, istio).items():
        attrs = dict(resource_attributes(peer))
        assert attrs["service.name"] == "checkout", encoding
        assert attrs["service.namespace"] == "shop", encoding
        assert attrs["service.version"] == "v2", encoding
        assert attrs["host.name"] == "vm-checkout-1", encoding
        assert attrs["service.instance.id"] == "vm-checkout-1.shop", encoding
        assert "k8s.pod.name" not in attrs and "k8s.namespace.name" not in attrs, encoding
        assert (peer.workload, peer.app, peer.app_version) == ("checkout", "checkout", "v2"), encoding


@pytest.mark.parametrize("istio", ISTIO_VERSIONS)
def test_a_pod_peer_stays_a_pod_in_every_encoding(istio: str) -> None:
    for encoding, peer in _encodings(POD, istio).items():
        attrs = dict(resource_attributes(peer))
        assert attrs["k8s.pod.name"] == "frontend-v1-7c9d-x2k4p", encoding
        assert "host.name" not in attrs, encoding


def test_a_statefulset_pod_typed_pod_by_istio_stays_a_pod() -> None:
    """1.24+ types a StatefulSet's pod `pod` too; its name still starts with the workload's."""
    sts = IstioWorkload(
        app="db", namespace="shop", version="v1", kind="pod", instance="db-0", workload_name="db"
    )
    peer = workload_from_struct_bytes(peer_struct(sts.mx_struct("1.24.2") | {"OWNER": ""}))
    assert dict(resource_attributes(peer))["k8s.pod.name"] == "db-0"


def test_a_vm_reporter() -> None:
    local = _reporter(VM)
    attrs = dict(resource_attributes(local))
    assert attrs["host.name"] == "vm-checkout-1"
    assert attrs["service.instance.id"] == "vm-checkout-1.shop"
    assert "k8s.pod.name" not in attrs
    assert (local.workload, local.ip, local.is_gateway) == ("checkout", "10.10.0.5", False)


def test_a_gateway_reporter_is_known_by_its_router_node_id() -> None:
    local = _reporter(GATEWAY)
    assert local.is_gateway
    assert local.node_id.startswith("router~")
    attrs = dict(resource_attributes(local))
    assert attrs["service.name"] == "istio-ingressgateway"
    assert attrs["k8s.deployment.name"] == "istio-ingressgateway"
    assert not _reporter(POD).is_gateway


WAYPOINT = IstioWorkload(
    app="waypoint", namespace="shop", version="", kind="waypoint", instance="waypoint-6d5f7-wp001"
)


def test_a_waypoint_entry_names_its_caller_and_its_destination() -> None:
    from bridge.decode import FilterStateValue
    from bridge.identity import Direction, IdentityResolver
    from tests.fixtures.metadata import STRUCT_URL, entry_view

    waypoint = _reporter(WAYPOINT)
    assert waypoint.is_waypoint and not waypoint.is_gateway
    state = {
        "downstream_peer": FilterStateValue(STRUCT_URL, peer_struct(POD.mx_struct("1.24.2"))),
        "upstream_peer": FilterStateValue(STRUCT_URL, peer_struct(VM.mx_struct("1.24.2"))),
    }
    view = entry_view(
        filter_state=state, upstream_cluster="inbound-vip|8080|http|checkout.shop.svc.cluster.local"
    )
    ends = IdentityResolver([]).resolve(view, waypoint)
    assert ends.direction is Direction.OUTBOUND
    assert ends.peer.workload == "checkout" and ends.peer.is_vm
    assert ends.caller is not None and ends.caller.workload == "frontend-v1"
