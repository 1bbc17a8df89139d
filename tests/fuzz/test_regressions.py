"""Small inputs for the bugs the fuzzers found in `bridge/`.

A bug not yet fixed is pinned as a strict xfail: when the fix lands the test passes, the xfail
turns into a failure, and the marker is removed, so the test guards the fix from then on.

Found so far: an unknown TLS version number (proto3 enums are open) raised KeyError out of the
entry decoder, which ended the gRPC stream and lost the message's other entries uncounted.
Fixed in bridge/decode/entry.py (`_TLS_VERSIONS.get`).
"""

from __future__ import annotations

from bridge.pipeline.convert import StreamState
from bridge.receivers.envoy_als import _protos
from bridge.telemetry import SELF
from tests.fixtures.als import http_entry, message
from tests.fuzz.targets import ReceiverHarness


def test_an_unknown_tls_version_is_not_fatal_to_the_message() -> None:
    """Envoy adds TLS versions as enum values over time; an older bridge must still take the entry
    (with an empty or numeric tls_version), and the other entries of the message with it."""
    odd = http_entry(request_id="odd-tls")
    odd.common_properties.tls_properties.tls_version = 7  # not in the bridge's copy of the enum
    raw = message([http_entry(request_id="before"), odd, http_entry(request_id="after")]).SerializeToString()
    harness = ReceiverHarness()
    dropped_before = SELF.get("als_bridge_entries_dropped_total")
    harness.receiver._on_message(StreamState(peer="test"), raw, None)  # raised KeyError before the fix
    converted = harness.logs.items
    dropped = SELF.get("als_bridge_entries_dropped_total") - dropped_before
    assert converted == 3 or (converted == 2 and dropped == 1)


def test_the_message_class_keeps_unknown_enum_numbers() -> None:
    """Why the bug is reachable: the wire value survives parsing (proto3 open enums)."""
    entry = _protos.HTTPAccessLogEntry()
    entry.common_properties.tls_properties.tls_version = 7
    parsed = _protos.HTTPAccessLogEntry.FromString(entry.SerializeToString())
    assert parsed.common_properties.tls_properties.tls_version == 7
