"""`from_http` / `from_tcp` against a plain reference reading of the same entries, field by field.

The decoder reads upb messages in a deliberately economical way (each sub-message once, maps by
key, presence asked only when a value is zero, one positional `EntryView` call). The reference
below reads every field the obvious way; for a corpus of ordinary and odd entries both must give
the same value, of the same type, for every `EntryView` field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge.decode import EntryView, FilterStateValue, from_http, from_tcp
from bridge.decode.entry import RESPONSE_FLAG_CODES
from bridge.receivers.envoy_als import _protos

_MAX_NS = 2**63 - 1
_METHODS = ("", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
_VERSIONS = ("", "1.0", "1.1", "2", "3")
_TLS = ("VERSION_UNSPECIFIED", "TLSv1", "TLSv1_1", "TLSv1_2", "TLSv1_3")


# --- the reference: every field read the straightforward way --------------------------------


def _ref_duration(common: Any, name: str) -> int:
    if not common.HasField(name):
        return -1
    d = getattr(common, name)
    ns = d.seconds * 1_000_000_000 + d.nanos
    return ns if 0 <= ns <= _MAX_NS else -1


def _ref_san(props: Any) -> str:
    return next((san.uri for san in props.subject_alt_name if san.uri), "")


def _ref_common(common: Any) -> dict[str, Any]:
    start = common.start_time.seconds * 1_000_000_000 + common.start_time.nanos
    flags = common.response_flags
    codes = [code for attr, code in RESPONSE_FLAG_CODES if getattr(flags, attr)]
    if flags.HasField("unauthorized_details"):
        codes.append("UAEX")
    tls = common.tls_properties
    has_tls = common.HasField("tls_properties")
    return {
        "start_ns": start if 0 <= start <= _MAX_NS else 0,
        "duration_ns": _ref_duration(common, "duration"),
        "last_downstream_tx_ns": _ref_duration(common, "time_to_last_downstream_tx_byte"),
        "last_rx_ns": _ref_duration(common, "time_to_last_rx_byte"),
        "last_upstream_rx_ns": _ref_duration(common, "time_to_last_upstream_rx_byte"),
        "downstream_remote_ip": common.downstream_remote_address.socket_address.address,
        "downstream_remote_port": common.downstream_remote_address.socket_address.port_value,
        "downstream_direct_remote_ip": common.downstream_direct_remote_address.socket_address.address,
        "downstream_local_ip": common.downstream_local_address.socket_address.address,
        "downstream_local_port": common.downstream_local_address.socket_address.port_value,
        "upstream_remote_ip": common.upstream_remote_address.socket_address.address,
        "upstream_remote_port": common.upstream_remote_address.socket_address.port_value,
        "upstream_local_ip": common.upstream_local_address.socket_address.address,
        "upstream_local_port": common.upstream_local_address.socket_address.port_value,
        "upstream_cluster": common.upstream_cluster,
        "route_name": common.route_name,
        "response_flags": ",".join(codes),
        "upstream_transport_failure_reason": common.upstream_transport_failure_reason,
        "connection_termination_details": common.connection_termination_details,
        "attempt_count": common.upstream_request_attempt_count,
        "tls_version": (_TLS[tls.tls_version] if 0 <= tls.tls_version < len(_TLS) else "") if has_tls else "",
        "tls_peer_uri_san": _ref_san(tls.peer_certificate_properties) if has_tls else "",
        "tls_local_uri_san": _ref_san(tls.local_certificate_properties) if has_tls else "",
        "filter_state": {
            key: FilterStateValue(any_.type_url, any_.value)
            for key, any_ in common.filter_state_objects.items()
        },
    }


def _ref_http(entry: Any) -> EntryView:
    req, resp = entry.request, entry.response
    method, version = req.request_method, entry.protocol_version
    return EntryView(
        is_tcp=False,
        **_ref_common(entry.common_properties),
        method=_METHODS[method] if 0 <= method < len(_METHODS) else "_OTHER",
        scheme=req.scheme,
        authority=req.authority,
        path=req.path,
        user_agent=req.user_agent,
        request_id=req.request_id,
        protocol_version=_VERSIONS[version] if 0 <= version < len(_VERSIONS) else "",
        request_headers={k.lower(): v for k, v in req.request_headers.items()},
        request_headers_bytes=req.request_headers_bytes,
        request_body_bytes=req.request_body_bytes,
        response_code=resp.response_code.value,
        response_code_details=resp.response_code_details,
        response_headers={k.lower(): v for k, v in resp.response_headers.items()},
        response_trailers={k.lower(): v for k, v in resp.response_trailers.items()},
        response_headers_bytes=resp.response_headers_bytes,
        response_body_bytes=resp.response_body_bytes,
        wire_bytes_received=entry.common_properties.downstream_wire_bytes_received,
        wire_bytes_sent=entry.common_properties.downstream_wire_bytes_sent,
    )


def _ref_tcp(entry: Any) -> EntryView:
    return EntryView(
        is_tcp=True,
        **_ref_common(entry.common_properties),
        tcp_received_bytes=entry.connection_properties.received_bytes,
        tcp_sent_bytes=entry.connection_properties.sent_bytes,
    )


# --- the corpus: each builder sets some fields of a fresh entry ---------------------------------

Edit = Callable[[Any], None]


def _set_duration(common: Any, name: str, seconds: int, nanos: int) -> None:
    getattr(common, name).seconds = seconds
    getattr(common, name).nanos = nanos


def _full_common(common: Any) -> None:
    """Every field the view reads, each with a value distinct from its neighbours'."""
    common.start_time.seconds, common.start_time.nanos = 1_700_000_000, 123_456_789
    _set_duration(common, "duration", 0, 9_000_001)
    _set_duration(common, "time_to_last_downstream_tx_byte", 0, 8_000_002)
    _set_duration(common, "time_to_last_rx_byte", 0, 300_003)
    _set_duration(common, "time_to_last_upstream_rx_byte", 0, 7_000_004)
    for i, name in enumerate(
        (
            "downstream_remote_address",
            "downstream_direct_remote_address",
            "downstream_local_address",
            "upstream_remote_address",
            "upstream_local_address",
        )
    ):
        sa = getattr(common, name).socket_address
        sa.address, sa.port_value = f"10.0.{i}.1", 40_000 + i
    common.upstream_cluster = "outbound|8080||b.demo.svc.cluster.local"
    common.route_name = "b-route"
    common.upstream_transport_failure_reason = "tls: handshake"
    common.connection_termination_details = "rbac denied"
    common.upstream_request_attempt_count = 3
    common.response_flags.upstream_overflow = True
    common.downstream_wire_bytes_received = 1_111
    common.downstream_wire_bytes_sent = 2_222
    tls = common.tls_properties
    tls.tls_version = 4
    tls.peer_certificate_properties.subject_alt_name.add().dns = "peer.example"
    tls.peer_certificate_properties.subject_alt_name.add().uri = "spiffe://cluster.local/ns/a/sa/peer"
    tls.local_certificate_properties.subject_alt_name.add().uri = "spiffe://cluster.local/ns/b/sa/local"
    for key, url, value in (
        ("upstream_peer", "type.googleapis.com/x.Struct", b"\x0a\x01a"),
        ("wasm.x", "t/y", b""),
    ):
        common.filter_state_objects[key].type_url = url
        common.filter_state_objects[key].value = value


