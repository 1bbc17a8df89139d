"""Fuzz inputs: valid seeds built by code, byte-level mutations of them, and generated shapes.

Seeds are the forms Envoy and Istio really send (every filter-state form, headers, TCP and HTTP
entries, nodes), so a mutation starts close to the parsers' interesting paths instead of at
random bytes that every protobuf parser rejects in its first byte.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from google.protobuf import struct_pb2, wrappers_pb2

from bridge.decode.entry import EntryView, FilterStateValue
from bridge.identity.headers import PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER
from bridge.receivers.envoy_als import _protos
from tests.fixtures.als import http_entry, message
from tests.fixtures.metadata import (
    BYTES_URL,
    REVIEWS_NODE_ID,
    STRING_URL,
    STRUCT_URL,
    any_bytes,
    any_bytes_flatnode,
    any_string,
    any_struct,
    istio_node,
    lower_struct,
    peer_header_value,
    reviews_flatnode,
    upper_struct,
)
from tests.fuzz.draw import Draw

PEER_KEYS = (
    "downstream_peer",
    "downstream_peer_obj",
    "wasm.downstream_peer",
    "envoy.wasm.metadata_exchange.downstream",
    "upstream_peer",
    "upstream_peer_obj",
    "wasm.upstream_peer",
    "envoy.wasm.metadata_exchange.upstream",
    "downstream_peer_id",
    "wasm.downstream_peer_id",
    "envoy.wasm.metadata_exchange.downstream_id",
    "upstream_peer_id",
    "wasm.upstream_peer_id",
    "envoy.wasm.metadata_exchange.upstream_id",
    "peer_not_found",
    "wasm.envoy.wasm.metadata_exchange.peer_unknown",
)
TYPE_URLS = (STRUCT_URL, BYTES_URL, STRING_URL, "google.protobuf.Struct", "", "type.googleapis.com/x.Y")
CLUSTERS = (
    "outbound|8080||b.demo.svc.cluster.local",
    "outbound|9080|v1|reviews.default.svc.cluster.local",
    "outbound_.443_._.api.stripe.com",
    "inbound|9080||",
    "InboundPassthroughClusterIpv4",
    "PassthroughCluster",
    "BlackHoleCluster",
    "outbound|5432||10.0.0.9",
    "",
)
STRUCT_KEYS = (
    "NAME",
    "NAMESPACE",
    "LABELS",
    "OWNER",
    "WORKLOAD_NAME",
    "INSTANCE_IPS",
    "PLATFORM_METADATA",
    "ISTIO_META_OWNER",
    "CLUSTER_ID",
    "MESH_ID",
    "SERVICE_ACCOUNT",
    "IDENTITY",
    "REGION",
    "type",
    "workload",
    "name",
    "namespace",
    "service",
    "revision",
    "labels",
    "identity",
    "app",
    "version",
    "gcp_location",
    "aws_region",
)
_MUTATIONS = ("flip", "set", "insert", "delete", "truncate", "duplicate", "splice_varint")


# -- seeds ------------------------------------------------------------------------------------


@functools.cache
def metadata_seeds() -> tuple[bytes, ...]:
    """Raw peer-metadata payloads: FlatNode, both Struct key styles, base64 header text."""
    upper, lower = upper_struct(), lower_struct()
    return (
        reviews_flatnode(),
        reviews_flatnode(instance_ips=[], labels={}),
        upper.SerializeToString(),
        lower.SerializeToString(),
        peer_header_value(upper).encode(),
        peer_header_value(lower).encode(),
        REVIEWS_NODE_ID.encode(),
    )


@functools.cache
def filter_state_seeds() -> tuple[FilterStateValue, ...]:
    """Every filter-state form a peer arrives in (type URL + encoded value)."""
    upper, lower = upper_struct(), lower_struct()
    return (
        any_struct(lower),
        any_struct(upper),
        any_bytes_flatnode(),
        any_bytes(upper.SerializeToString()),
        any_string(peer_header_value(upper)),
        any_bytes(peer_header_value(lower).encode()),
        any_string(REVIEWS_NODE_ID),
        any_string("unknown"),
    )


def _filter_state_forms() -> list[dict[str, FilterStateValue]]:
    """One dict per way Istio versions lay out filter state on an entry."""
    fs = filter_state_seeds()
    return [
        {"downstream_peer": fs[0]},
        {"upstream_peer": fs[1], "upstream_peer_id": fs[6]},
        {"wasm.downstream_peer": fs[2], "wasm.downstream_peer_id": fs[6]},
        {"envoy.wasm.metadata_exchange.upstream": fs[3]},
        {"downstream_peer": fs[4]},
        {"upstream_peer_obj": fs[5], "upstream_peer_id": fs[7]},
        {"peer_not_found": any_string("true")},
    ]


def tcp_entry(filter_state: dict[str, FilterStateValue] | None = None) -> Any:
    entry = _protos.TCPAccessLogEntry()
    common = entry.common_properties
    common.start_time.seconds = 1_700_000_000
    common.duration.nanos = 7_000_000
    common.upstream_cluster = "outbound|5432||db.data.svc.cluster.local"
    common.upstream_remote_address.socket_address.address = "10.0.0.9"
    common.upstream_remote_address.socket_address.port_value = 5432
    for key, value in (filter_state or {}).items():
        common.filter_state_objects[key].type_url = value.type_url
        common.filter_state_objects[key].value = value.value
    entry.connection_properties.received_bytes = 1234
    entry.connection_properties.sent_bytes = 99
    return entry


@functools.cache
def message_seeds() -> tuple[bytes, ...]:
    """Serialized `StreamAccessLogsMessage`s: identified or not, HTTP and TCP, all filter-state forms."""
    forms = _filter_state_forms()
    http = [http_entry(request_id=f"seed-{i}", filter_state=fs) for i, fs in enumerate(forms)]
    header_entry = http_entry(request_id="seed-header", cluster="inbound|9080||")
    header_entry.request.request_headers[PEER_METADATA_HEADER] = peer_header_value(upper_struct())
    header_entry.request.request_headers[PEER_METADATA_ID_HEADER] = REVIEWS_NODE_ID
    header_entry.response.response_headers["content-type"] = "application/grpc"
    header_entry.response.response_trailers["grpc-status"] = "14"
    header_entry.common_properties.tls_properties.tls_version = 3
    header_entry.common_properties.response_flags.upstream_request_timeout = True
    tcp = _protos.StreamAccessLogsMessage()
    tcp.identifier.node.CopyFrom(istio_node(region="us-east1", zone="us-east1-b"))
    tcp.identifier.log_name = "tcp_envoy_accesslog"
    tcp.tcp_logs.log_entry.extend(tcp_entry(fs) for fs in forms)
    return (
        message(http).SerializeToString(),
        message([header_entry]).SerializeToString(),
        message(http[:2], identify=False).SerializeToString(),
        message([], identify=True).SerializeToString(),
        tcp.SerializeToString(),
    )


# -- mutation ---------------------------------------------------------------------------------


def mutate(draw: Draw, data: bytes, max_ops: int = 6) -> bytes:
    """`data` with a few byte-level edits; the edits a protobuf / flatbuffer parser finds hardest."""
    buf = bytearray(data)
    for _ in range(draw.integer(1, max_ops)):
        kind = draw.pick(_MUTATIONS)
        pos = draw.integer(0, len(buf)) if buf else 0
        if kind == "flip" and buf:
            buf[min(pos, len(buf) - 1)] ^= 1 << draw.integer(0, 7)
        elif kind == "set" and buf:
            buf[min(pos, len(buf) - 1)] = draw.pick((0x00, 0x7F, 0x80, 0xFF, draw.integer(0, 255)))
        elif kind == "insert":
            buf[pos:pos] = draw.binary(8)
        elif kind == "delete":
            del buf[pos : pos + draw.integer(1, 16)]
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "duplicate" and buf:
            start = draw.integer(0, len(buf) - 1)
            buf[pos:pos] = buf[start : start + draw.integer(1, 32)]
        elif kind == "splice_varint":  # a huge length prefix: the classic over-read
            buf[pos:pos] = b"\xff\xff\xff\xff\x0f"
    return bytes(buf)


def seed_or_noise(draw: Draw, seeds: tuple[bytes, ...], max_noise: int = 256) -> bytes:
    """A seed as is, a mutated seed, or random bytes."""
    choice = draw.integer(0, 9)
    if choice == 0:
        return draw.binary(max_noise)
    seed = draw.pick(seeds)
    return seed if choice == 1 else mutate(draw, seed)


# -- generated shapes -------------------------------------------------------------------------


def struct_value(draw: Draw, value: Any, depth: int) -> None:
    """Fill a `google.protobuf.Value` (default pool) with something arbitrary, nested up to `depth`."""
    kind = draw.integer(0, 5 if depth > 0 else 3)
    if kind == 0:
        value.string_value = draw.text(24)
    elif kind == 1:
        value.number_value = draw.pick((0.0, -1.0, 1e300, float("nan"), float("inf"), 3.5, 2.0**70))
    elif kind == 2:
        value.bool_value = draw.boolean()
    elif kind == 3:
        value.null_value = 0
    elif kind == 4:
        fill_struct(draw, value.struct_value, depth - 1)
    else:
        for _ in range(draw.integer(0, 3)):
            struct_value(draw, value.list_value.values.add(), depth - 1)


def fill_struct(draw: Draw, struct: struct_pb2.Struct, depth: int = 10) -> struct_pb2.Struct:
    """Up to six fields, keys mostly the ones the identity code reads."""
    for _ in range(draw.integer(0, 6)):
        key = draw.pick(STRUCT_KEYS) if draw.integer(0, 3) else draw.text(12)
        struct_value(draw, struct.fields[key], depth)
    return struct


def deep_struct(levels: int) -> bytes:
    """A Struct nested `levels` deep: past the protobuf parser's recursion limit when large."""
    root = struct_pb2.Struct()
    inner = root
    for _ in range(levels):
        inner = inner.fields["LABELS"].struct_value
    inner.fields["app"].string_value = "deep"
    return bytes(root.SerializeToString())


