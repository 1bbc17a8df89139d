"""An access log entry, with both ends identified, becomes CLIENT and/or SERVER spans.

Which spans an entry gives (see the README's "Spans" section for the whole story):

| reporters   | entry    | spans                                                            |
|-------------|----------|------------------------------------------------------------------|
| both        | outbound | CLIENT (resource: the reporting workload)                        |
| both        | inbound  | SERVER (resource: the reporting workload)                        |
| server_side | inbound  | SERVER, plus a synthesized CLIENT whose resource is the caller   |
|             |          | named by mx metadata (none when the caller had no sidecar)       |
| server_side | outbound | CLIENT only when the destination has no mx identity (nobody else |
|             |          | would report that call); otherwise nothing, to avoid a duplicate |

The SERVER span's parent is the CLIENT span when the caller is known by mx metadata (its
sidecar reports that CLIENT span); otherwise the logged trace context's parent, or none.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from bridge.decode import EntryView
from bridge.identity import Direction, Ends, IdentitySource, Workload, peer_span_attributes
from bridge.identity.by_identity import ByIdentity
from bridge.otlp import AttrValue
from bridge.spans import semconv
from bridge.spans.data import SPAN_KIND_CLIENT, SPAN_KIND_SERVER, STATUS_ERROR, STATUS_UNSET, SpanData
from bridge.spans.tracecontext import TraceContext, connection_context, derive_span_id, extract

Reporters = Literal["both", "server_side"]
Attr = tuple[str, AttrValue]

CLIENT = SPAN_KIND_CLIENT
SERVER = SPAN_KIND_SERVER
_MX_SOURCES = frozenset(
    {IdentitySource.FLATNODE, IdentitySource.STRUCT, IdentitySource.HEADER, IdentitySource.STRING}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(slots=True)
class SpanSet:
    """The spans of one entry, each with the workload that is its resource.

    `own` is the span that describes the reporting proxy's side (the one a log record of the
    entry is correlated with); None when the entry gave no span of its own.
    """

    spans: list[tuple[Workload, SpanData]]
    own: SpanData | None
    attributes: list[Attr]  # the entry's facts, shared with the log record


def has_mx_identity(workload: Workload) -> bool:
    """True when the workload was named by metadata exchange, so it runs a sidecar of its own."""
    return workload.source in _MX_SOURCES


def _workload_key(w: Workload) -> str:
    return f"{w.namespace}/{w.workload or w.service}"


def _split_host_port(authority: str) -> tuple[str, int]:
    if authority.startswith("["):  # [::1]:8080
        host, _, rest = authority[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        host, sep, port = authority.rpartition(":")
        if not sep or not port.isdigit():
            host, port = authority, ""
    return host, int(port) if port.isdigit() else 0


def _status(is_error: bool, error_type: str, attrs: list[Attr]) -> int:
    if not is_error:
        return STATUS_UNSET
    attrs.append(("error.type", error_type))
    return STATUS_ERROR


@dataclass(slots=True)
class _Call:
    """What both span kinds of one entry share."""

    trace: TraceContext
    client_span_id: bytes
    server_span_id: bytes
    name: str
    attributes: list[Attr]  # side-independent facts
    envoy_attributes: list[Attr]  # the reporting proxy's own facts (its cluster, route, ...)
    grpc_code: int | None
    is_grpc: bool


def _http_attributes(view: EntryView, is_grpc: bool) -> list[Attr]:
    path, _, query = view.path.partition("?")
    attrs: list[Attr] = []
    if is_grpc:
        attrs.append(("rpc.system.name", "grpc"))
        attrs.append(("rpc.method", path.lstrip("/") or "_OTHER"))
    attrs.append(("http.request.method", view.method or "_OTHER"))
    attrs.append(("url.path", path))
    if query:
        attrs.append(("url.query", query))
    if view.scheme:
        attrs.append(("url.scheme", view.scheme))
    if view.response_code:
        attrs.append(("http.response.status_code", view.response_code))
    if view.protocol_version:
        attrs.append(("network.protocol.version", view.protocol_version))
    if view.user_agent:
        attrs.append(("user_agent.original", view.user_agent))
    if view.request_body_bytes:
        attrs.append(("http.request.body.size", view.request_body_bytes))
    if view.response_body_bytes:
        attrs.append(("http.response.body.size", view.response_body_bytes))
    if view.request_id:
        attrs.append(("envoy.request_id", view.request_id))
    if view.response_code_details:
        attrs.append(("envoy.response_code_details", view.response_code_details))
    if view.attempt_count > 1:
        attrs.append(("envoy.upstream.attempt_count", view.attempt_count))
    return attrs


def _envoy_attributes(view: EntryView) -> list[Attr]:
    attrs: list[Attr] = []
    if view.response_flags:
        attrs.append(("envoy.response_flags", view.response_flags))
    if view.upstream_cluster:
        attrs.append(("envoy.upstream_cluster", view.upstream_cluster))
    if view.route_name:
        attrs.append(("envoy.route_name", view.route_name))
    if view.connection_termination_details:
        attrs.append(("envoy.connection_termination_details", view.connection_termination_details))
    if view.upstream_transport_failure_reason:
        attrs.append(("envoy.upstream_transport_failure_reason", view.upstream_transport_failure_reason))
    return attrs


def _caller(ends: Ends) -> Workload | None:
    """The calling workload, when both sidecars can name it the same way."""
    if ends.direction is Direction.OUTBOUND:
        return ends.local
    return ends.peer if has_mx_identity(ends.peer) else None


def _http_call(view: EntryView, ends: Ends, server_id_needed: bool = True) -> _Call:
    grpc = semconv.is_grpc(view.request_headers.get("content-type", ""))
    trace = extract(view.request_headers, view.request_id)
    attrs = _http_attributes(view, grpc)
    envoy_attrs = _envoy_attributes(view)
    grpc_code = (
        semconv.grpc_status(view.response_trailers, view.response_headers, view.response_code)
        if grpc
        else None
    )
    if grpc_code is not None:
        attrs.append(("rpc.response.status_code", semconv.grpc_code_name(grpc_code)))
    rpc_method = view.path.partition("?")[0].lstrip("/")
    name = rpc_method if grpc and rpc_method else (view.method or "HTTP")
    if trace.source == "none":  # nothing both ends share: unpaired, random ids
        trace = TraceContext(os.urandom(16), b"", "none")
        return _Call(trace, os.urandom(8), os.urandom(8), name, attrs, envoy_attrs, grpc_code, grpc)
    caller = _caller(ends)
    caller_key = _workload_key(caller) if caller else ""
    client_id = derive_span_id(trace.trace_id, view.request_id, caller_key, view.authority, "client")
    server_id = b""
    if server_id_needed:
        attempt = view.request_headers.get("x-envoy-attempt-count", "1")
        server_id = derive_span_id(
            trace.trace_id,
            view.request_id,
            caller_key,
            view.authority,
            _workload_key(ends.local),
            "server",
            attempt,
        )
    return _Call(trace, client_id, server_id, name, attrs, envoy_attrs, grpc_code, grpc)


def _tcp_call(view: EntryView, ends: Ends) -> _Call:
    if ends.direction is Direction.OUTBOUND:
        client = f"{view.upstream_local_ip}:{view.upstream_local_port}"
        server = f"{view.upstream_remote_ip}:{view.upstream_remote_port}"
    else:
        client = f"{view.downstream_remote_ip}:{view.downstream_remote_port}"
        server = f"{view.downstream_local_ip}:{view.downstream_local_port}"
    trace = connection_context(client, server)
    attrs: list[Attr] = [
        ("network.transport", "tcp"),
        ("envoy.tcp.received_bytes", view.tcp_received_bytes),
        ("envoy.tcp.sent_bytes", view.tcp_sent_bytes),
    ]
    client_id = derive_span_id(trace.trace_id, "client")
    server_id = derive_span_id(trace.trace_id, "server")
    return _Call(trace, client_id, server_id, "TCP", attrs, _envoy_attributes(view), None, False)


def _server_address(view: EntryView, fallback_ip: str, fallback_port: int) -> list[Attr]:
    host, port = _split_host_port(view.authority) if view.authority else ("", 0)
    if not host:
        host, port = fallback_ip, port or fallback_port
    if not port:
        port = _DEFAULT_PORTS.get(view.scheme, fallback_port)
    attrs: list[Attr] = []
    if host:
        attrs.append(("server.address", host))
        if port:
            attrs.append(("server.port", port))
    return attrs


def _side_status(call: _Call, view: EntryView, client_side: bool, attrs: list[Attr]) -> int:
    if view.is_tcp:
        flags = set(view.response_flags.split(",")) if view.response_flags else set()
        failed = flags & semconv.TCP_FAILURE_FLAGS
        return _status(bool(failed), ",".join(sorted(failed)), attrs)
    if call.grpc_code is not None:
        code = call.grpc_code
        return _status(semconv.grpc_is_error(code, client_side), semconv.grpc_code_name(code), attrs)
    if not view.response_code:  # no response at all: the proxy reset or gave up
        return _status(True, view.response_flags or "_OTHER", attrs)
    code = view.response_code
    return _status(semconv.http_is_error(code, client_side), str(code), attrs)


def _span(
    call: _Call,
    view: EntryView,
    *,
    kind: int,
    span_id: bytes,
    parent: bytes,
    side_attrs: list[Attr],
    peer: Workload,
    reported: bool = True,
) -> SpanData:
    """`reported`: the reporting proxy's own span; False for a synthesized one, which must not
    carry the server sidecar's cluster and route as if they were the caller's."""
    attrs = call.attributes + side_attrs + _peer_attributes(peer)
    if reported:
        attrs += call.envoy_attributes
    status = _side_status(call, view, kind == CLIENT, attrs)
    return SpanData(
        call.trace.trace_id, span_id, parent, call.name, kind, view.start_ns, view.end_ns, attrs, status
    )


_PEER_ATTRS: ByIdentity[list[Attr]] = ByIdentity()


def _peer_attributes(peer: Workload) -> list[Attr]:
    """`peer_span_attributes`, computed once per workload object (the resolver hands out the
    same objects again and again; hashing a Workload would walk all its fields)."""
    return _PEER_ATTRS.get(peer, None, None, lambda: list(peer_span_attributes(peer)))


def _client_attrs(view: EntryView, server_ip: str, server_port: int) -> list[Attr]:
    """A CLIENT span's view of the server: its address, the peer socket and the full URL."""
    attrs = _server_address(view, server_ip, server_port)
    if server_ip:
        attrs.append(("network.peer.address", server_ip))
        attrs.append(("network.peer.port", server_port))
    if not view.is_tcp and view.authority:
        attrs.append(("url.full", f"{view.scheme or 'http'}://{view.authority}{view.path}"))
    return attrs