def _full_http(entry: Any) -> None:
    _full_common(entry.common_properties)
    entry.protocol_version = 3
    req = entry.request
    req.request_method = 3
    req.scheme, req.authority, req.path = "https", "b.demo:8080", "/api/v1/items?x=ü"
    req.user_agent, req.request_id = "curl/8 ☃", "rid-1"
    req.request_headers["X-Envoy-Peer-Metadata"] = "Q0hB"
    req.request_headers["traceparent"] = "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"
    req.request_headers_bytes, req.request_body_bytes = 333, 444
    resp = entry.response
    resp.response_code.value = 503
    resp.response_code_details = "upstream_reset_before_response_started{connection_failure}"
    resp.response_headers["Content-Type"] = "application/grpc"
    resp.response_trailers["grpc-status"] = "14"
    resp.response_trailers["Grpc-Message"] = "unavailable"
    resp.response_headers_bytes, resp.response_body_bytes = 555, 666


def _flags(*names: str, uaex: bool = False) -> Edit:
    def edit(entry: Any) -> None:
        flags = entry.common_properties.response_flags
        for name in names:
            setattr(flags, name, True)
        if uaex:
            flags.unauthorized_details.reason = 1

    return edit


def _durations(seconds: int, nanos: int) -> Edit:
    def edit(entry: Any) -> None:
        for name in (
            "duration",
            "time_to_last_downstream_tx_byte",
            "time_to_last_rx_byte",
            "time_to_last_upstream_rx_byte",
        ):
            _set_duration(entry.common_properties, name, seconds, nanos)

    return edit


