"""The demo mesh against a real Envoy 1.40, and what that Envoy actually sends over ALS.

The assertions double as documentation of measured behaviour: which headers, filter state,
cluster names and flags reach an ALS receiver from a client and a server sidecar.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format, wrappers_pb2

from bridge.demo import Mesh, MeshError
from bridge.demo._envoy import EnvoyError, EnvoyProcess
from bridge.demo.mesh import Which
from bridge.receivers.envoy_als._protos import (
    METHOD_NAME,
    SERVICE_NAME,
    StreamAccessLogsMessage,
    StreamAccessLogsResponse,
)

HTTP_LOG = "http_envoy_accesslog"
TCP_LOG = "tcp_envoy_accesslog"
NODE_A = Mesh.node_id("a")
NODE_B = Mesh.node_id("b")
OUTBOUND_HTTP = "outbound|8080||b.demo.svc.cluster.local"
OUTBOUND_GRPC = "outbound|9090||b.demo.svc.cluster.local"
OUTBOUND_TCP = "outbound|9000||b-tcp.demo.svc.cluster.local"
INBOUND = re.compile(r"inbound\|\d+\|\|")
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TCP_PAYLOAD = b"hello over tcp\n"
WAIT_S = 10.0


# -- a tiny ALS collector ----------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One entry, with the identifier of the stream it came on (sent only in a stream's first message)."""

    node_id: str
    log_name: str
    entry: Any  # HTTPAccessLogEntry or TCPAccessLogEntry

    @property
    def request_id(self) -> str:
        return str(self.entry.request.request_id) if self.log_name == HTTP_LOG else ""


@dataclass
class Collector:
    """Keeps every entry and every stream's identifier."""

    entries: list[Received] = field(default_factory=list)
    identifiers: list[Any] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, messages: Iterator[Any], context: grpc.ServicerContext) -> Any:
        identifier = None
        try:
            for message in messages:
                if message.HasField("identifier"):
                    identifier = message.identifier
                    with self.lock:
                        self.identifiers.append(identifier)
                assert identifier is not None, "the first message of a stream carries the identifier"
                self._add(identifier, message)
        except grpc.RpcError:
            pass  # Envoy stopping resets the stream
        return StreamAccessLogsResponse()

    def _add(self, identifier: Any, message: Any) -> None:
        logs = message.http_logs.log_entry if message.HasField("http_logs") else message.tcp_logs.log_entry
        with self.lock:
            self.entries.extend(Received(identifier.node.id, identifier.log_name, e) for e in logs)

    def select(self, node_id: str, log_name: str) -> list[Received]:
        with self.lock:
            return [r for r in self.entries if r.node_id == node_id and r.log_name == log_name]

    def wait_for(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; got {len(self.entries)} entries")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def make_collector() -> Iterator[Callable[[], tuple[Collector, str]]]:
    """Start collectors on free loopback ports; each returns (collector, "127.0.0.1:PORT")."""
    servers: list[grpc.Server] = []

    def make() -> tuple[Collector, str]:
        collector = Collector()
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
        handler = grpc.stream_unary_rpc_method_handler(
            collector.handle,
            request_deserializer=StreamAccessLogsMessage.FromString,
            response_serializer=StreamAccessLogsResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE_NAME, {METHOD_NAME: handler}),)
        )
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return collector, f"127.0.0.1:{port}"

    yield make
    for server in servers:
        server.stop(grace=0)


# -- the traffic both meshes get ---------------------------------------------------------------


def _send_traffic(mesh: Mesh) -> None:
    """One of each call, tagged with x-request-id so the two sidecars' entries can be paired."""
    assert mesh.http_get("/status/200", {"x-request-id": "http-200", "traceparent": TRACEPARENT}) == 200
    assert mesh.http_get("/status/503", {"x-request-id": "http-503"}) == 503
    assert mesh.http_get("/nowhere", {"x-request-id": "no-route"}) == 404
    assert mesh.grpc_lookup("alice", [("x-request-id", "grpc-ok")]) == grpc.StatusCode.OK
    assert mesh.grpc_lookup("nobody", [("x-request-id", "grpc-not-found")]) == grpc.StatusCode.NOT_FOUND
    assert mesh.tcp_roundtrip(TCP_PAYLOAD) == TCP_PAYLOAD


@dataclass
class Run:
    collector: Collector
    pids: list[int]

    def http(self, node_id: str, request_id: str) -> Any:
        """The single HTTP entry of `node_id` for `request_id`."""
        found = [r.entry for r in self.collector.select(node_id, HTTP_LOG) if r.request_id == request_id]
        assert len(found) == 1, f"{len(found)} entries for {request_id} from {node_id}"
        return found[0]


