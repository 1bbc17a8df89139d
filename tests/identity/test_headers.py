from __future__ import annotations

import pytest

from bridge.identity import IdentitySource, PeerMetadataError
from bridge.identity.headers import decode_base64, workload_from_header, workload_from_string_state
from tests.fixtures.metadata import REVIEWS_NODE_ID, any_bytes, any_string, peer_header_value, upper_struct


def test_header_value_and_id() -> None:
    w = workload_from_header(peer_header_value(upper_struct(NAME=None)), REVIEWS_NODE_ID)
    assert w.source is IdentitySource.HEADER
    assert (w.service, w.namespace, w.version) == ("reviews", "default", "v1")
    assert w.node_id == REVIEWS_NODE_ID
    assert w.instance == "reviews-v1-5d8f9c7b6-abcde"  # from the id


def test_padding_is_optional() -> None:
    text = peer_header_value(upper_struct(NAME="x"))
    assert decode_base64(text.rstrip("=")) == decode_base64(text)


@pytest.mark.parametrize("text", ["", "***", "abcde", "a" * 70_000, "é" * 8, "YWJj\x00"])
def test_bad_base64(text: str) -> None:
    with pytest.raises(PeerMetadataError) as info:
        decode_base64(text)
    assert info.value.kind == "base64"


def test_base64_of_garbage_is_a_struct_error() -> None:
    with pytest.raises(PeerMetadataError, match="struct"):
        workload_from_header("////")


def test_set_filter_state_string_and_bytes_forms() -> None:
    text = peer_header_value(upper_struct())
    for value in (any_string(text), any_bytes(text.encode())):
        w = workload_from_string_state(value.type_url, value.value)
        assert w.source is IdentitySource.STRING
        assert w.service == "reviews"