def _clear(*names: str) -> Edit:
    def edit(entry: Any) -> None:
        for name in names:
            entry.common_properties.ClearField(name)

    return edit


def _start(seconds: int, nanos: int = 0) -> Edit:
    def edit(entry: Any) -> None:
        entry.common_properties.start_time.seconds = seconds
        entry.common_properties.start_time.nanos = nanos

    return edit


def _ipv6(entry: Any) -> None:
    common = entry.common_properties
    common.downstream_remote_address.socket_address.address = "2001:db8::1"
    common.upstream_remote_address.socket_address.address = "::ffff:10.0.0.2"
    common.upstream_local_address.socket_address.port_value = 65535


def _pipe_address(entry: Any) -> None:
    entry.common_properties.downstream_local_address.pipe.path = "/var/run/envoy.sock"


def _odd_enums(entry: Any) -> None:
    entry.request.request_method = 99
    entry.protocol_version = 7
    entry.common_properties.tls_properties.tls_version = 9


def _negative_enums(entry: Any) -> None:
    entry.request.request_method = -3
    entry.protocol_version = -1
    entry.common_properties.tls_properties.tls_version = -2


def _empty_maps(entry: Any) -> None:
    entry.request.ClearField("request_headers")
    entry.response.ClearField("response_headers")
    entry.response.ClearField("response_trailers")
    entry.common_properties.ClearField("filter_state_objects")


def _clashing_header_case(entry: Any) -> None:
    entry.request.request_headers["x-a"] = "lower"
    entry.request.request_headers["X-A"] = "upper"


def _tls_without_sans(entry: Any) -> None:
    tls = entry.common_properties.tls_properties
    tls.ClearField("peer_certificate_properties")
    tls.local_certificate_properties.ClearField("subject_alt_name")
    tls.local_certificate_properties.subject_alt_name.add().dns = "only.dns"


def _no_response_code(entry: Any) -> None:
    entry.response.ClearField("response_code")


