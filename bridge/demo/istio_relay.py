"""`IstioAlsRelay`: an ALS server in front of the bridge that makes plain Envoy's filter state
what Istio's proxy logs under the same keys (see `bridge.demo.istio_mesh` for why).

Per entry, for the proxy that sent it (known from the stream's first message):
* inbound: the caller's `x-envoy-peer-metadata`, stored by `set_filter_state` as a StringValue
  under `downstream_peer` (1.24+) or `wasm.downstream_peer` (before), becomes what Istio's
  peer_metadata filter stores there: the lower-case peer Struct (1.24+) or
  `BytesValue(FlatNode)` with `wasm.downstream_peer_id` = `"unknown"` (native filter, 1.19 -
  1.23);
* outbound: Istio's client proxy learns the server's identity from the response's
  `x-envoy-peer-metadata` (`istio_headers` upstream discovery) and stores it under
  `upstream_peer` / `wasm.upstream_peer`; plain Envoy's `set_filter_state` runs on requests
  only, so the relay adds it by the upstream address the entry logged, for servers that send it
  (sidecars do; gateways and services outside the mesh do not);
* TCP: Istio's TCP metadata exchange stores both peers on the connection; the relay adds them
  by the addresses the entry logged;
* an ambient waypoint learns both ends by workload discovery (no headers): the relay adds the
  caller by the waypoint's listener and the destination by the upstream address.
Only keys the proxy's logger lists are written, as Envoy logs only those. Everything else
(identifier, timing, addresses, codes) is forwarded untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import struct_pb2, wrappers_pb2

from bridge.demo.istio import flatnode, peer_struct
from bridge.identity.headers import decode_base64
from bridge.identity.metadata import struct_to_dict
from bridge.receivers.envoy_als import _protos

_METHOD = f"/{_protos.SERVICE_NAME}/{_protos.METHOD_NAME}"
_STRUCT_URL = "type.googleapis.com/google.protobuf.Struct"
_BYTES_URL = "type.googleapis.com/google.protobuf.BytesValue"
Metadata = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ProxyFacts:
    modern: bool  # Istio 1.24+
    keys: frozenset[str]  # filter_state_objects_to_log
    upstream: Mapping[str, Metadata]  # "ip:port" of a server's listener -> its mx Struct
    callers: Mapping[str, Metadata]  # "ip:port" of an own listener -> its caller (TCP mx, waypoints)


def _address(address: Any) -> str:
    sa = address.socket_address
    return f"{sa.address}:{sa.port_value}"


class IstioAlsRelay:
    """A gRPC ALS server on 127.0.0.1 that rewrites and forwards every stream to the bridge."""

    def __init__(self, bridge_address: str) -> None:
        self._bridge_address = bridge_address
        self._facts: dict[str, ProxyFacts] = {}
        self._ready = threading.Event()
        self._server: grpc.Server | None = None
        self.port = 0

    def set_facts(self, facts: dict[str, ProxyFacts]) -> None:
        """The proxies' facts, by node id; streams wait for them (proxies start before)."""
        self._facts = facts
        self._ready.set()

    def start(self) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=32, thread_name_prefix="istio-relay"))
        handler = grpc.stream_unary_rpc_method_handler(
            self._stream,
            request_deserializer=_protos.StreamAccessLogsMessage.FromString,
            response_serializer=lambda response: response.SerializeToString(),
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(_protos.SERVICE_NAME, {_protos.METHOD_NAME: handler}),)
        )
        self.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._server = server

    def stop(self) -> None:
        self._ready.set()
        if self._server is not None:
            self._server.stop(grace=2).wait(5)
            self._server = None

    def _stream(self, requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
        with grpc.insecure_channel(self._bridge_address) as channel:
            forward = channel.stream_unary(
                _METHOD,
                request_serializer=lambda message: message.SerializeToString(),
                response_deserializer=_protos.StreamAccessLogsResponse.FromString,
            )
            forward(self._rewritten(requests))
        return _protos.StreamAccessLogsResponse()

    def _rewritten(self, requests: Iterator[Any]) -> Iterator[Any]:
        facts: ProxyFacts | None = None
        for message in requests:
            if facts is None:
                self._ready.wait(30)
                facts = self._facts.get(message.identifier.node.id)
            if facts is not None:
                for entry in message.http_logs.log_entry:
                    _rewrite(entry.common_properties, facts)
                for entry in message.tcp_logs.log_entry:
                    _rewrite(entry.common_properties, facts)
            yield message


def _rewrite(common: Any, facts: ProxyFacts) -> None:
    state = common.filter_state_objects
    down_key, up_key = (
        ("downstream_peer", "upstream_peer")
        if facts.modern
        else ("wasm.downstream_peer", "wasm.upstream_peer")
    )
    if down_key in state:  # the caller's header, stored as a StringValue by set_filter_state
        raw = wrappers_pb2.StringValue.FromString(state[down_key].value).value
        _store(state, down_key, struct_to_dict(struct_pb2.Struct.FromString(decode_base64(raw))), facts)
    elif _address(common.downstream_local_address) in facts.callers:
        _store(state, down_key, facts.callers[_address(common.downstream_local_address)], facts)
    upstream = facts.upstream.get(_address(common.upstream_remote_address))
    if upstream is not None and not common.upstream_cluster.startswith("inbound|"):
        _store(state, up_key, upstream, facts)


def _store(state: Any, key: str, md: Metadata, facts: ProxyFacts) -> None:
    if key not in facts.keys:
        if key in state:
            del state[key]
        return
    if facts.modern:
        state[key].type_url = _STRUCT_URL
        state[key].value = peer_struct(md)
        return
    state[key].type_url = _BYTES_URL
    state[key].value = wrappers_pb2.BytesValue(value=flatnode(md)).SerializeToString()
    id_key = key + "_id"
    if id_key in facts.keys:  # the native filter (1.19 - 1.23) stores "unknown" there
        state[id_key].type_url = _BYTES_URL
        state[id_key].value = wrappers_pb2.BytesValue(value=b"unknown").SerializeToString()
