"""Realistic ALS traffic for the benchmark: what a mesh of Istio sidecars streams to the bridge.

Each simulated sidecar is one workload with an Istio node (id and upper-case metadata). Its
entries are a mix, by weight, of outbound and inbound HTTP, gRPC (status in trailers, or in the
headers of a trailers-only reply) and TCP, each naming its peer the way Istio does: the 1.24+
`*_peer` Struct, the 1.6 - 1.23 `wasm.*_peer` FlatNode, or the logged `x-envoy-peer-metadata`
header. Sizes are Envoy's: about 1 KB per HTTP entry with its Struct.

Entries are built once per (sidecar, template); what changes from one send to the next (the
start time, which carries the generator's send time for the delay measurement, and the request
id) is stamped by `Stamper` just before the message is serialized.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Any

from bridge.receivers.envoy_als import _protos
from tests.fixtures.metadata import (
    any_bytes_flatnode,
    any_struct,
    istio_node,
    lower_struct,
    peer_header_value,
    reviews_flatnode,
    upper_struct,
)

NAMESPACES = ("default", "shop", "payments", "search", "auth", "catalog", "edge")
PATHS = ("/api/v1/items", "/api/v1/items/42?expand=price", "/healthz", "/cart", "/checkout?step=2")
GRPC_METHODS = ("/shop.Cart/AddItem", "/shop.Cart/GetCart", "/payments.Ledger/Charge")
# (kind, weight): most mesh traffic is HTTP and gRPC; a tenth TCP (databases, caches).
MIX = (("http", 6), ("grpc", 3), ("tcp", 1))
FORMS = ("struct", "flatnode", "header")


@dataclass(frozen=True)
class Sidecar:
    """One workload's sidecar: its node, and its identity in the forms a peer sees it."""

    index: int
    name: str
    namespace: str
    ip: str
    node: Any
    struct: Any  # lower-case peer Struct (1.24+)
    flatnode: bytes
    header: str  # base64 upper-case Struct


def sidecar(i: int) -> Sidecar:
    ns = NAMESPACES[i % len(NAMESPACES)]
    name = f"svc{i}"
    pod = f"{name}-v1-5d8f9c7b6-{i:05d}"
    ip = f"10.{i // 250}.{i % 250}.7"
    labels = {
        "app": name,
        "version": "v1",
        "service.istio.io/canonical-name": name,
        "service.istio.io/canonical-revision": "v1",
    }
    owner = f"kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{name}-v1"
    upper = upper_struct(
        NAME=pod,
        NAMESPACE=ns,
        LABELS=labels,
        OWNER=owner,
        WORKLOAD_NAME=f"{name}-v1",
        SERVICE_ACCOUNT=name,
        INSTANCE_IPS=ip,
    )
    lower = lower_struct(workload=f"{name}-v1", name=pod, namespace=ns, service=name, app=name)
    flat = reviews_flatnode(
        name=pod,
        namespace=ns,
        labels=labels,
        workload_name=f"{name}-v1",
        owner=owner,
        instance_ips=[ip],
        identity=f"spiffe://cluster.local/ns/{ns}/sa/{name}",
    )
    node = istio_node(f"sidecar~{ip}~{pod}.{ns}~{ns}.svc.cluster.local", upper)
    return Sidecar(i, name, ns, ip, node, lower, flat, peer_header_value(upper))


def _set_peer(entry: Any, side: str, form: str, peer: Sidecar, headers: Any) -> None:
    """Name `peer` in the entry the way Istio's metadata exchange does, in `form`."""
    fs = entry.common_properties.filter_state_objects
    if form == "struct":
        value = any_struct(peer.struct)
        key = f"{side}_peer"
    elif form == "flatnode":
        value = any_bytes_flatnode(peer.flatnode)
        key = f"wasm.{side}_peer"
    else:
        headers["x-envoy-peer-metadata"] = peer.header
        headers["x-envoy-peer-metadata-id"] = f"sidecar~{peer.ip}~{peer.name}.{peer.namespace}"
        return
    fs[key].type_url = value.type_url
    fs[key].value = value.value