@pytest.fixture(scope="module")
def both(make_collector: Callable[[], tuple[Collector, str]]) -> Run:
    collector, address = make_collector()
    with Mesh(address, reporters="both") as mesh:
        pids = [pid for pid in (mesh.envoy("a").pid, mesh.envoy("b").pid) if pid]
        _send_traffic(mesh)
        collector.wait_for(
            lambda: (
                len(collector.select(NODE_A, HTTP_LOG)) >= 5
                and len(collector.select(NODE_B, HTTP_LOG)) >= 4
                and len(collector.select(NODE_A, TCP_LOG)) >= 1
                and len(collector.select(NODE_B, TCP_LOG)) >= 1
            ),
            "entries from both sidecars",
        )
    return Run(collector, pids)


@pytest.fixture(scope="module")
def server_side(make_collector: Callable[[], tuple[Collector, str]]) -> Run:
    collector, address = make_collector()
    with Mesh(address, reporters="server_side") as mesh:
        _send_traffic(mesh)
        collector.wait_for(
            lambda: (
                len(collector.select(NODE_B, HTTP_LOG)) >= 4 and len(collector.select(NODE_B, TCP_LOG)) >= 1
            ),
            "entries from the server sidecar",
        )
        time.sleep(0.6)  # three flush intervals: anything A's sidecar sent would be here by now
    return Run(collector, [])


def _headers(mapping: Any) -> dict[str, str]:
    return dict(mapping)


# -- what Envoy sent ---------------------------------------------------------------------------


@pytest.mark.envoy
def test_identifier_carries_node_id_metadata_and_log_name(both: Run) -> None:
    seen = {(i.node.id, i.log_name) for i in both.collector.identifiers}
    assert seen == {(NODE_A, HTTP_LOG), (NODE_A, TCP_LOG), (NODE_B, HTTP_LOG), (NODE_B, TCP_LOG)}
    for identifier in both.collector.identifiers:
        which: Which = "a" if identifier.node.id == NODE_A else "b"
        assert json_format.MessageToDict(identifier.node.metadata) == Mesh.node_metadata(which)
        assert identifier.node.cluster == f"{which}.demo"


@pytest.mark.envoy
@pytest.mark.parametrize(("request_id", "code"), [("http-200", 200), ("http-503", 503)])
def test_http_calls_are_logged_by_both_sidecars(both: Run, request_id: str, code: int) -> None:
    client, server = both.http(NODE_A, request_id), both.http(NODE_B, request_id)
    assert client.response.response_code.value == server.response.response_code.value == code
    assert client.common_properties.upstream_cluster == OUTBOUND_HTTP
    assert INBOUND.fullmatch(server.common_properties.upstream_cluster)
    assert client.common_properties.route_name == server.common_properties.route_name == "default"
    assert client.response.response_code_details == server.response.response_code_details == "via_upstream"
    # The client's upstream connection is the server's downstream one.
    assert (
        client.common_properties.upstream_local_address.socket_address.port_value
        == server.common_properties.downstream_remote_address.socket_address.port_value
    )


@pytest.mark.envoy
def test_trace_context_passes_both_sidecars_unchanged(both: Run) -> None:
    for node in (NODE_A, NODE_B):
        assert _headers(both.http(node, "http-200").request.request_headers)["traceparent"] == TRACEPARENT


@pytest.mark.envoy
def test_no_route_is_answered_and_logged_by_the_client_only(both: Run) -> None:
    entry = both.http(NODE_A, "no-route")
    assert entry.response.response_code.value == 404
    assert entry.common_properties.response_flags.no_route_found
    assert entry.response.response_code_details == "route_not_found"
    assert entry.common_properties.upstream_cluster == ""
    assert entry.common_properties.route_name == ""
    # No route: no request_headers_to_add, no attempt count, so none of the logged headers.
    assert _headers(entry.request.request_headers) == {}
    assert not [r for r in both.collector.select(NODE_B, HTTP_LOG) if r.request_id == "no-route"]


@pytest.mark.envoy
def test_grpc_ok_reports_status_in_trailers(both: Run) -> None:
    for node in (NODE_A, NODE_B):
        entry = both.http(node, "grpc-ok")
        assert entry.response.response_code.value == 200
        assert entry.protocol_version == entry.HTTP2
        assert entry.request.path == "/demo.Greeter/Lookup"
        assert entry.request.authority == "b.demo.svc.cluster.local:9090"
        assert _headers(entry.response.response_trailers) == {"grpc-status": "0", "grpc-message": ""}
        assert "grpc-status" not in _headers(entry.response.response_headers)
    assert both.http(NODE_A, "grpc-ok").common_properties.upstream_cluster == OUTBOUND_GRPC


@pytest.mark.envoy
def test_grpc_not_found_is_trailers_only(both: Run) -> None:
    for node in (NODE_A, NODE_B):
        entry = both.http(node, "grpc-not-found")
        assert entry.response.response_code.value == 200  # HTTP 200, the error is in grpc-status
        headers = _headers(entry.response.response_headers)
        assert headers["grpc-status"] == "5"
        assert headers["grpc-message"] == "no such key: nobody"
        assert _headers(entry.response.response_trailers) == {}


