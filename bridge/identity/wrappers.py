"""Unwrapping the `google.protobuf.Any` values Envoy logs as `filter_state_objects`.

Envoy packs untyped filter state (WasmState, CelState of type bytes/string/flatbuffers) as a
`BytesValue`, `envoy.string` objects from `set_filter_state` as a `StringValue`, and Istio
1.24+ peers as a `Struct` (reference §1.5, §2.3). Dispatch is on the type URL's suffix, so
any `type.googleapis.com/` prefix (or none) works.
"""

from __future__ import annotations

from google.protobuf import wrappers_pb2

from bridge.identity.errors import PeerMetadataError

STRUCT = "google.protobuf.Struct"
BYTES_VALUE = "google.protobuf.BytesValue"
STRING_VALUE = "google.protobuf.StringValue"


def unwrap(type_url: str, value: bytes) -> bytes:
    """The payload of a BytesValue or StringValue (as UTF-8 bytes). Raises `PeerMetadataError`."""
    try:
        if type_url.endswith(BYTES_VALUE):
            return bytes(wrappers_pb2.BytesValue.FromString(value).value)
        if type_url.endswith(STRING_VALUE):
            return str(wrappers_pb2.StringValue.FromString(value).value).encode()
    except Exception:  # parse errors differ by protobuf backend
        raise PeerMetadataError("wrapper", f"bad {type_url.rpartition('/')[2]}") from None
    raise PeerMetadataError("wrapper", f"unexpected type {type_url!r}")


def is_wrapper(type_url: str) -> bool:
    return type_url.endswith(BYTES_VALUE) or type_url.endswith(STRING_VALUE)
