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
# Times beyond this (year 2262) or before 1970 are not real: a broken or hostile sender.
_MAX_NS = 2**63 - 1


def _duration_ns(common: Any, name: str) -> int:
    if not common.HasField(name):
        return -1
    d = getattr(common, name)
    ns = int(d.seconds) * 1_000_000_000 + int(d.nanos)
    return ns if 0 <= ns <= _MAX_NS else -1  # a negative or absurd duration is no duration


def _response_flags(flags: Any) -> str:
    codes = [code for attr, code in RESPONSE_FLAG_CODES if getattr(flags, attr)]
    if flags.HasField("unauthorized_details"):
        codes.append("UAEX")
    return ",".join(codes)


def _first_uri_san(cert_props: Any) -> str:
    for san in cert_props.subject_alt_name:
        if san.uri:
            return str(san.uri)
    return ""


def _fill_common(view: EntryView, common: Any) -> None:
    ts = common.start_time
    start = int(ts.seconds) * 1_000_000_000 + int(ts.nanos)
    view.start_ns = start if 0 <= start <= _MAX_NS else 0
    view.duration_ns = _duration_ns(common, "duration")
    view.last_downstream_tx_ns = _duration_ns(common, "time_to_last_downstream_tx_byte")
    view.last_rx_ns = _duration_ns(common, "time_to_last_rx_byte")
    view.last_upstream_rx_ns = _duration_ns(common, "time_to_last_upstream_rx_byte")
    sa = common.downstream_remote_address.socket_address
    view.downstream_remote_ip, view.downstream_remote_port = sa.address, sa.port_value
    view.downstream_direct_remote_ip = common.downstream_direct_remote_address.socket_address.address
    sa = common.downstream_local_address.socket_address
    view.downstream_local_ip, view.downstream_local_port = sa.address, sa.port_value
    sa = common.upstream_remote_address.socket_address
    view.upstream_remote_ip, view.upstream_remote_port = sa.address, sa.port_value
    sa = common.upstream_local_address.socket_address
    view.upstream_local_ip, view.upstream_local_port = sa.address, sa.port_value
    view.upstream_cluster = common.upstream_cluster
    view.route_name = common.route_name
    if common.HasField("response_flags"):
        view.response_flags = _response_flags(common.response_flags)
    view.upstream_transport_failure_reason = common.upstream_transport_failure_reason
    view.connection_termination_details = common.connection_termination_details
    view.attempt_count = common.upstream_request_attempt_count
    if common.HasField("tls_properties"):
        tls = common.tls_properties
        view.tls_version = _TLS_VERSIONS.get(tls.tls_version, "")
        view.tls_peer_uri_san = _first_uri_san(tls.peer_certificate_properties)
        view.tls_local_uri_san = _first_uri_san(tls.local_certificate_properties)
    if common.filter_state_objects:
        view.filter_state = {
            key: FilterStateValue(any_.type_url, any_.value)
            for key, any_ in common.filter_state_objects.items()
        }


def from_http(entry: Any) -> EntryView:
    """View of an `envoy.data.accesslog.v3.HTTPAccessLogEntry`."""
    view = EntryView(is_tcp=False)
    _fill_common(view, entry.common_properties)
    version = entry.protocol_version
    view.protocol_version = _HTTP_VERSIONS[version] if 0 <= version < len(_HTTP_VERSIONS) else ""
    req = entry.request
    method = req.request_method
    view.method = _METHODS[method] if 0 <= method < len(_METHODS) else "_OTHER"
    view.scheme = req.scheme
    view.authority = req.authority
    view.path = req.path
    view.user_agent = req.user_agent
    view.request_id = req.request_id
    if req.request_headers:
        view.request_headers = {k.lower(): v for k, v in req.request_headers.items()}
    view.request_headers_bytes = req.request_headers_bytes
    view.request_body_bytes = req.request_body_bytes
    resp = entry.response
    view.response_code = resp.response_code.value
    view.response_code_details = resp.response_code_details
    if resp.response_headers:
        view.response_headers = {k.lower(): v for k, v in resp.response_headers.items()}
    if resp.response_trailers:
        view.response_trailers = {k.lower(): v for k, v in resp.response_trailers.items()}
    view.response_headers_bytes = resp.response_headers_bytes
    view.response_body_bytes = resp.response_body_bytes
    common = entry.common_properties
    view.wire_bytes_received = common.downstream_wire_bytes_received
    view.wire_bytes_sent = common.downstream_wire_bytes_sent
    return view


def from_tcp(entry: Any) -> EntryView:
    """View of an `envoy.data.accesslog.v3.TCPAccessLogEntry`."""
    view = EntryView(is_tcp=True)
    _fill_common(view, entry.common_properties)
    props = entry.connection_properties
    view.tcp_received_bytes = props.received_bytes
    view.tcp_sent_bytes = props.sent_bytes
    return view