def _client_side_attrs(view: EntryView) -> list[Attr]:
    return _client_attrs(view, view.upstream_remote_ip, view.upstream_remote_port)


def _server_side_attrs(view: EntryView) -> list[Attr]:
    attrs = _server_address(view, view.downstream_local_ip, view.downstream_local_port)
    if view.downstream_remote_ip:
        attrs.append(("client.address", view.downstream_remote_ip))
    peer_ip = view.downstream_direct_remote_ip or view.downstream_remote_ip
    if peer_ip:
        attrs.append(("network.peer.address", peer_ip))
        attrs.append(("network.peer.port", view.downstream_remote_port))
    return attrs


def _synthesized_client_attrs(view: EntryView) -> list[Attr]:
    """The caller's view, reconstructed from the server's entry (reporters: server_side)."""
    attrs = _client_attrs(view, view.downstream_local_ip, view.downstream_local_port)
    attrs.append(("als_bridge.synthesized", True))
    return attrs


def build_spans(view: EntryView, ends: Ends, reporters: Reporters) -> SpanSet:
    """The spans that one entry contributes; see the module docstring for the rules."""
    if view.is_tcp:
        call = _tcp_call(view, ends)
    else:
        # only an inbound entry gives a SERVER span: an outbound one never uses its id
        call = _http_call(view, ends, server_id_needed=ends.direction is Direction.INBOUND)
    spans: list[tuple[Workload, SpanData]] = []
    if ends.direction is Direction.OUTBOUND:
        if reporters == "server_side" and has_mx_identity(ends.peer):
            return SpanSet(spans, None, call.attributes + call.envoy_attributes)
        own = _span(
            call,
            view,
            kind=CLIENT,
            span_id=call.client_span_id,
            parent=call.trace.parent_span_id,
            side_attrs=_client_side_attrs(view),
            peer=ends.peer,
        )
        spans.append((ends.local, own))
        return SpanSet(spans, own, call.attributes + call.envoy_attributes)

    caller_reports = has_mx_identity(ends.peer)
    own = _span(
        call,
        view,
        kind=SERVER,
        span_id=call.server_span_id,
        parent=call.client_span_id if caller_reports else call.trace.parent_span_id,
        side_attrs=_server_side_attrs(view),
        peer=ends.peer,
    )
    spans.append((ends.local, own))
    if reporters == "server_side" and caller_reports:
        client = _span(
            call,
            view,
            kind=CLIENT,
            span_id=call.client_span_id,
            parent=call.trace.parent_span_id,
            side_attrs=_synthesized_client_attrs(view),
            peer=ends.local,
            reported=False,
        )
        spans.append((ends.peer, client))
    return SpanSet(spans, own, call.attributes + call.envoy_attributes)
