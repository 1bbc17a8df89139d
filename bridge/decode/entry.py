"""`EntryView`: the fields of an HTTP or TCP access log entry that the bridge uses, read once.

Why a view instead of passing the protobuf on: every later stage (identity, spans, metrics,
logs) reads the same few dozen fields; reading them here once keeps the per-entry cost down
and keeps the protobuf's field names in one module. A newcomer who wants to know where an ALS
field goes starts here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

# Envoy's RequestMethod enum (envoy.config.core.v3), index = enum number.
_METHODS = ("", "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
# HTTPAccessLogEntry.HTTPVersion -> network.protocol.version
_HTTP_VERSIONS = ("", "1.0", "1.1", "2", "3")

# ResponseFlags boolean -> Envoy short code, in Envoy's order (StreamInfo::ResponseFlagUtils).
RESPONSE_FLAG_CODES: tuple[tuple[str, str], ...] = (
    ("failed_local_healthcheck", "LH"),
    ("no_healthy_upstream", "UH"),
    ("upstream_request_timeout", "UT"),
    ("local_reset", "LR"),
    ("upstream_remote_reset", "UR"),
    ("upstream_connection_failure", "UF"),
    ("upstream_connection_termination", "UC"),
    ("upstream_overflow", "UO"),
    ("no_route_found", "NR"),
    ("delay_injected", "DI"),
    ("fault_injected", "FI"),
    ("rate_limited", "RL"),
    ("rate_limit_service_error", "RLSE"),
    ("downstream_connection_termination", "DC"),
    ("upstream_retry_limit_exceeded", "URX"),
    ("stream_idle_timeout", "SI"),
    ("invalid_envoy_request_headers", "IH"),
    ("downstream_protocol_error", "DPE"),
    ("upstream_max_stream_duration_reached", "UMSDR"),
    ("response_from_cache_filter", "RFCF"),
    ("no_filter_config_found", "NFCF"),
    ("duration_timeout", "DT"),
    ("upstream_protocol_error", "UPE"),
    ("no_cluster_found", "NC"),
    ("overload_manager", "OM"),
    ("dns_resolution_failure", "DF"),
    ("downstream_remote_reset", "DR"),
)


class FilterStateValue(NamedTuple):
    """One `filter_state_objects` entry: the Any's type URL and its still-encoded value.

    A NamedTuple rather than a frozen dataclass: every entry makes one or two, and a frozen
    dataclass's `__init__` costs several times more (it sets each field through `object`)."""

    type_url: str
    value: bytes


@dataclass(slots=True)
class EntryView:
    """The decoded entry. Times are Unix nanoseconds; a missing duration is -1."""

    is_tcp: bool
    start_ns: int = 0
    duration_ns: int = -1  # Envoy's `duration` (whole stream / connection)
    last_downstream_tx_ns: int = -1  # time_to_last_downstream_tx_byte
    last_rx_ns: int = -1  # time_to_last_rx_byte
    last_upstream_rx_ns: int = -1  # time_to_last_upstream_rx_byte
    downstream_remote_ip: str = ""
    downstream_remote_port: int = 0
    downstream_direct_remote_ip: str = ""
    downstream_local_ip: str = ""
    downstream_local_port: int = 0
    upstream_remote_ip: str = ""
    upstream_remote_port: int = 0
    upstream_local_ip: str = ""
    upstream_local_port: int = 0
    upstream_cluster: str = ""
    route_name: str = ""
    response_flags: str = ""  # "UH,NR"; "" when none
    upstream_transport_failure_reason: str = ""
    connection_termination_details: str = ""
    attempt_count: int = 0
    tls_version: str = ""
    tls_peer_uri_san: str = ""  # first URI SAN of the downstream peer certificate
    tls_local_uri_san: str = ""
    filter_state: dict[str, FilterStateValue] = field(default_factory=dict)
    # HTTP only
    method: str = ""
    scheme: str = ""
    authority: str = ""
    path: str = ""
    user_agent: str = ""
    request_id: str = ""
    protocol_version: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)
    request_headers_bytes: int = 0
    request_body_bytes: int = 0
    response_code: int = 0
    response_code_details: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    response_trailers: dict[str, str] = field(default_factory=dict)
    response_headers_bytes: int = 0
    response_body_bytes: int = 0
    wire_bytes_received: int = 0  # downstream wire bytes (headers included), newer Envoy
    wire_bytes_sent: int = 0
    # TCP only
    tcp_received_bytes: int = 0
    tcp_sent_bytes: int = 0

    @property
    def end_ns(self) -> int:
        """End of the exchange as seen by the reporting proxy.

        `time_to_last_downstream_tx_byte` (the last byte of the reply left the proxy), else
        Envoy's `duration`, else `time_to_last_rx_byte` (a request that was never answered),
        else the start (a zero-length span rather than a guess).
        """
        for candidate in (self.last_downstream_tx_ns, self.duration_ns, self.last_rx_ns):
            if candidate >= 0:
                return min(self.start_ns + candidate, _MAX_NS)
        return self.start_ns