def _common(entry: Any, rng: random.Random, local: Sidecar, peer: Sidecar, inbound: bool, port: int) -> None:
    common = entry.common_properties
    common.time_to_last_rx_byte.nanos = rng.randrange(50_000, 400_000)
    common.time_to_first_upstream_tx_byte.nanos = rng.randrange(400_000, 600_000)
    common.time_to_last_upstream_rx_byte.nanos = rng.randrange(1_000_000, 30_000_000)
    common.time_to_last_downstream_tx_byte.nanos = common.time_to_last_upstream_rx_byte.nanos + 200_000
    common.duration.nanos = common.time_to_last_downstream_tx_byte.nanos + 10_000
    host = f"{(peer if not inbound else local).name}.{(peer if not inbound else local).namespace}"
    if inbound:
        common.upstream_cluster = f"inbound|{port}||"
        common.route_name = "default"
        common.downstream_remote_address.socket_address.address = peer.ip
        common.downstream_remote_address.socket_address.port_value = rng.randrange(30000, 60000)
        common.downstream_local_address.socket_address.address = local.ip
        common.downstream_local_address.socket_address.port_value = port
        common.upstream_remote_address.socket_address.address = "127.0.0.6"
        common.upstream_remote_address.socket_address.port_value = port
        tls = common.tls_properties
        tls.tls_version = 4
        san = tls.peer_certificate_properties.subject_alt_name.add()
        san.uri = f"spiffe://cluster.local/ns/{peer.namespace}/sa/{peer.name}"
        san = tls.local_certificate_properties.subject_alt_name.add()
        san.uri = f"spiffe://cluster.local/ns/{local.namespace}/sa/{local.name}"
    else:
        common.upstream_cluster = f"outbound|{port}||{host}.svc.cluster.local"
        common.route_name = f"{host}.svc.cluster.local:{port}"
        common.downstream_remote_address.socket_address.address = local.ip
        common.downstream_remote_address.socket_address.port_value = rng.randrange(30000, 60000)
        common.downstream_local_address.socket_address.address = "10.96.0.10"
        common.downstream_local_address.socket_address.port_value = port
        common.upstream_remote_address.socket_address.address = peer.ip
        common.upstream_remote_address.socket_address.port_value = port
        common.upstream_local_address.socket_address.address = local.ip
        common.upstream_local_address.socket_address.port_value = rng.randrange(30000, 60000)
    common.upstream_request_attempt_count = 1


def http_entry(rng: random.Random, local: Sidecar, peer: Sidecar, grpc: bool, inbound: bool) -> Any:
    """An HTTP or gRPC entry of `local`'s sidecar for a call with `peer`, as Envoy logs it."""
    entry = _protos.HTTPAccessLogEntry()
    port = 9080 if grpc else 8080
    _common(entry, rng, local, peer, inbound, port)
    form = rng.choice(FORMS)
    entry.protocol_version = 3 if grpc else 2  # HTTP2 / HTTP11
    req = entry.request
    target = local if inbound else peer
    req.authority = f"{target.name}.{target.namespace}:{port}"
    req.scheme = "http"
    req.user_agent = "grpc-go/1.63.2" if grpc else "Go-http-client/1.1"
    req.request_headers_bytes = rng.randrange(200, 600)
    resp = entry.response
    resp.response_headers_bytes = rng.randrange(100, 300)
    resp.response_code_details = "via_upstream"
    headers = req.request_headers if inbound else resp.response_headers
    _set_peer(entry, "downstream" if inbound else "upstream", form, peer, headers)
    if rng.random() < 0.5:
        tid, sid = rng.randbytes(16).hex(), rng.randbytes(8).hex()
        req.request_headers["traceparent"] = f"00-{tid}-{sid}-01"
    if grpc:
        req.request_method = 3  # POST
        req.path = rng.choice(GRPC_METHODS)
        req.request_headers["content-type"] = "application/grpc"
        resp.response_code.value = 200
        status = "0" if rng.random() < 0.95 else rng.choice(("5", "14"))
        if rng.random() < 0.8:
            resp.response_trailers["grpc-status"] = status
        else:  # a trailers-only reply
            resp.response_headers["grpc-status"] = status
        req.request_body_bytes = rng.randrange(20, 2000)
        resp.response_body_bytes = rng.randrange(20, 4000)
    else:
        req.request_method = rng.choice((1, 1, 1, 3, 4))
        req.path = rng.choice(PATHS)
        code = rng.choices((200, 201, 404, 503), weights=(85, 5, 7, 3))[0]
        resp.response_code.value = code
        if code == 503:
            common = entry.common_properties
            common.response_flags.upstream_connection_failure = True
            resp.response_code_details = "upstream_reset_before_response_started{connection_failure}"
        req.request_body_bytes = rng.randrange(0, 500) if req.request_method != 1 else 0
        resp.response_body_bytes = rng.randrange(100, 20000)
    wire_in = req.request_headers_bytes + req.request_body_bytes
    entry.common_properties.downstream_wire_bytes_received = wire_in
    entry.common_properties.downstream_wire_bytes_sent = (
        resp.response_headers_bytes + resp.response_body_bytes
    )
    return entry


