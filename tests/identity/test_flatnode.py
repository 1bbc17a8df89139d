from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.identity import IdentitySource, PeerMetadataError
from bridge.identity.flatnode import MAX_VECTOR, decode_flatnode, workload_from_flatnode
from tests.fixtures.metadata import REVIEWS_LABELS, build_flatnode, reviews_flatnode


def test_full_flatnode_with_identity_and_instance_ips() -> None:
    w = workload_from_flatnode(reviews_flatnode())
    assert w.source is IdentitySource.FLATNODE
    assert (w.service, w.namespace, w.version) == ("reviews", "default", "v1")
    assert (w.workload, w.workload_kind, w.instance) == (
        "reviews-v1",
        "deployment",
        "reviews-v1-5d8f9c7b6-abcde",
    )
    assert (w.cluster, w.mesh) == ("Kubernetes", "cluster.local")
    assert w.principal == "spiffe://cluster.local/ns/default/sa/bookinfo-reviews"
    assert w.ip == "10.44.2.55"
    assert not w.is_vm


def test_decoded_fields_match_istio_upper_case_keys() -> None:
    md = decode_flatnode(reviews_flatnode())
    assert md["LABELS"] == REVIEWS_LABELS
    assert md["INSTANCE_IPS"] == "10.44.2.55,fd00::55"
    assert md["APP_CONTAINERS"] == "reviews"
    assert md["ISTIO_VERSION"] == "1.22.3"


def test_partial_flatnode_as_the_xds_path_writes_it() -> None:
    data = build_flatnode(
        name="ratings-v1-abc",
        namespace="default",
        cluster_id="Kubernetes",
        workload_name="ratings-v1",
        labels={"service.istio.io/canonical-name": "ratings"},
    )
    w = workload_from_flatnode(
        data, node_id="sidecar~10.0.0.8~ratings-v1-abc.default~default.svc.cluster.local"
    )
    assert (w.service, w.workload, w.instance, w.version) == ("ratings", "ratings-v1", "ratings-v1-abc", "")
    assert w.ip == "10.0.0.8"
    assert w.principal == ""


def test_empty_flatnode_is_an_error() -> None:
    with pytest.raises(PeerMetadataError, match="no fields"):
        decode_flatnode(build_flatnode())


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x04\x00\x00",
        b"\xff\xff\xff\x7f" + b"\x00" * 8,  # root offset past the end
        b"\x08\x00\x00\x00" + b"\x00" * 4 + b"\xff\xff\xff\x7f",  # vtable offset past the start
        b"\x00" * 64,
    ],
)
def test_hostile_buffers_raise_peer_metadata_error(data: bytes) -> None:
    with pytest.raises(PeerMetadataError) as info:
        decode_flatnode(data)
    assert info.value.kind == "flatnode"


def test_every_truncation_of_a_valid_flatnode_fails_cleanly() -> None:
    data = reviews_flatnode()
    for n in range(len(data)):
        with contextlib.suppress(PeerMetadataError):
            decode_flatnode(data[:n])


def test_huge_vector_length_is_rejected_without_allocating() -> None:
    data = bytearray(build_flatnode(instance_ips=["10.0.0.1"]))
    # the vector's count is the u32 right before the vector data; find it by its value 1
    root = struct.unpack_from("<I", data, 0)[0]
    vtable = root - struct.unpack_from("<i", data, root)[0]
    field = root + struct.unpack_from("<H", data, vtable + 4 + 2 * 10)[0]
    vec = field + struct.unpack_from("<I", data, field)[0]
    struct.pack_into("<I", data, vec, MAX_VECTOR + 1)
    with pytest.raises(PeerMetadataError, match="vector"):
        decode_flatnode(bytes(data))
    struct.pack_into("<I", data, vec, 1000)  # under the cap but longer than the buffer
    with pytest.raises(PeerMetadataError, match="truncated"):
        decode_flatnode(bytes(data))


def test_invalid_utf8_is_an_error() -> None:
    data = build_flatnode(name="ab")
    bad = data.replace(b"ab", b"\xff\xfe")
    with pytest.raises(PeerMetadataError, match="UTF-8"):
        decode_flatnode(bad)


def _decode_or_error(data: bytes) -> None:
    with contextlib.suppress(PeerMetadataError):
        assert isinstance(decode_flatnode(data), dict)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_bytes_only_decode_or_raise_peer_metadata_error(data: bytes) -> None:
    _decode_or_error(data)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_flatnodes_only_decode_or_raise_peer_metadata_error(data: st.DataObject) -> None:
    buf = bytearray(reviews_flatnode())
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(buf) - 1))
        buf[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    _decode_or_error(bytes(buf[:cut]))