@pytest.mark.envoy
@pytest.mark.parametrize("request_id", ["http-200", "http-503", "grpc-ok", "grpc-not-found"])
def test_peer_metadata_headers_carry_the_senders_identity(both: Run, request_id: str) -> None:
    a_header, b_header = Mesh.peer_metadata_header("a"), Mesh.peer_metadata_header("b")
    for node in (NODE_A, NODE_B):
        entry = both.http(node, request_id)
        request, response = _headers(entry.request.request_headers), _headers(entry.response.response_headers)
        # Client side too: the logged request headers include the route's request_headers_to_add
        # and the router's x-envoy-attempt-count, because Envoy edits the request in place.
        assert request["x-envoy-peer-metadata"] == a_header
        assert request["x-envoy-peer-metadata-id"] == NODE_A
        assert request["x-envoy-attempt-count"] == "1"
        # Client side: B's response_headers_to_add pass through A's sidecar and are logged there.
        assert response["x-envoy-peer-metadata"] == b_header
        assert response["x-envoy-peer-metadata-id"] == NODE_B


@pytest.mark.envoy
def test_server_inbound_entries_carry_downstream_peer_as_string_value(both: Run) -> None:
    for request_id in ("http-200", "http-503", "grpc-ok", "grpc-not-found"):
        server = both.http(NODE_B, request_id).common_properties.filter_state_objects
        assert set(server) == {"downstream_peer"}
        assert server["downstream_peer"].type_url == "type.googleapis.com/google.protobuf.StringValue"
        value = wrappers_pb2.StringValue.FromString(server["downstream_peer"].value).value
        assert value == Mesh.peer_metadata_header("a")
        # Plain Envoy has nothing that sets upstream_peer on the client side.
        assert dict(both.http(NODE_A, request_id).common_properties.filter_state_objects) == {}


@pytest.mark.envoy
def test_tcp_connection_is_logged_by_both_sidecars_with_byte_counts(both: Run) -> None:
    (client,) = both.collector.select(NODE_A, TCP_LOG)
    (server,) = both.collector.select(NODE_B, TCP_LOG)
    assert client.entry.common_properties.upstream_cluster == OUTBOUND_TCP
    assert INBOUND.fullmatch(server.entry.common_properties.upstream_cluster)
    for received in (client, server):
        assert received.entry.connection_properties.received_bytes == len(TCP_PAYLOAD)
        assert received.entry.connection_properties.sent_bytes == len(TCP_PAYLOAD)
        assert dict(received.entry.common_properties.filter_state_objects) == {}


@pytest.mark.envoy
def test_stop_ends_the_envoy_processes(both: Run) -> None:
    assert len(both.pids) == 2
    for pid in both.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@pytest.mark.envoy
def test_server_side_reporting_logs_only_the_server_sidecar(server_side: Run) -> None:
    nodes = {r.node_id for r in server_side.collector.entries}
    assert nodes == {NODE_B}
    assert len(server_side.collector.select(NODE_B, HTTP_LOG)) == 4
    assert len(server_side.collector.select(NODE_B, TCP_LOG)) == 1
    assert server_side.http(NODE_B, "http-200").response.response_code.value == 200


# -- errors --------------------------------------------------------------------------------------


def test_mesh_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="reporters"):
        Mesh("127.0.0.1:9001", reporters="client_side")
    with pytest.raises(ValueError, match="HOST:PORT"):
        Mesh("127.0.0.1")


def test_mesh_helpers_need_a_running_mesh() -> None:
    with pytest.raises(MeshError, match="not running"):
        _ = Mesh("127.0.0.1:9001").http_port


@pytest.mark.envoy
def test_envoy_that_fails_to_start_raises_with_its_log(tmp_path: Path) -> None:
    envoy = EnvoyProcess(
        "broken", {"static_resources": {"clusters": [{"name": "x", "type": "NOPE"}]}}, tmp_path
    )
    with pytest.raises(EnvoyError, match=r"(?s)broken exited with code \d+.*log tail:\n.*NOPE"):
        envoy.start()
    envoy.stop()


@pytest.mark.envoy
def test_mesh_start_failure_names_the_sidecar_and_cleans_up(tmp_path: Path) -> None:
    mesh = Mesh("localhost:9", workdir=tmp_path)  # a STATIC cluster needs an IP: B's Envoy rejects it
    with pytest.raises(MeshError, match=r"(?s)sidecar-b exited with code \d+.*log tail:"):
        mesh.start()
    with pytest.raises(MeshError, match="not running"):
        mesh.envoy("b")
    assert (tmp_path / "sidecar-b.json").exists()  # a caller's workdir is kept for debugging