# TLSProperties.TLSVersion numbers -> names; an unknown number (open enum) reads as "".
_TLS_VERSIONS = {0: "VERSION_UNSPECIFIED", 1: "TLSv1", 2: "TLSv1_1", 3: "TLSv1_2", 4: "TLSv1_3"}
_METHOD_NAMES = dict(enumerate(_METHODS))
_HTTP_VERSION_NAMES = dict(enumerate(_HTTP_VERSIONS))
# Times beyond this (year 2262) or before 1970 are not real: a broken or hostile sender.
_MAX_NS = 2**63 - 1

# How to read this module fast. Every read of a sub-message (`common.start_time`) makes a new
# Python wrapper in upb, and a map's `.items()` is a Python-level generator, so the functions
# below read each sub-message once into a local, iterate maps by key, and build the view with
# one positional `EntryView(...)` call (keyword arguments cost several times more over 45
# fields). The locals are named after the `EntryView` fields they fill, in field order.


def _duration_ns(common: Any, name: str) -> int:
    """The duration `name` of `common` in ns; -1 when absent, negative or absurd.

    An absent duration reads as zero, so presence is asked for only when the value is zero:
    most entries carry their durations, and `HasField` costs as much as a read."""
    d = getattr(common, name)
    ns: int = d.seconds * 1_000_000_000 + d.nanos
    if 0 < ns <= _MAX_NS:
        return ns
    return 0 if ns == 0 and common.HasField(name) else -1


def _response_flags(flags: Any) -> str:
    """Envoy's short codes of the set flags. `ListFields` names the few set booleans (proto3
    leaves false ones out) in one call, rather than 27 reads."""
    set_flags = {field.name for field, value in flags.ListFields() if value is True}
    codes = [code for attr, code in RESPONSE_FLAG_CODES if attr in set_flags]
    if flags.HasField("unauthorized_details"):
        codes.append("UAEX")
    return ",".join(codes)


def _first_uri_san(cert_props: Any) -> str:
    for san in cert_props.subject_alt_name:
        uri: str = san.uri
        if uri:
            return uri
    return ""


def _lower_keys(headers: Any) -> dict[str, str]:
    """A logged header map as a dict with lower-case names; a fresh dict per view, even empty."""
    if not headers:
        return {}
    return {key.lower(): headers[key] for key in headers}  # by key: `.items()` is slow in upb


def _filter_state(objects: Any) -> dict[str, FilterStateValue]:
    state: dict[str, FilterStateValue] = {}
    for key in objects:  # by key: `.items()` is slow in upb
        any_ = objects[key]
        state[key] = FilterStateValue(any_.type_url, any_.value)
    return state


_CommonFields = tuple[
    int, int, int, int, int, str, int, str, str, int, str, int, str, int,
    str, str, str, str, str, int, str, str, str, dict[str, FilterStateValue],
]  # fmt: skip


