"""The `envoy_als` receiver: a gRPC server for Envoy's AccessLogService/StreamAccessLogs.

Envoy opens one client-streaming RPC per worker thread per access logger and never ends it;
the identifier (node + log name) comes only in the first message of each stream. Each message
is decoded here, by us rather than by gRPC, so a malformed or oversized message is counted and
skipped while the stream (and every other stream) goes on.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from bridge.decode import EntryView, from_http, from_tcp
from bridge.identity import workload_from_node
from bridge.pipeline.convert import EntryConverter, StreamState
from bridge.receivers.envoy_als import _protos
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig
from bridge.telemetry import SELF, RateLimitedLogger

log = logging.getLogger("bridge.receivers.envoy_als")
_warn = RateLimitedLogger(log)

# gRPC's own cap sits above ours so that an oversized message reaches our code, where it is
# counted and skipped; only a message past this hard cap makes gRPC end the stream.
_GRPC_HARD_CAP_FACTOR = 4


def _decode_entries(message: Any) -> tuple[list[EntryView], int]:
    """Views of the message's entries, and how many entries could not be read."""
    views: list[EntryView] = []
    bad = 0
    kind = message.WhichOneof("log_entries")
    if kind == "http_logs":
        for entry in message.http_logs.log_entry:
            try:
                views.append(from_http(entry))
            except (ValueError, IndexError) as err:
                bad += 1
                _warn.warning("bad-http-entry", "skipping an HTTP entry that could not be read: %s", err)
        SELF.add("als_bridge_entries_received_total", len(message.http_logs.log_entry), type="http")
    elif kind == "tcp_logs":
        for entry in message.tcp_logs.log_entry:
            try:
                views.append(from_tcp(entry))
            except (ValueError, IndexError) as err:
                bad += 1
                _warn.warning("bad-tcp-entry", "skipping a TCP entry that could not be read: %s", err)
        SELF.add("als_bridge_entries_received_total", len(message.tcp_logs.log_entry), type="tcp")
    return views, bad


class EnvoyALSReceiver:
    def __init__(self, name: str, config: EnvoyALSReceiverConfig, converter: EntryConverter) -> None:
        self.name = name
        self._config = config
        self._converter = converter
        self._server: grpc.aio.Server | None = None
        self.port = 0

    def _handlers(self) -> grpc.GenericRpcHandler:
        method = grpc.stream_unary_rpc_method_handler(
            self._stream,
            request_deserializer=None,  # raw bytes: we decode, so a bad message can't end the stream
            response_serializer=_protos.StreamAccessLogsResponse.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(_protos.SERVICE_NAME, {_protos.METHOD_NAME: method})

    async def start(self) -> None:
        cap = max(self._config.max_recv_msg_size * _GRPC_HARD_CAP_FACTOR, 4 * 1024 * 1024)
        self._server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", cap),
                ("grpc.so_reuseport", 0),
            ],
        )
        self._server.add_generic_rpc_handlers((self._handlers(),))
        self.port = self._server.add_insecure_port(self._config.endpoint)
        if self.port == 0:
            raise OSError(f"receivers.{self.name}: cannot listen on {self._config.endpoint}")
        await self._server.start()
        log.info("receiver %s listening on %s (port %d)", self.name, self._config.endpoint, self.port)

    async def stop(self, grace: float) -> None:
        """Stop accepting streams, and give open streams `grace` seconds to end."""
        if self._server is not None:
            await self._server.stop(grace)

    async def _stream(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
        stream = StreamState(peer=context.peer())
        SELF.add("als_bridge_streams_open", 1)
        SELF.add("als_bridge_streams_total", 1)
        try:
            async for raw in requests:
                self._on_message(stream, raw)
        finally:
            SELF.add("als_bridge_streams_open", -1)
        return _protos.StreamAccessLogsResponse()

    def _warn_once(self, stream: StreamState, key: str, msg: str, *args: object) -> None:
        if key not in stream.warned:
            stream.warned.add(key)
            log.warning(msg, *args)

    def _on_message(self, stream: StreamState, raw: bytes) -> None:
        if len(raw) > self._config.max_recv_msg_size:
            SELF.add("als_bridge_decode_errors_total", kind="oversized_message")
            self._warn_once(
                stream,
                "oversized",
                "stream from %s: skipped a %d-byte message, over max_recv_msg_size %d",
                stream.peer,
                len(raw),
                self._config.max_recv_msg_size,
            )
            return
        try:
            message = _protos.StreamAccessLogsMessage.FromString(raw)
        except DecodeError as err:
            SELF.add("als_bridge_decode_errors_total", kind="malformed_message")
            self._warn_once(
                stream, "malformed", "stream from %s: skipped a malformed message: %s", stream.peer, err
            )
            return
        if message.HasField("identifier"):
            self._on_identifier(stream, message.identifier)
        views, bad = _decode_entries(message)
        if bad:
            SELF.add("als_bridge_entries_dropped_total", bad, reason="unreadable_entry")
        if stream.local is None:
            if views:
                SELF.add("als_bridge_entries_dropped_total", len(views), reason="no_identifier")
                self._warn_once(
                    stream,
                    "no-identifier",
                    "stream from %s sent entries before any identifier; they are dropped "
                    "(Envoy always sends one first: is this an Envoy?)",
                    stream.peer,
                )
            return
        if not views:
            return
        errors = self._converter.convert(stream, views)
        for error in errors:
            kind = error.split(":", 1)[0]
            SELF.add("als_bridge_decode_errors_total", kind=f"peer_metadata_{kind}")
            self._warn_once(
                stream,
                f"peer:{kind}",
                "stream from %s (%s): peer metadata could not be decoded (%s); spans keep what is known",
                stream.peer,
                stream.node_id,
                error,
            )

    def _on_identifier(self, stream: StreamState, identifier: Any) -> None:
        stream.local = workload_from_node(identifier.node)
        stream.log_name = identifier.log_name
        stream.node_id = identifier.node.id
        log.debug("stream from %s identified as %s (%s)", stream.peer, stream.node_id, stream.log_name)
