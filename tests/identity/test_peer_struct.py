from __future__ import annotations

import pytest

from bridge.identity import IdentitySource, PeerMetadataError
from bridge.identity.peer_struct import workload_from_struct_bytes
from tests.fixtures.metadata import lower_struct, upper_struct


def test_istio_124_struct() -> None:
    w = workload_from_struct_bytes(lower_struct().SerializeToString())
    assert w.source is IdentitySource.STRUCT
    assert (w.service, w.namespace, w.version) == ("reviews", "default", "v1")
    assert (w.workload, w.workload_kind, w.instance) == (
        "reviews-v1",
        "deployment",
        "reviews-v1-5d8f9c7b6-abcde",
    )
    assert (w.app, w.app_version, w.cluster) == ("reviews", "v1", "Kubernetes")
    assert not w.is_vm


def test_istio_129_struct_with_identity_labels_and_locality() -> None:
    struct = lower_struct(
        identity="spiffe://cluster.local/ns/default/sa/bookinfo-reviews",
        region="us-west1",
        availability_zone="us-west1-a",
        labels={"team": "books"},
    )
    w = workload_from_struct_bytes(struct.SerializeToString())
    assert w.principal == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    assert (w.region, w.zone) == ("us-west1", "us-west1-a")


def test_service_and_version_fallbacks() -> None:
    w = workload_from_struct_bytes(lower_struct(service=None, revision=None).SerializeToString())
    assert (w.service, w.version) == ("reviews", "v1")  # app, then version
    w = workload_from_struct_bytes(
        lower_struct(service=None, app=None, version=None, revision=None).SerializeToString()
    )
    assert (w.service, w.version) == ("reviews-v1", "")  # workload


def test_vm_only_when_type_is_absent_and_an_instance_is_named() -> None:
    assert workload_from_struct_bytes(lower_struct(type=None).SerializeToString()).is_vm
    assert not workload_from_struct_bytes(lower_struct(type=None, name=None).SerializeToString()).is_vm
    assert not workload_from_struct_bytes(lower_struct(type="pod").SerializeToString()).is_vm


def test_upper_case_struct_goes_to_the_node_mapping() -> None:
    w = workload_from_struct_bytes(upper_struct().SerializeToString())
    assert (w.service, w.workload_kind, w.ip) == ("reviews", "deployment", "10.44.2.55")
    assert w.principal == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"


@pytest.mark.parametrize("data", [b"\xff\xff\xff", b"\x0a\x05abc", b"", b"\x12\x03abc"])
def test_garbage_is_a_struct_error(data: bytes) -> None:
    with pytest.raises(PeerMetadataError) as info:
        workload_from_struct_bytes(data)
    assert info.value.kind == "struct"