def struct_bytes(draw: Draw) -> bytes:
    """Serialized Struct bytes: generated contents, a seed, mutated, very deep, or noise."""
    choice = draw.integer(0, 5)
    if choice <= 2:
        return bytes(fill_struct(draw, struct_pb2.Struct()).SerializeToString())
    if choice == 3:
        return deep_struct(draw.pick((9, 50, 99, 101, 200)))
    return seed_or_noise(draw, metadata_seeds())


def node(draw: Draw) -> Any:
    """A private-pool `envoy.config.core.v3.Node` with arbitrary metadata and id."""
    result = _protos.Node(
        id=draw.pick((REVIEWS_NODE_ID, "", "router~1.2.3.4~gw.ns~ns.svc"))
        if draw.boolean()
        else draw.text(64)
    )
    result.metadata.ParseFromString(fill_struct(draw, struct_pb2.Struct()).SerializeToString())
    if draw.boolean():
        result.locality.region = draw.text(16)
        result.locality.zone = draw.text(16)
    return result


def filter_state_value(draw: Draw) -> FilterStateValue:
    """A seed form, a seed with its type URL or value changed, or arbitrary bytes under any type URL."""
    choice = draw.integer(0, 4)
    if choice == 0:
        return draw.pick(filter_state_seeds())
    type_url = draw.pick(TYPE_URLS) if draw.integer(0, 4) else draw.text(40)
    if choice == 1:
        seed = draw.pick(filter_state_seeds())
        return FilterStateValue(seed.type_url, mutate(draw, seed.value))
    if choice == 2:  # a well-formed wrapper around a broken or foreign payload
        payload = seed_or_noise(draw, metadata_seeds())
        wrapper = wrappers_pb2.BytesValue(value=payload)
        return FilterStateValue(draw.pick((BYTES_URL, STRING_URL)), wrapper.SerializeToString())
    if choice == 3:
        return FilterStateValue(STRUCT_URL, struct_bytes(draw))
    return FilterStateValue(type_url, seed_or_noise(draw, metadata_seeds()))


