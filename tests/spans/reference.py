"""The straightforward conversion of an entry to spans: the reference the fast path is held to.

No caches, no shapes, no pre-encoded keys: every span's attributes are one plain list, made
from the entry field by field, in the documented order (static attributes, then dynamic ones;
see `bridge.spans.builder`), and its ids come from `derive_span_id` over the parts as strings.
`tests/otlp/test_traces.py` converts a corpus both ways and requires identical OTLP.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.attributes import AttrValue
from bridge.decode import EntryView
from bridge.identity import Direction, Ends, IdentitySource, Workload, peer_span_attributes
from bridge.spans import semconv
from bridge.spans.data import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_SERVER,
    STATUS_ERROR,
    STATUS_UNSET,
    SpanData,
    span_data,
)
from bridge.spans.tracecontext import connection_context, derive_span_id, extract

Attr = tuple[str, AttrValue]
MX = {IdentitySource.FLATNODE, IdentitySource.STRUCT, IdentitySource.HEADER, IdentitySource.STRING}


def _path_method(path: str) -> str:
    """`pkg.Service/Method` for a path of gRPC's shape (at least one package label), else ""."""
    if "?" in path or not path.startswith("/"):
        return ""
    parts = path[1:].split("/")
    if len(parts) != 2:
        return ""
    labels = parts[0].split(".")
    names = [*labels, parts[1]]
    if len(labels) < 2 or not all(
        n and (n[0].isalpha() or n[0] == "_") and n.replace("_", "a").isalnum() and n.isascii() for n in names
    ):
        return ""
    return path[1:]


def _is_grpc(view: EntryView) -> bool:
    """The decision table of `bridge.spans.semconv`, written out plainly."""
    if view.is_tcp:
        return False
    if "content-type" in view.request_headers:
        return view.request_headers["content-type"].startswith("application/grpc")
    if "grpc-status" in view.response_trailers or "grpc-status" in view.response_headers:
        return True
    if view.response_headers.get("content-type", "").startswith("application/grpc"):
        return True
    return view.protocol_version == "2" and view.method == "POST" and bool(_path_method(view.path))


def _grpc_code(view: EntryView) -> int | None:
    if not _is_grpc(view):
        return None
    return semconv.grpc_status(view.response_trailers, view.response_headers)


def _rpc_method(view: EntryView) -> str:
    return _path_method(view.path) or view.path.split("?")[0].lstrip("/")


def call_static(view: EntryView) -> list[Attr]:
    if view.is_tcp:
        return [("network.transport", "tcp")]
    attrs: list[Attr] = []
    if _is_grpc(view):
        attrs += [("rpc.system.name", "grpc"), ("rpc.method", _rpc_method(view) or "_OTHER")]
    attrs.append(("http.request.method", view.method or "_OTHER"))
    for key, value in (
        ("url.scheme", view.scheme),
        ("http.response.status_code", view.response_code),
        ("network.protocol.version", view.protocol_version),
        ("user_agent.original", view.user_agent),
        ("envoy.response_code_details", view.response_code_details),
    ):
        if value:
            attrs.append((key, value))
    code = _grpc_code(view)
    if code is not None:
        attrs.append(("rpc.response.status_code", semconv.grpc_code_name(code)))
    elif _is_grpc(view):
        attrs.append(("als_bridge.grpc_status_logged", False))
    return attrs


def envoy_static(view: EntryView) -> list[Attr]:
    candidates: list[Attr] = [
        ("envoy.response_flags", view.response_flags),
        ("envoy.upstream_cluster", view.upstream_cluster),
        ("envoy.route_name", view.route_name),
        ("envoy.connection_termination_details", view.connection_termination_details),
        ("envoy.upstream_transport_failure_reason", view.upstream_transport_failure_reason),
    ]
    return [(k, v) for k, v in candidates if v]


def call_dynamic(view: EntryView) -> list[Attr]:
    if view.is_tcp:
        return [
            ("envoy.tcp.received_bytes", view.tcp_received_bytes),
            ("envoy.tcp.sent_bytes", view.tcp_sent_bytes),
        ]
    path, query = [*view.path.split("?", 1), ""][:2]
    attrs: list[Attr] = [("url.path", path)]
    if query:
        attrs.append(("url.query", query))
    if view.request_body_bytes:
        attrs.append(("http.request.body.size", view.request_body_bytes))
    if view.response_body_bytes:
        attrs.append(("http.response.body.size", view.response_body_bytes))
    if view.request_id:
        attrs.append(("envoy.request_id", view.request_id))
    if view.attempt_count > 1:
        attrs.append(("envoy.upstream.attempt_count", view.attempt_count))
    return attrs


def _host_port(authority: str) -> tuple[str, int]:
    if authority.startswith("["):
        host, rest = authority[1:].split("]", 1)
        port = rest[1:] if rest.startswith(":") else ""
    elif ":" in authority and authority.rsplit(":", 1)[1].isdigit():
        host, port = authority.rsplit(":", 1)
    else:
        host, port = authority, ""
    return host, int(port) if port.isdigit() else 0


def _server_address(view: EntryView, ip: str, port: int) -> list[Attr]:
    host, authority_port = _host_port(view.authority) if view.authority else ("", 0)
    if not host:
        host, authority_port = ip, authority_port or port
    if not authority_port:
        authority_port = {"http": 80, "https": 443}.get(view.scheme, port)
    if not host:
        return []
    return [("server.address", host)] + ([("server.port", authority_port)] if authority_port else [])


