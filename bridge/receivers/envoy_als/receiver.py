"""The `envoy_als` receiver: a gRPC server for Envoy's AccessLogService/StreamAccessLogs.

Envoy opens one client-streaming RPC per worker thread per access logger and never ends it;
the identifier (node + log name) comes only in the first message of each stream. Each message
is decoded here, by us rather than by gRPC, so a malformed or oversized message is counted and
skipped while the stream (and every other stream) goes on.

Admission happens once, when a stream opens: a client whose certificate's SPIFFE id is not in
`allowed_spiffe_ids`, or a stream past `max_concurrent_streams`, is refused before any of its
messages is read. Within an accepted stream, `max_entries_per_second_per_stream` drops the excess
entries and `max_value_length` cuts long strings, so one noisy or hostile sidecar costs the others
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from google.protobuf.message import DecodeError

from bridge.decode import EntryView, from_http, from_tcp
from bridge.identity import workload_from_node
from bridge.pipeline.capacity import Admission, wait_for_room
from bridge.pipeline.convert import EntryConverter, StreamState
from bridge.receivers.envoy_als import _protos
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig
from bridge.receivers.envoy_als.limits import TokenBucket, encoded_entry_sizes, truncate_long_values
from bridge.receivers.envoy_als.spiffe import SpiffeAllowList
from bridge.receivers.envoy_als.tls import peer_spiffe_id, server_credentials
from bridge.telemetry import SELF, RateLimitedLogger

log = logging.getLogger("bridge.receivers.envoy_als")
_warn = RateLimitedLogger(log)

SELF.describe(
    "als_bridge_streams_refused_total", "counter", "ALS streams refused when they opened, by reason"
)
SELF.describe("als_bridge_values_truncated_total", "counter", "ALS entry strings cut to max_value_length")

# gRPC's own cap sits above ours so that an oversized message reaches our code, where it is
# counted and skipped; only a message past this hard cap makes gRPC end the stream.
_GRPC_HARD_CAP_FACTOR = 4


class ReceiverStartError(OSError):
    """The receiver cannot listen on its endpoint; the message names the receiver and address."""


@dataclass(frozen=True, slots=True)
class _Refusal:
    """Why a stream is not admitted: the gRPC status it gets and the `reason` label it is counted under."""

    code: grpc.StatusCode
    reason: str
    detail: str


def _entries_of(message: Any) -> tuple[Any, str]:
    """The message's repeated entries and their type ("http", "tcp"), counted as received."""
    kind = message.WhichOneof("log_entries")
    if kind == "http_logs":
        entries, entry_type = message.http_logs.log_entry, "http"
    elif kind == "tcp_logs":
        entries, entry_type = message.tcp_logs.log_entry, "tcp"
    else:
        return (), ""
    SELF.add("als_bridge_entries_received_total", len(entries), type=entry_type)
    return entries, entry_type


def _wire_sizes(raw: bytes, entry_type: str, count: int) -> list[int] | None:
    """The entries' encoded sizes from the wire (a fraction of the cost of `ByteSize()` each),
    or None when they cannot be matched one to one with the `count` entries upb parsed."""
    sizes = encoded_entry_sizes(raw, entry_type)
    return sizes if sizes is not None and len(sizes) == count else None


@dataclass(slots=True)
class _Decoded:
    views: list[EntryView]
    unreadable: int = 0
    truncated: int = 0  # strings cut to max_value_length


def _decode_entries(
    entries: Any, entry_type: str, max_value_length: int, sizes: Sequence[int] | None = None
) -> _Decoded:
    """Views of `entries`, their long strings cut to `max_value_length` (0: none are cut).

    Only an entry whose encoded size exceeds the limit can hold a string over it, so the field
    walk of `truncate_long_values` is skipped for the usual small entry. The sizes come from
    `sizes` (read off the wire, one per entry) or, without them, from upb's `ByteSize()`.
    """
    decode = from_http if entry_type == "http" else from_tcp
    out = _Decoded([])
    for i, entry in enumerate(entries):
        try:
            view = decode(entry)
        except (ValueError, IndexError) as err:
            out.unreadable += 1
            _warn.warning(
                f"bad-{entry_type}-entry", "skipping a %s entry that could not be read: %s", entry_type, err
            )
            continue
        if max_value_length and (entry.ByteSize() if sizes is None else sizes[i]) > max_value_length:
            out.truncated += truncate_long_values(view, max_value_length)
        out.views.append(view)
    return out


