"""`x-envoy-peer-metadata` (base64 of a serialized Struct) -> `Workload`.

The same base64 text reaches ALS two ways: as a logged header (`additional_*_headers_to_log`),
and, with plain Envoy, as a filter-state `StringValue` / `BytesValue` written by
`set_filter_state` with factory key `envoy.string`. Istio sends standard base64 with padding
but decodes without requiring it (`Base64::decodeWithoutPadding`), so padding is optional here
too. The Struct normally has the node's upper-case keys; a lower-case one is accepted as well.
"""

from __future__ import annotations

import base64
import binascii

from bridge.identity.errors import PeerMetadataError
from bridge.identity.peer_struct import workload_from_struct_bytes
from bridge.identity.workload import IdentitySource, Workload
from bridge.identity.wrappers import unwrap

PEER_METADATA_HEADER = "x-envoy-peer-metadata"
PEER_METADATA_ID_HEADER = "x-envoy-peer-metadata-id"
MAX_TEXT = 64 * 1024  # Envoy's default header-map limit is 60 KiB


def decode_base64(text: str | bytes) -> bytes:
    """Strict standard base64, padding optional. Raises `PeerMetadataError` (kind "base64")."""
    raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
    raw = raw.strip()
    if len(raw) > MAX_TEXT:
        raise PeerMetadataError("base64", f"{len(raw)} characters is too long")
    if not raw:
        raise PeerMetadataError("base64", "empty value")
    raw += b"=" * (-len(raw) % 4)
    try:
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise PeerMetadataError("base64", "not standard base64") from None


def workload_from_header(value: str, node_id: str = "") -> Workload:
    """The peer in an `x-envoy-peer-metadata` header value (source HEADER)."""
    return workload_from_struct_bytes(decode_base64(value), IdentitySource.HEADER, node_id)


def workload_from_base64_bytes(text: bytes, node_id: str = "") -> Workload:
    """The peer in already-unwrapped base64 text from filter state (source STRING)."""
    return workload_from_struct_bytes(decode_base64(text), IdentitySource.STRING, node_id)


def workload_from_string_state(type_url: str, value: bytes, node_id: str = "") -> Workload:
    """The peer in a filter-state `StringValue` / `BytesValue` holding the header's base64 text."""
    return workload_from_base64_bytes(unwrap(type_url, value), node_id)
