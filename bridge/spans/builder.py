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
| either      | outbound | a gateway's (`router~` node, HTTP): also the SERVER span of the  |
|             | (gateway)| request it received, parent of its CLIENT span; both resources  |
|             |          | are the gateway                                                  |
| either      | waypoint | the same pair, the SERVER span naming the caller, the CLIENT     |
|             |          | span the destination (nobody else in ambient reports the call)   |

The SERVER span's parent is the CLIENT span when the caller is known by mx metadata (its
sidecar reports that CLIENT span); otherwise the logged trace context's parent, or none.

Attributes come in two lists. STATIC ones are a function of values that repeat from entry to
entry (the two workload objects, the direction, method, status, cluster, route, addresses of
pods and listeners, ...): the `_static_*` functions below make them, and only when an entry
brings a combination not seen before (`_STATIC_FIELDS` is that combination's key); the result,
a `_Plan` with one `SpanShape` per span, is kept and its shapes are encoded once by the wire
encoder. DYNAMIC ones vary per entry (request id, path, sizes, ephemeral ports) and are made
for every entry by the `_dynamic_*` functions. A span's attributes are its shape's, then its
dynamic ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from typing import Literal, NamedTuple

from bridge.attributes import Attr, AttrValue
from bridge.cache import BoundedCache
from bridge.decode import EntryView
from bridge.identity import Direction, Ends, IdentitySource, Workload, peer_span_attributes
from bridge.spans import semconv
from bridge.spans.data import (
    SPAN_KIND_CLIENT,
    SPAN_KIND_SERVER,
    STATUS_ERROR,
    STATUS_UNSET,
    SpanData,
    SpanShape,
    pairs,
)
from bridge.spans.semconv import GrpcFacts
from bridge.spans.tracecontext import (
    SEP,
    connection_context,
    logged_context,
    span_id_from_key,
    trace_id_from_key,
)

Reporters = Literal["both", "server_side"]

CLIENT = SPAN_KIND_CLIENT
SERVER = SPAN_KIND_SERVER
_MX_SOURCES = frozenset(
    {IdentitySource.FLATNODE, IdentitySource.STRUCT, IdentitySource.HEADER, IdentitySource.STRING}
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# The unnamed caller of a gateway: Istio gives gateways only upstream metadata
# exchange (pilot's `appendMxFilter` puts the outbound peer_metadata filter on every listener
# class but the sidecar's inbound one), so a gateway's entry names where the request went, never
# who sent it: an ingress gateway's caller is outside the mesh, and an egress gateway's caller
# sidecar is not named either.
_NOBODY = Workload()

# Where ids come from when an entry carries no trace context and no request id (a hook, so
# that tests can make them predictable). One call per entry: trace id, client and server id.
_random_bytes: Callable[[int], bytes] = os.urandom


@dataclass(slots=True)
class SpanSet:
    """The spans of one entry, each with the workload that is its resource.

    `own` is the span that describes the reporting proxy's side (the one a log record of the
    entry is correlated with); None when the entry gave no span of its own.
    """

    spans: list[tuple[Workload, SpanData]]
    own: SpanData | None
    static_facts: tuple[Attr, ...]
    fact_keys: tuple[str, ...]
    fact_values: tuple[AttrValue | None, ...]  # may go on past fact_keys: a span's values
    grpc: GrpcFacts  # gRPC or not, its logged status, its method (`semconv.grpc_facts`)
    # The call's status as its caller's side defines it (the CLIENT rules: HTTP 4xx and 5xx, any
    # gRPC code but OK, no response), from facts both sidecars log: what a sampler decides on,
    # so that an inbound entry gets the decision its outbound twin gets.
    call_status: int = STATUS_UNSET

    @property
    def attributes(self) -> list[Attr]:
        """The entry's facts, shared with the log record; made only when asked for (only the
        logs builder reads them)."""
        values = self.fact_values[: len(self.fact_keys)]
        return [*self.static_facts, *pairs(self.fact_keys, values)]


def has_mx_identity(workload: Workload) -> bool:
    """True when the workload was named by metadata exchange, so it runs a sidecar of its own."""
    return workload.source in _MX_SOURCES


# ---------------------------------------------------------------------------------------------
# STATIC attributes: made once per distinct key, kept in a `_Plan`.

# The ALS fields the static attributes are made from. With the two workload objects, the
# direction, the reporters mode and the gRPC facts (`semconv.grpc_facts`) they are the plan's cache
# key: a field that a `_static_*` function reads must be listed here.
_STATIC_FIELDS = attrgetter(
    "is_tcp",
    "method",
    "scheme",
    "authority",
    "response_code",
    "protocol_version",
    "user_agent",
    "response_code_details",
    "response_flags",
    "upstream_cluster",
    "route_name",
    "connection_termination_details",
    "upstream_transport_failure_reason",
    "upstream_remote_ip",
    "upstream_remote_port",
    "downstream_local_ip",
    "downstream_local_port",
    "downstream_remote_ip",
    "downstream_direct_remote_ip",
)


def _static_call(view: EntryView, grpc: bool, grpc_code: int | None, rpc_method: str) -> list[Attr]:
    """Both sides' repeating facts of the call (also the log record's)."""
    if view.is_tcp:
        return [("network.transport", "tcp")]
    attrs: list[Attr] = []
    if grpc:
        attrs.append(("rpc.system.name", "grpc"))
        attrs.append(("rpc.method", rpc_method or "_OTHER"))
    attrs.append(("http.request.method", view.method or "_OTHER"))
    if view.scheme:
        attrs.append(("url.scheme", view.scheme))
    if view.response_code:
        attrs.append(("http.response.status_code", view.response_code))
    if view.protocol_version:
        attrs.append(("network.protocol.version", view.protocol_version))
    if view.user_agent:
        attrs.append(("user_agent.original", view.user_agent))
    if view.response_code_details:
        attrs.append(("envoy.response_code_details", view.response_code_details))
    if grpc_code is not None:
        attrs.append(("rpc.response.status_code", semconv.grpc_code_name(grpc_code)))
    elif grpc:  # say so rather than invent a code; the HTTP status rules apply
        attrs.append(("als_bridge.grpc_status_logged", False))
    return attrs


def _static_envoy(view: EntryView) -> list[Attr]:
    """The reporting proxy's own facts (its cluster, route, ...)."""
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


def _static_server_address(view: EntryView, fallback_ip: str, fallback_port: int) -> list[Attr]:
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


def _static_client_side(view: EntryView, server_ip: str, server_port: int) -> list[Attr]:
    """A CLIENT span's view of the server: its address and the peer socket's address."""
    attrs = _static_server_address(view, server_ip, server_port)
    if server_ip:
        attrs.append(("network.peer.address", server_ip))
    return attrs


def _static_server_side(view: EntryView) -> list[Attr]:
    attrs = _static_server_address(view, view.downstream_local_ip, view.downstream_local_port)
    if view.downstream_remote_ip:
        attrs.append(("client.address", view.downstream_remote_ip))
    peer_ip = view.downstream_direct_remote_ip or view.downstream_remote_ip
    if peer_ip:
        attrs.append(("network.peer.address", peer_ip))
    return attrs


def _static_synthesized_side(view: EntryView) -> list[Attr]:
    """The caller's view, reconstructed from the server's entry (reporters: server_side)."""
    attrs = _static_client_side(view, view.downstream_local_ip, view.downstream_local_port)
    attrs.append(("als_bridge.synthesized", True))
    return attrs


def _static_status(view: EntryView, grpc_code: int | None, client_side: bool) -> tuple[int, list[Attr]]:
    """The span status on one side, with its `error.type`."""
    if view.is_tcp:
        flags = set(view.response_flags.split(",")) if view.response_flags else set()
        failed = flags & semconv.TCP_FAILURE_FLAGS
        return _status(bool(failed), ",".join(sorted(failed)))
    if grpc_code is not None:
        return _status(semconv.grpc_is_error(grpc_code, client_side), semconv.grpc_code_name(grpc_code))
    if not view.response_code:  # no response at all: the proxy reset or gave up
        return _status(True, view.response_flags or "_OTHER")
    code = view.response_code
    return _status(semconv.http_is_error(code, client_side), str(code))


# ---------------------------------------------------------------------------------------------
# DYNAMIC attributes: made for every entry, as values in the order of these keys (None: the
# attribute is left out); the span's shape holds the keys.

Value = AttrValue | None


class HttpDynamic(NamedTuple):
    """An HTTP span's dynamic attributes: the field names say what `_dynamic` returns at each
    position, `HTTP_KEYS` gives each field's attribute key. The values themselves are plain
    tuples in this order (`HttpDynamic._make(values)` reads them by name): constructing a named
    tuple per span measured 0.65 µs more than a tuple, about 5% of span building."""

    # the call's, also the log record's
    path: Value
    query: Value
    request_body_size: Value
    response_body_size: Value
    request_id: Value
    attempt_count: Value
    # the side's
    peer_port: Value
    url: Value  # CLIENT spans only


class TcpDynamic(NamedTuple):
    """A TCP span's dynamic attributes, as `HttpDynamic`; keys in `TCP_KEYS`."""

    received_bytes: Value  # the call's, also the log record's
    sent_bytes: Value
    peer_port: Value  # the side's


HTTP_KEYS = HttpDynamic(
    path="url.path",
    query="url.query",
    request_body_size="http.request.body.size",
    response_body_size="http.response.body.size",
    request_id="envoy.request_id",
    attempt_count="envoy.upstream.attempt_count",
    peer_port="network.peer.port",
    url="url.full",
)
TCP_KEYS = TcpDynamic(
    received_bytes="envoy.tcp.received_bytes",
    sent_bytes="envoy.tcp.sent_bytes",
    peer_port="network.peer.port",
)
_HTTP_DYNAMIC: tuple[str, ...] = tuple(str(k) for k in HTTP_KEYS)
_TCP_DYNAMIC: tuple[str, ...] = tuple(str(k) for k in TCP_KEYS)
# the call's keys, shared with the log record: those before the side's
_HTTP_FACTS = _HTTP_DYNAMIC[: HttpDynamic._fields.index("peer_port")]
_TCP_FACTS = _TCP_DYNAMIC[: TcpDynamic._fields.index("peer_port")]

Values = tuple[Value, ...]


def _dynamic(view: EntryView, peer_ip: str, peer_port: int, client_side: bool) -> Values:
    """One span's dynamic values, in `HttpDynamic` / `TcpDynamic` order (one plain tuple, no pair
    per attribute: this runs for every span). `tests/spans/test_builder.py` reads them by name."""
    port = peer_port if peer_ip else None
    if view.is_tcp:
        return view.tcp_received_bytes, view.tcp_sent_bytes, port  # received_bytes, sent_bytes, peer_port
    path, _, query = view.path.partition("?")
    url = None
    if client_side and view.authority:
        url = f"{view.scheme or 'http'}://{view.authority}{view.path}"
    return (
        path,  # path
        query or None,  # query
        view.request_body_bytes or None,  # request_body_size
        view.response_body_bytes or None,  # response_body_size
        view.request_id or None,  # request_id
        view.attempt_count if view.attempt_count > 1 else None,  # attempt_count
        port,  # peer_port
        url,  # url
    )


def _dynamic_client_side(view: EntryView, server_ip: str, server_port: int) -> Values:
    """The peer is the server (for the synthesized CLIENT span too)."""
    return _dynamic(view, server_ip, server_port, True)


def _dynamic_server_side(view: EntryView) -> Values:
    peer_ip = view.downstream_direct_remote_ip or view.downstream_remote_ip
    return _dynamic(view, peer_ip, view.downstream_remote_port, False)


# ---------------------------------------------------------------------------------------------


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


def _status(is_error: bool, error_type: str) -> tuple[int, list[Attr]]:
    if not is_error:
        return STATUS_UNSET, []
    return STATUS_ERROR, [("error.type", error_type)]


def _caller(ends: Ends) -> Workload | None:
    """The calling workload, when both sidecars can name it the same way."""
    if ends.direction is Direction.OUTBOUND:
        return ends.local
    return ends.peer if has_mx_identity(ends.peer) else None


@dataclass(slots=True, eq=False)
class _Plan:
    """What every entry of one static key gives: which spans, their shapes, and the repeating
    parts of their span ids' derivation keys (already encoded)."""

    local: Workload  # the key's workload objects: a hit must hold these very objects
    peer: Workload
    facts: tuple[Attr, ...]  # the static facts of the call, for the log record
    fact_keys: tuple[str, ...]  # the keys of the call's dynamic facts
    client: SpanShape | None  # the outbound CLIENT span, or the synthesized one of an inbound entry
    server: SpanShape | None  # the SERVER span of an inbound entry
    server_parent_is_client: bool  # the caller's sidecar reports the CLIENT span
    client_key: bytes  # after "trace id, request id": caller, authority, "client"
    server_key: bytes  # ... caller, authority, local workload, "server" (then the attempt)
    grpc: GrpcFacts
    gateway: bool  # a gateway's or waypoint's entry: the SERVER span it received, its CLIENT child
    caller: Workload | None  # the key's caller object (waypoints), held like `local` and `peer`
    call_status: int  # `SpanSet.call_status`


def _shape(
    view: EntryView,
    call: list[Attr],
    grpc_code: int | None,
    name: str,
    kind: int,
    side: list[Attr],
    peer: Workload,
    reported: bool,
    dynamic_keys: tuple[str, ...],
) -> SpanShape:
    """`reported`: the reporting proxy's own span; False for a synthesized one, which must not
    carry the server sidecar's cluster and route as if they were the caller's."""
    status, error = _static_status(view, grpc_code, kind == CLIENT)
    envoy = _static_envoy(view) if reported else []
    static = (*call, *side, *peer_span_attributes(peer), *envoy, *error)
    return SpanShape(name, kind, status, static, dynamic_keys)


def _make_plan(
    view: EntryView, ends: Ends, reporters: Reporters, grpc: bool, grpc_code: int | None, rpc_method: str
) -> _Plan:
    call = _static_call(view, grpc, grpc_code, rpc_method)
    facts = (*call, *_static_envoy(view))
    if view.is_tcp:
        name, dynamic, fact_keys = "TCP", _TCP_DYNAMIC, _TCP_FACTS
    else:
        name = rpc_method if grpc and rpc_method else (view.method or "HTTP")
        dynamic, fact_keys = _HTTP_DYNAMIC, _HTTP_FACTS
    caller = _caller(ends)
    hop = (_workload_key(caller) if caller else "").encode() + SEP + view.authority.encode() + SEP
    client_key = hop + b"client" + SEP
    server_key = hop + _workload_key(ends.local).encode() + SEP + b"server" + SEP
    client: SpanShape | None = None
    server: SpanShape | None = None
    caller_reports = has_mx_identity(ends.peer)
    waypoint = ends.local.is_waypoint
    intermediary = ends.local.is_gateway or waypoint
    gateway = intermediary and not view.is_tcp and ends.direction is Direction.OUTBOUND
    if ends.direction is Direction.OUTBOUND:
        # a waypoint's destination (ambient, no sidecar) reports nothing itself: always CLIENT
        if waypoint or not (reporters == "server_side" and caller_reports):
            side = _static_client_side(view, view.upstream_remote_ip, view.upstream_remote_port)
            client = _shape(view, call, grpc_code, name, CLIENT, side, ends.peer, True, dynamic)
        caller_reports = False
        if gateway:  # the request it received: see `_NOBODY`; a waypoint names its caller
            side = _static_server_side(view)
            server = _shape(view, call, grpc_code, name, SERVER, side, ends.caller or _NOBODY, True, dynamic)
            server_key = SEP + view.authority.encode() + SEP + _workload_key(ends.local).encode() + SEP
            server_key += b"server" + SEP
    else:
        side = _static_server_side(view)
        server = _shape(view, call, grpc_code, name, SERVER, side, ends.peer, True, dynamic)
        if reporters == "server_side" and caller_reports:
            side = _static_synthesized_side(view)
            client = _shape(view, call, grpc_code, name, CLIENT, side, ends.local, False, dynamic)
    call_status = _static_status(view, grpc_code, True)[0]
    return _Plan(
        ends.local,
        ends.peer,
        facts,
        fact_keys,
        client,
        server,
        caller_reports,
        client_key,
        server_key,
        (grpc, grpc_code, rpc_method),
        gateway,
        ends.caller,
        call_status,
    )


_PLANS_LIMIT = 10_000


_TCP_CLIENT = SEP + b"client" + SEP
_TCP_SERVER = SEP + b"server" + SEP


def _ids(view: EntryView, ends: Ends, plan: _Plan) -> tuple[bytes, bytes, bytes, bytes]:
    """(trace id, the logged parent, client span id, server span id); an id no span of the
    entry uses is left empty (each costs a blake2b)."""
    need_client = plan.client is not None or plan.server_parent_is_client
    need_server = plan.server is not None
    if view.is_tcp:
        if ends.direction is Direction.OUTBOUND:
            client = f"{view.upstream_local_ip}:{view.upstream_local_port}"
            server = f"{view.upstream_remote_ip}:{view.upstream_remote_port}"
        else:
            client = f"{view.downstream_remote_ip}:{view.downstream_remote_port}"
            server = f"{view.downstream_local_ip}:{view.downstream_local_port}"
        trace_id = connection_context(client, server).trace_id
        client_id = span_id_from_key(trace_id + _TCP_CLIENT) if need_client else b""
        server_id = span_id_from_key(trace_id + _TCP_SERVER) if need_server else b""
        return trace_id, b"", client_id, server_id
    request_id = view.request_id.encode()
    logged = logged_context(view.request_headers)
    if logged is not None:
        trace_id, parent = logged.trace_id, logged.parent_span_id
    elif request_id:  # as `extract`, without parsing headers twice or encoding the id twice
        trace_id, parent = trace_id_from_key(request_id), b""
    else:  # nothing both ends share: unpaired, random ids
        raw = _random_bytes(32)
        return raw[:16], b"", raw[16:24], raw[24:]
    head = trace_id + SEP + request_id + SEP
    client_id = span_id_from_key(head + plan.client_key) if need_client else b""
    server_id = b""
    if need_server:
        attempt = view.request_headers.get("x-envoy-attempt-count", "1")
        server_id = span_id_from_key(head + plan.server_key + attempt.encode() + SEP)
    return trace_id, parent, client_id, server_id


def _gateway_spans(view: EntryView, ends: Ends, plan: _Plan) -> SpanSet:
    """A gateway's entry: the SERVER span of the request it received (parent: the logged trace
    context's, else none: the root of the trace) and the CLIENT span it sent on, its child.
    Both have the gateway as resource; the CLIENT span is the entry's own."""
    assert plan.server is not None
    trace_id, parent, client_id, server_id = _ids(view, ends, plan)
    start, end = view.start_ns, view.end_ns
    received_values = _dynamic_server_side(view)
    received = SpanData(trace_id, server_id, parent, start, end, plan.server, received_values)
    if plan.client is None:  # server_side mode: the destination synthesizes the CLIENT span
        return SpanSet(
            [(ends.local, received)], received, plan.facts, plan.fact_keys, received_values, plan.grpc
        )
    values = _dynamic_client_side(view, view.upstream_remote_ip, view.upstream_remote_port)
    sent = SpanData(trace_id, client_id, server_id, start, end, plan.client, values)
    spans = [(ends.local, received), (ends.local, sent)]
    return SpanSet(spans, sent, plan.facts, plan.fact_keys, values, plan.grpc)


class SpanBuilder:
    """Makes the spans of entries for one receiver, keeping the plans it made (see the module
    docstring): a cache owned by the builder, so by the one converter (and event loop) using it."""

    def __init__(self, reporters: Reporters, max_plans: int = _PLANS_LIMIT) -> None:
        self._reporters = reporters
        self._plans: BoundedCache[tuple[object, ...], _Plan] = BoundedCache(max_plans)
        self._get_plan = self._plans.get  # bound once: this runs for every entry

    def _plan(self, view: EntryView, ends: Ends) -> _Plan:
        """The entry's plan, found by object identity of the workloads (hashing a `Workload` walks
        all its fields) and by the static fields' values."""
        local, peer, caller = ends.local, ends.peer, ends.caller
        outbound = ends.direction is Direction.OUTBOUND
        grpc_facts = semconv.grpc_facts(view)
        key = (id(local), id(peer), id(caller), outbound, self._reporters, grpc_facts, _STATIC_FIELDS(view))
        plan = self._get_plan(key)
        if plan is None or plan.local is not local or plan.peer is not peer or plan.caller is not caller:
            plan = self._plans.put(key, _make_plan(view, ends, self._reporters, *grpc_facts))
        return plan

    def build(self, view: EntryView, ends: Ends) -> SpanSet:
        """The spans that one entry contributes; see the module docstring for the rules."""
        plan = self._plan(view, ends)
        if plan.gateway:
            return _gateway_spans(view, ends, plan)
        client, server = plan.client, plan.server
        if server is None:  # outbound: the reporting proxy's CLIENT span, if any
            values = _dynamic_client_side(view, view.upstream_remote_ip, view.upstream_remote_port)
            if client is None:
                return SpanSet([], None, plan.facts, plan.fact_keys, values, plan.grpc, plan.call_status)
            trace_id, parent, client_id, _ = _ids(view, ends, plan)
            own = SpanData(trace_id, client_id, parent, view.start_ns, view.end_ns, client, values)
            facts, keys, grpc, status = plan.facts, plan.fact_keys, plan.grpc, plan.call_status
            return SpanSet([(ends.local, own)], own, facts, keys, values, grpc, status)
        trace_id, parent, client_id, server_id = _ids(view, ends, plan)
        start, end = view.start_ns, view.end_ns
        server_parent = client_id if plan.server_parent_is_client else parent
        values = _dynamic_server_side(view)
        own = SpanData(trace_id, server_id, server_parent, start, end, server, values)
        spans = [(ends.local, own)]
        if client is not None:  # synthesized: the caller's CLIENT span, its resource the caller
            synthesized = _dynamic_client_side(view, view.downstream_local_ip, view.downstream_local_port)
            spans.append((ends.peer, SpanData(trace_id, client_id, parent, start, end, client, synthesized)))
        return SpanSet(spans, own, plan.facts, plan.fact_keys, values, plan.grpc, plan.call_status)


def build_spans(view: EntryView, ends: Ends, reporters: Reporters) -> SpanSet:
    """One entry's spans, by a builder of its own (nothing kept between calls): for tests and
    tools that look at one entry; the pipeline holds a `SpanBuilder`."""
    return SpanBuilder(reporters, max_plans=1).build(view, ends)