def _common_fields(common: Any) -> _CommonFields:
    """The `AccessLogCommon` part of the view: the fields `start_ns` to `filter_state`, in order."""
    ts = common.start_time
    start_ns = ts.seconds * 1_000_000_000 + ts.nanos
    if not 0 <= start_ns <= _MAX_NS:
        start_ns = 0
    duration_ns = _duration_ns(common, "duration")
    last_downstream_tx_ns = _duration_ns(common, "time_to_last_downstream_tx_byte")
    last_rx_ns = _duration_ns(common, "time_to_last_rx_byte")
    last_upstream_rx_ns = _duration_ns(common, "time_to_last_upstream_rx_byte")
    sa = common.downstream_remote_address.socket_address
    downstream_remote_ip, downstream_remote_port = sa.address, sa.port_value
    downstream_direct_remote_ip = common.downstream_direct_remote_address.socket_address.address
    sa = common.downstream_local_address.socket_address
    downstream_local_ip, downstream_local_port = sa.address, sa.port_value
    sa = common.upstream_remote_address.socket_address
    upstream_remote_ip, upstream_remote_port = sa.address, sa.port_value
    sa = common.upstream_local_address.socket_address
    upstream_local_ip, upstream_local_port = sa.address, sa.port_value
    response_flags = ""  # "UH,NR"
    if common.HasField("response_flags"):
        response_flags = _response_flags(common.response_flags)
    tls_version = tls_peer_uri_san = tls_local_uri_san = ""
    if common.HasField("tls_properties"):
        tls = common.tls_properties
        tls_version = _TLS_VERSIONS.get(tls.tls_version, "")
        tls_peer_uri_san = _first_uri_san(tls.peer_certificate_properties)
        tls_local_uri_san = _first_uri_san(tls.local_certificate_properties)
    objects = common.filter_state_objects
    return (
        start_ns,
        duration_ns,
        last_downstream_tx_ns,
        last_rx_ns,
        last_upstream_rx_ns,
        downstream_remote_ip,
        downstream_remote_port,
        downstream_direct_remote_ip,
        downstream_local_ip,
        downstream_local_port,
        upstream_remote_ip,
        upstream_remote_port,
        upstream_local_ip,
        upstream_local_port,
        common.upstream_cluster,
        common.route_name,
        response_flags,
        common.upstream_transport_failure_reason,
        common.connection_termination_details,
        common.upstream_request_attempt_count,  # attempt_count
        tls_version,
        tls_peer_uri_san,
        tls_local_uri_san,
        _filter_state(objects) if objects else {},
    )


def from_http(entry: Any) -> EntryView:
    """View of an `envoy.data.accesslog.v3.HTTPAccessLogEntry`."""
    common = entry.common_properties
    req = entry.request
    resp = entry.response
    return EntryView(
        False,  # is_tcp
        *_common_fields(common),
        _METHOD_NAMES.get(req.request_method, "_OTHER"),  # method
        req.scheme,
        req.authority,
        req.path,
        req.user_agent,
        req.request_id,
        _HTTP_VERSION_NAMES.get(entry.protocol_version, ""),  # protocol_version
        _lower_keys(req.request_headers),
        req.request_headers_bytes,
        req.request_body_bytes,
        resp.response_code.value,
        resp.response_code_details,
        _lower_keys(resp.response_headers),
        _lower_keys(resp.response_trailers),
        resp.response_headers_bytes,
        resp.response_body_bytes,
        common.downstream_wire_bytes_received,  # wire_bytes_received
        common.downstream_wire_bytes_sent,  # wire_bytes_sent
    )


def from_tcp(entry: Any) -> EntryView:
    """View of an `envoy.data.accesslog.v3.TCPAccessLogEntry`."""
    props = entry.connection_properties
    return EntryView(
        True,  # is_tcp
        *_common_fields(entry.common_properties),
        tcp_received_bytes=props.received_bytes,
        tcp_sent_bytes=props.sent_bytes,
    )