def _headers(draw: Draw) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(draw.integer(0, 3)):
        name = draw.pick(
            (PEER_METADATA_HEADER, PEER_METADATA_ID_HEADER, "content-type", "traceparent", "grpc-status")
        )
        value_choice = draw.integer(0, 2)
        if value_choice == 0:
            headers[name] = mutate(draw, draw.pick(metadata_seeds())).decode("latin-1")
        elif value_choice == 1:
            headers[name] = peer_header_value(upper_struct())
        else:
            headers[name] = draw.text(80, surrogates=True)
    return headers


def entry_view(draw: Draw) -> EntryView:
    """An `EntryView` as the decoder could produce it, with arbitrary metadata and names."""
    fs = {
        (draw.pick(PEER_KEYS) if draw.integer(0, 4) else draw.text(20)): filter_state_value(draw)
        for _ in range(draw.integer(0, 4))
    }
    return EntryView(
        is_tcp=draw.boolean(),
        upstream_cluster=draw.pick(CLUSTERS) if draw.boolean() else draw.text(40, surrogates=True),
        authority=draw.pick(("b.demo:8080", "[::1]:80", "api.stripe.com", "", "10.0.0.1"))
        if draw.boolean()
        else draw.text(40),
        downstream_remote_ip=draw.pick(("10.20.1.5", "::ffff:10.20.1.5", "", "not-an-ip", "fe80::1%eth0")),
        upstream_remote_ip=draw.pick(("10.0.0.9", "192.168.1.1", "", "2001:db8::1", draw.text(16))),
        filter_state=fs,
        request_headers=_headers(draw),
        response_headers=_headers(draw),
    )


# -- generated ALS messages -------------------------------------------------------------------