def _status(view: EntryView, client_side: bool) -> tuple[int, list[Attr]]:
    if view.is_tcp:
        failed = (
            set(view.response_flags.split(",")) & semconv.TCP_FAILURE_FLAGS if view.response_flags else set()
        )
        error, name = bool(failed), ",".join(sorted(failed))
    elif (code := _grpc_code(view)) is not None:
        error, name = semconv.grpc_is_error(code, client_side), semconv.grpc_code_name(code)
    elif not view.response_code:
        error, name = True, view.response_flags or "_OTHER"
    else:
        error = semconv.http_is_error(view.response_code, client_side)
        name = str(view.response_code)
    return (STATUS_ERROR, [("error.type", name)]) if error else (STATUS_UNSET, [])


def _name(view: EntryView) -> str:
    if view.is_tcp:
        return "TCP"
    if _is_grpc(view) and _rpc_method(view):
        return _rpc_method(view)
    return view.method or "HTTP"


def _client_span(
    view: EntryView, ids: tuple[bytes, bytes, bytes], peer: Workload, ip: str, port: int, synthesized: bool
) -> SpanData:
    static = call_static(view) + _server_address(view, ip, port)
    if ip:
        static.append(("network.peer.address", ip))
    if synthesized:
        static.append(("als_bridge.synthesized", True))
    static += list(peer_span_attributes(peer))
    if not synthesized:
        static += envoy_static(view)
    status, error = _status(view, client_side=True)
    dynamic = call_dynamic(view)
    if ip:
        dynamic.append(("network.peer.port", port))
    if not view.is_tcp and view.authority:
        dynamic.append(("url.full", f"{view.scheme or 'http'}://{view.authority}{view.path}"))
    trace_id, span_id, parent = ids
    return span_data(
        trace_id,
        span_id,
        parent,
        _name(view),
        SPAN_KIND_CLIENT,
        view.start_ns,
        view.end_ns,
        static + error + dynamic,
        status,
    )


def _server_span(view: EntryView, ids: tuple[bytes, bytes, bytes], peer: Workload) -> SpanData:
    static = call_static(view) + _server_address(view, view.downstream_local_ip, view.downstream_local_port)
    if view.downstream_remote_ip:
        static.append(("client.address", view.downstream_remote_ip))
    peer_ip = view.downstream_direct_remote_ip or view.downstream_remote_ip
    if peer_ip:
        static.append(("network.peer.address", peer_ip))
    static += list(peer_span_attributes(peer)) + envoy_static(view)
    status, error = _status(view, client_side=False)
    dynamic = call_dynamic(view)
    if peer_ip:
        dynamic.append(("network.peer.port", view.downstream_remote_port))
    trace_id, span_id, parent = ids
    return span_data(
        trace_id,
        span_id,
        parent,
        _name(view),
        SPAN_KIND_SERVER,
        view.start_ns,
        view.end_ns,
        static + error + dynamic,
        status,
    )


def _key(w: Workload) -> str:
    return f"{w.namespace}/{w.workload or w.service}"


def _trace(
    view: EntryView, ends: Ends, random_bytes: Callable[[int], bytes]
) -> tuple[bytes, bytes, bytes, bytes]:
    """(trace id, logged parent, client span id, server span id)."""
    outbound = ends.direction is Direction.OUTBOUND
    if view.is_tcp:
        if outbound:
            client = f"{view.upstream_local_ip}:{view.upstream_local_port}"
            server = f"{view.upstream_remote_ip}:{view.upstream_remote_port}"
        else:
            client = f"{view.downstream_remote_ip}:{view.downstream_remote_port}"
            server = f"{view.downstream_local_ip}:{view.downstream_local_port}"
        trace_id = connection_context(client, server).trace_id
        return trace_id, b"", derive_span_id(trace_id, "client"), derive_span_id(trace_id, "server")
    trace = extract(view.request_headers, view.request_id)
    if trace.source == "none":
        raw = random_bytes(32)
        return raw[:16], b"", raw[16:24], raw[24:]
    caller = ends.local if outbound else (ends.peer if ends.peer.source in MX else None)
    caller_key = _key(caller) if caller else ""
    rid, authority = view.request_id, view.authority
    client_id = derive_span_id(trace.trace_id, rid, caller_key, authority, "client")
    attempt = view.request_headers.get("x-envoy-attempt-count", "1")
    server_id = derive_span_id(
        trace.trace_id, rid, caller_key, authority, _key(ends.local), "server", attempt
    )
    return trace.trace_id, trace.parent_span_id, client_id, server_id


def reference_spans(
    view: EntryView, ends: Ends, reporters: str, random_bytes: Callable[[int], bytes]
) -> list[tuple[Workload, SpanData]]:
    """The spans of one entry (the rules of `bridge.spans.builder`'s docstring)."""
    peer_mx = ends.peer.source in MX
    if ends.direction is Direction.OUTBOUND:
        if reporters == "server_side" and peer_mx:
            return []
        trace_id, parent, client_id, _ = _trace(view, ends, random_bytes)
        ip, port = view.upstream_remote_ip, view.upstream_remote_port
        return [(ends.local, _client_span(view, (trace_id, client_id, parent), ends.peer, ip, port, False))]
    trace_id, parent, client_id, server_id = _trace(view, ends, random_bytes)
    server_parent = client_id if peer_mx else parent
    spans = [(ends.local, _server_span(view, (trace_id, server_id, server_parent), ends.peer))]
    if reporters == "server_side" and peer_mx:
        ip, port = view.downstream_local_ip, view.downstream_local_port
        synthesized = _client_span(view, (trace_id, client_id, parent), ends.local, ip, port, True)
        spans.append((ends.peer, synthesized))
    return spans


def reference_facts(view: EntryView) -> list[Attr]:
    """The entry's facts shared with its log record."""
    return call_static(view) + envoy_static(view) + call_dynamic(view)