class EnvoyALSReceiver:
    def __init__(
        self,
        name: str,
        config: EnvoyALSReceiverConfig,
        converter: EntryConverter,
        admission: Admission | None = None,
        reuse_port: bool = False,
    ) -> None:
        self.name = name
        self._config = config
        self._converter = converter
        self._reuse_port = reuse_port  # several worker processes share the port
        # what the pipelines after this receiver can take; exporters with `on_full: block` pause
        # the reading, full ones with `on_full: drop` (or a memory limit) spare the work
        self._admission = admission
        self._blocking = admission.blocking if admission is not None else []
        self._server: grpc.aio.Server | None = None
        self._allowed = SpiffeAllowList(config.allowed_spiffe_ids) if config.allowed_spiffe_ids else None
        self._open_streams = 0  # touched only on the server's event loop
        self.port = 0

    def _handlers(self) -> grpc.GenericRpcHandler:
        method = grpc.stream_unary_rpc_method_handler(
            self._stream,
            request_deserializer=None,  # raw bytes: we decode, so a bad message can't end the stream
            response_serializer=_protos.StreamAccessLogsResponse.SerializeToString,
        )
        return grpc.method_handlers_generic_handler(_protos.SERVICE_NAME, {_protos.METHOD_NAME: method})

    async def start(self) -> None:
        tls = self._config.tls
        credentials = server_credentials(tls, self.name) if tls.enabled else None
        self._server = grpc.aio.server(options=self._server_options())
        self._server.add_generic_rpc_handlers((self._handlers(),))
        endpoint = self._config.endpoint
        try:
            if credentials is None:
                self.port = self._server.add_insecure_port(endpoint)
            else:
                self.port = self._server.add_secure_port(endpoint, credentials)
        except RuntimeError:  # grpc's "Failed to bind": the address is in use or not ours
            self.port = 0
        if self.port == 0:
            raise ReceiverStartError(
                f"receivers.{self.name}: cannot listen on {endpoint} (in use, or not an address here)"
            )
        await self._server.start()
        security = "plaintext"
        if tls.enabled:
            security = "mutual TLS" if tls.client_ca_file else "TLS"
        log.info("receiver %s listening on %s (port %d, %s)", self.name, endpoint, self.port, security)

    def _server_options(self) -> list[tuple[str, int]]:
        cap = max(self._config.max_recv_msg_size * _GRPC_HARD_CAP_FACTOR, 4 * 1024 * 1024)
        options = [
            ("grpc.max_receive_message_length", cap),
            ("grpc.so_reuseport", int(self._reuse_port)),
            # No window growth by bandwidth-delay probing: on a fast link gRPC grows each
            # stream's HTTP/2 window to megabytes, so a saturated bridge with a few dozen Envoy
            # streams held hundreds of MB of unread messages (bench/memory.py: 384 -> 199 MiB
            # peak, same entries/s). The default windows keep Envoy sending at full speed while
            # the bridge keeps up, and flow control slows it when the bridge cannot.
            ("grpc.http2.bdp_probe", 0),
        ]
        if self._config.max_concurrent_streams:
            # Per connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: the client queues the rest);
            # the cap over all connections is kept in `_admit`.
            options.append(("grpc.max_concurrent_streams", self._config.max_concurrent_streams))
        if self._config.max_connection_age:
            # gRPC jitters the age by +/-10 %, so replicas started together do not recycle together.
            options.append(("grpc.max_connection_age_ms", round(self._config.max_connection_age * 1000)))
            options.append(
                ("grpc.max_connection_age_grace_ms", round(self._config.max_connection_age_grace * 1000))
            )
        return options

    async def stop(self, grace: float) -> None:
        """Stop accepting streams, and give open streams `grace` seconds to end."""
        if self._server is not None:
            await self._server.stop(grace)

    async def _stream(self, requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext) -> Any:
        refusal = self._admit(context)
        if refusal is not None:
            await self._refuse(context, refusal)
        stream = StreamState(peer=context.peer())
        rate = self._config.max_entries_per_second_per_stream
        bucket = TokenBucket(rate) if rate else None
        self._open_streams += 1
        SELF.add("als_bridge_streams_open", 1)
        SELF.add("als_bridge_streams_total", 1)
        try:
            async for raw in requests:
                if self._blocking:
                    # Read, but not handed on until every blocking queue has room: nothing read is
                    # dropped, each stream holds at most one message (<= max_recv_msg_size), and
                    # while it waits it reads no more, so HTTP/2 flow control slows this Envoy.
                    await wait_for_room(self._blocking)
                self._on_message(stream, raw, bucket)
        finally:
            self._open_streams -= 1
            SELF.add("als_bridge_streams_open", -1)
        return _protos.StreamAccessLogsResponse()

    def _admit(self, context: grpc.aio.ServicerContext) -> _Refusal | None:
        """Why this new stream is refused, or None. The identity check comes first, so a client that
        is not allowed learns nothing about the bridge's load."""
        if self._allowed is not None:
            spiffe_id = peer_spiffe_id(context)
            if not self._allowed.allows(spiffe_id):
                shown = spiffe_id or "no SPIFFE id (the certificate needs exactly one spiffe:// URI SAN)"
                return _Refusal(
                    grpc.StatusCode.PERMISSION_DENIED, "spiffe_id", f"client {shown} is not allowed"
                )
        cap = self._config.max_concurrent_streams
        if cap and self._open_streams >= cap:
            return _Refusal(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "max_concurrent_streams",
                f"{self._open_streams} streams are open, the limit is max_concurrent_streams {cap}",
            )
        return None

    async def _refuse(self, context: grpc.aio.ServicerContext, refusal: _Refusal) -> NoReturn:
        """Count, log (rate-limited) and end the stream with the refusal's status, unread."""
        SELF.add("als_bridge_streams_refused_total", reason=refusal.reason)
        _warn.warning(
            f"refused-{refusal.reason}",
            "receiver %s refused a stream from %s: %s",
            self.name,
            context.peer(),
            refusal.detail,
        )
        await context.abort(refusal.code, refusal.detail)
        raise AssertionError("grpc.aio's abort() ends the call by raising")  # for the type checker

    def _warn_once(self, stream: StreamState, key: str, msg: str, *args: object) -> None:
        if key not in stream.warned:
            stream.warned.add(key)
            log.warning(msg, *args)

    def _on_message(self, stream: StreamState, raw: bytes, bucket: TokenBucket | None) -> None:
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
        entries, entry_type = _entries_of(message)
        if not entries:
            return
        if stream.local is None:
            SELF.add("als_bridge_entries_dropped_total", len(entries), reason="no_identifier")
            self._warn_once(
                stream,
                "no-identifier",
                "stream from %s sent entries before any identifier; they are dropped "
                "(Envoy always sends one first: is this an Envoy?)",
                stream.peer,
            )
            return
        closed: dict[str, str] = {}
        if self._admission is not None:
            closed = self._admission.closed_signals()
            refusal = self._admission.message_refusal(closed)
            if refusal is not None:  # no pipeline can take any of it: not even decoded
                signals = dict.fromkeys(self._converter.signals, refusal)
                if self._admission.metrics:  # only a memory limit stops the metrics
                    signals["metrics"] = refusal
                self._shed(entries, refusal, signals)
                return
        # A message no longer than the limit cannot hold a string over it.
        limit = self._config.max_value_length if len(raw) > self._config.max_value_length else 0
        sizes = _wire_sizes(raw, entry_type, len(entries)) if limit else None
        if bucket is not None:
            entries = self._rate_limit(stream, entries, bucket)  # the first ones: `sizes` still lines up
        decoded = _decode_entries(entries, entry_type, limit, sizes)
        if decoded.unreadable:
            SELF.add("als_bridge_entries_dropped_total", decoded.unreadable, reason="unreadable_entry")
        if decoded.truncated:
            self._on_truncated(stream, decoded.truncated)
        if not decoded.views:
            return
        if closed:
            self._shed(decoded.views, "", closed)
        errors = self._converter.convert(stream, decoded.views, "traces" not in closed, "logs" not in closed)
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

    def _shed(self, entries: Sequence[Any], why: str, signals: dict[str, str]) -> None:
        """Counts `entries` as dropped for each signal whose items will not be built, and says why."""
        for signal, reason in signals.items():
            SELF.add("als_bridge_entries_dropped_total", len(entries), reason=reason, signal=signal)
        _warn.warning(
            f"shed-{why or 'items'}",
            "receiver %s: %s; entries are counted as dropped (%s)",
            self.name,
            "no pipeline can take more, messages are not decoded"
            if why
            else "some pipelines cannot take more, their items are not built",
            ", ".join(f"{signal}: {reason}" for signal, reason in signals.items()),
        )

    def _rate_limit(self, stream: StreamState, entries: Any, bucket: TokenBucket) -> Any:
        """The entries the stream's bucket admits now (the first ones); the rest are counted as dropped."""
        allowed = bucket.take(len(entries))
        if allowed == len(entries):
            return entries
        SELF.add("als_bridge_entries_dropped_total", len(entries) - allowed, reason="rate_limited")
        _warn.warning(
            "rate-limited",
            "stream from %s (%s) sends over max_entries_per_second_per_stream %d; excess entries are dropped",
            stream.peer,
            stream.node_id,
            self._config.max_entries_per_second_per_stream,
        )
        return entries[:allowed]

    def _on_truncated(self, stream: StreamState, cut: int) -> None:
        SELF.add("als_bridge_values_truncated_total", cut)
        _warn.warning(
            "truncated",
            "stream from %s (%s): cut %d values longer than max_value_length %d",
            stream.peer,
            stream.node_id,
            cut,
            self._config.max_value_length,
        )

    def _on_identifier(self, stream: StreamState, identifier: Any) -> None:
        stream.local = workload_from_node(identifier.node)
        stream.log_name = identifier.log_name
        stream.node_id = identifier.node.id
        log.debug("stream from %s identified as %s (%s)", stream.peer, stream.node_id, stream.log_name)