_INT32 = (-(2**31), 2**31 - 1)
_UINT32 = (0, 2**32 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_UINT64 = (0, 2**64 - 1)


def _fill_common(draw: Draw, common: Any) -> None:
    common.start_time.seconds = draw.pick((1_700_000_000, 0, -1, 253_402_300_799, draw.integer(*_INT64)))
    common.start_time.nanos = draw.pick((0, 999_999_999, draw.integer(*_INT32)))
    for name in (
        "duration",
        "time_to_last_downstream_tx_byte",
        "time_to_last_rx_byte",
        "time_to_last_upstream_rx_byte",
    ):
        if draw.boolean():
            getattr(common, name).seconds = draw.pick((0, 1, -5, draw.integer(*_INT64)))
            getattr(common, name).nanos = draw.pick((0, 5_000_000, -1, draw.integer(*_INT32)))
    for name in ("downstream_remote_address", "upstream_remote_address", "downstream_local_address"):
        sa = getattr(common, name).socket_address
        sa.address = draw.pick(("10.0.0.2", "::1", "", draw.text(20)))
        sa.port_value = draw.integer(*_UINT32)
    common.upstream_cluster = draw.pick(CLUSTERS) if draw.boolean() else draw.text(40)
    common.route_name = draw.text(20)
    common.upstream_request_attempt_count = draw.integer(*_UINT32)
    if draw.boolean():
        common.response_flags.no_route_found = draw.boolean()
        common.response_flags.upstream_request_timeout = draw.boolean()
        if draw.boolean():
            common.response_flags.unauthorized_details.reason = 1
    if draw.boolean():
        tls = common.tls_properties
        tls.tls_version = draw.pick((0, 1, 4, draw.integer(*_INT32)))  # proto3 enums are open
        tls.peer_certificate_properties.subject_alt_name.add().uri = draw.text(40)
    for _ in range(draw.integer(0, 3)):
        key = draw.pick(PEER_KEYS) if draw.integer(0, 3) else draw.text(20)
        value = filter_state_value(draw)
        common.filter_state_objects[key].type_url = value.type_url
        common.filter_state_objects[key].value = value.value


def _http(draw: Draw) -> Any:
    entry = _protos.HTTPAccessLogEntry()
    _fill_common(draw, entry.common_properties)
    entry.protocol_version = draw.pick((0, 2, 3, draw.integer(*_INT32)))
    req, resp = entry.request, entry.response
    req.request_method = draw.pick((1, 3, 0, draw.integer(*_INT32)))
    req.scheme = draw.pick(("http", "https", ""))
    req.authority = draw.pick(("b.demo:8080", "[::1]:443", "", draw.text(40)))
    req.path = draw.pick(("/", "/pkg.Svc/Method", draw.text(60)))
    req.request_id = draw.text(36)
    for name, value in _headers(draw).items():
        req.request_headers[name] = value.encode("utf-8", "replace").decode("utf-8")
    req.request_headers_bytes = draw.integer(*_UINT64)
    resp.response_code.value = draw.pick((200, 503, 0, draw.integer(*_UINT32)))
    resp.response_code_details = draw.text(20)
    if draw.boolean():
        resp.response_headers["content-type"] = draw.pick(("application/grpc", "text/plain", ""))
        resp.response_trailers["grpc-status"] = draw.pick(("0", "14", "99", "-1", "x"))
    resp.response_body_bytes = draw.integer(*_UINT64)
    entry.common_properties.downstream_wire_bytes_sent = draw.integer(*_UINT64)
    return entry


def _tcp(draw: Draw) -> Any:
    entry = _protos.TCPAccessLogEntry()
    _fill_common(draw, entry.common_properties)
    entry.connection_properties.received_bytes = draw.integer(*_UINT64)
    entry.connection_properties.sent_bytes = draw.integer(*_UINT64)
    return entry


def generated_message(draw: Draw) -> bytes:
    """A well-formed `StreamAccessLogsMessage` with arbitrary field values."""
    msg = _protos.StreamAccessLogsMessage()
    if draw.boolean():
        msg.identifier.node.CopyFrom(node(draw) if draw.boolean() else istio_node())
        msg.identifier.log_name = draw.text(20)
    kind = draw.integer(0, 2)
    make: Callable[[Draw], Any] = _http if kind == 0 else _tcp
    target = msg.http_logs.log_entry if kind == 0 else msg.tcp_logs.log_entry
    if kind < 2:
        target.extend(make(draw) for _ in range(draw.integer(0, 3)))
    return bytes(msg.SerializeToString())


def als_message(draw: Draw) -> bytes:
    """Any message bytes a client could send: generated, seeded, mutated, or noise."""
    choice = draw.integer(0, 5)
    if choice <= 1:
        return generated_message(draw)
    if choice == 2:
        return mutate(draw, generated_message(draw))
    return seed_or_noise(draw, message_seeds(), max_noise=512)