_VARIANTS: dict[str, list[Edit]] = {
    "full": [],
    "bare": [],  # built without `_full_*`: everything absent
    "flags": [_flags("no_healthy_upstream", "no_route_found", "downstream_remote_reset")],
    "all-flags": [_flags(*(attr for attr, _ in RESPONSE_FLAG_CODES), uaex=True)],
    "uaex-only": [_flags(uaex=True)],
    "no-durations": [
        _clear(
            "duration",
            "time_to_last_downstream_tx_byte",
            "time_to_last_rx_byte",
            "time_to_last_upstream_rx_byte",
        )
    ],
    "zero-durations": [_durations(0, 0)],
    "negative-durations": [_durations(-5, 0)],
    "negative-nanos": [_durations(0, -1)],
    "absurd-durations": [_durations(2**62, 999_999_999)],
    "just-in-range": [_durations(9_223_372_036, 854_775_807)],
    "just-past-range": [_durations(9_223_372_036, 854_775_808)],
    "negative-start": [_start(-1)],
    "absurd-start": [_start(2**62)],
    "no-start": [_clear("start_time")],
    "no-tls": [_clear("tls_properties")],
    "tls-without-sans": [_tls_without_sans],
    "no-addresses": [
        _clear(
            "downstream_remote_address",
            "downstream_direct_remote_address",
            "downstream_local_address",
            "upstream_remote_address",
            "upstream_local_address",
        )
    ],
    "ipv6": [_ipv6],
    "pipe-address": [_pipe_address],
    "unknown-enums": [_odd_enums],
    "negative-enums": [_negative_enums],
    "empty-maps": [_empty_maps],
    "header-case-clash": [_clashing_header_case],
    "no-response-code": [_no_response_code],
}


def _entries() -> Iterator[tuple[str, Any, Callable[[Any], EntryView], Callable[[Any], EntryView]]]:
    for name, edits in _VARIANTS.items():
        for kind in ("http", "tcp"):
            if kind == "http":
                entry = _protos.HTTPAccessLogEntry()
                if name != "bare":
                    _full_http(entry)
            else:
                entry = _protos.TCPAccessLogEntry()
                if name != "bare":
                    _full_common(entry.common_properties)
                    entry.connection_properties.received_bytes = 777
                    entry.connection_properties.sent_bytes = 888
            for edit in edits:
                if kind == "tcp" and edit in (
                    _odd_enums,
                    _negative_enums,
                    _empty_maps,
                    _clashing_header_case,
                    _no_response_code,
                ):
                    continue
                edit(entry)
            # through the wire, as the receiver sees it
            entry = type(entry).FromString(entry.SerializeToString())
            if kind == "http":
                yield f"{name}-http", entry, from_http, _ref_http
            else:
                yield f"{name}-tcp", entry, from_tcp, _ref_tcp


_CORPUS = list(_entries())


@pytest.mark.parametrize(
    ("entry", "decode", "reference"), [c[1:] for c in _CORPUS], ids=[c[0] for c in _CORPUS]
)
def test_view_matches_the_reference_field_by_field(
    entry: Any, decode: Callable[[Any], EntryView], reference: Callable[[Any], EntryView]
) -> None:
    got, want = decode(entry), reference(entry)
    for f in dataclasses.fields(EntryView):
        value, expected = getattr(got, f.name), getattr(want, f.name)
        assert (value, type(value)) == (expected, type(expected)), f.name


def test_the_full_entries_fill_every_field() -> None:
    """The corpus is only a test of field order if no field is left at its default."""
    defaults = EntryView(is_tcp=False)
    http = from_http(next(c[1] for c in _CORPUS if c[0] == "full-http"))
    tcp_only = {"tcp_received_bytes", "tcp_sent_bytes", "is_tcp"}
    left = [
        f.name
        for f in dataclasses.fields(EntryView)
        if f.name not in tcp_only and getattr(http, f.name) == getattr(defaults, f.name)
    ]
    assert left == []
    tcp = from_tcp(next(c[1] for c in _CORPUS if c[0] == "full-tcp"))
    assert (tcp.is_tcp, tcp.tcp_received_bytes, tcp.tcp_sent_bytes) == (True, 777, 888)


def test_each_view_has_its_own_dicts() -> None:
    """Truncation edits header dicts in place, so no two views may share one (not even an empty one)."""
    bare = next(c[1] for c in _CORPUS if c[0] == "bare-http")
    a, b = from_http(bare), from_http(bare)
    for name in ("request_headers", "response_headers", "response_trailers", "filter_state"):
        assert getattr(a, name) is not getattr(b, name), name