def tcp_entry(rng: random.Random, local: Sidecar, peer: Sidecar, inbound: bool) -> Any:
    entry = _protos.TCPAccessLogEntry()
    _common(entry, rng, local, peer, inbound, 5432)
    form = rng.choice(("struct", "flatnode"))  # TCP mx has no header form
    _set_peer(entry, "downstream" if inbound else "upstream", form, peer, {})
    entry.connection_properties.received_bytes = rng.randrange(100, 100_000)
    entry.connection_properties.sent_bytes = rng.randrange(100, 1_000_000)
    return entry


@dataclass
class StreamPlan:
    """What one simulated Envoy worker logger sends: its node, its entry type, and entry templates."""

    node: Any
    kind: str  # "http" (HTTP and gRPC) or "tcp"
    templates: list[Any]
    log_name: str


def plan_stream(rng: random.Random, sidecars: list[Sidecar], index: int, templates: int = 64) -> StreamPlan:
    """Stream `index`: a sidecar, one logger (HTTP or TCP), entries for calls with many peers."""
    local = sidecars[index % len(sidecars)]
    kinds, weights = zip(*MIX, strict=True)
    # an Envoy logger logs one entry type; TCP loggers are the minority, as TCP traffic is
    tcp = rng.choices(kinds, weights)[0] == "tcp"
    entries = []
    for _ in range(templates):
        peer = rng.choice(sidecars)
        inbound = rng.random() < 0.5
        if tcp:
            entries.append(tcp_entry(rng, local, peer, inbound))
        else:
            grpc = rng.random() < MIX[1][1] / (MIX[0][1] + MIX[1][1])
            entries.append(http_entry(rng, local, peer, grpc, inbound))
    return StreamPlan(local.node, "tcp" if tcp else "http", entries, "tcp_log" if tcp else "http_log")


def entries_per_message(plan: StreamPlan, message_bytes: int, batch: int) -> int:
    """How many entries fill one message: `batch` when set, else as many as fit in
    `message_bytes` (Envoy flushes its buffer when it reaches its size, 16 KiB by default)."""
    if batch:
        return batch
    size = sum(t.ByteSize() for t in plan.templates) / len(plan.templates)
    return max(1, int(message_bytes // (size + 3)))


class Stamper:
    """Builds the messages of one stream from its templates: each send gets the current time as
    its entries' start time (the delay measurement reads it back at the sink) and fresh request
    ids, so no two entries of a run are the same request. Successive messages take successive
    templates, so every template of the stream is sent, not only the first message's worth."""

    def __init__(self, plan: StreamPlan, per_message: int, tag: str) -> None:
        self._plan = plan
        self._n = per_message
        self._tag = tag
        self._seq = 0
        self._messages: list[tuple[Any, list[Any]]] = []
        count = len(plan.templates)
        variants = count // math.gcd(count, per_message)  # messages until the templates line up again
        for v in range(variants):
            message = _protos.StreamAccessLogsMessage()
            repeated = message.tcp_logs.log_entry if plan.kind == "tcp" else message.http_logs.log_entry
            for i in range(per_message):
                repeated.append(plan.templates[(v * per_message + i) % count])
            self._messages.append((message, list(repeated)))
        self._next = 0

    def identifier(self) -> bytes:
        first = _protos.StreamAccessLogsMessage()
        first.identifier.node.CopyFrom(self._plan.node)
        first.identifier.log_name = self._plan.log_name
        return bytes(first.SerializeToString())

    def next_message(self) -> bytes:
        message, entries = self._messages[self._next]
        self._next = (self._next + 1) % len(self._messages)
        now = time.time_ns()
        seconds, nanos = divmod(now, 1_000_000_000)
        http = self._plan.kind == "http"
        for entry in entries:
            ts = entry.common_properties.start_time
            ts.seconds = seconds
            ts.nanos = nanos
            if http:
                self._seq += 1
                entry.request.request_id = f"{self._tag}-{self._seq}"
        return bytes(message.SerializeToString())
