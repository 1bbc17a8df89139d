"""The fuzz targets: one function per decoding entry point, each drawing its input and checking
what the code promises for *any* input.

* The receiver's per-message path never raises, and accounts for every message and entry:
  a message is either decoded or counted as malformed / oversized, and every entry it carried
  is either converted (it reaches the logs consumer) or counted as dropped.
* Peer-metadata decoders return a result or raise `PeerMetadataError`, never anything else;
  `IdentityResolver.resolve` and `workload_from_node` never raise at all.

Shared by `tests/fuzz/test_*.py` (hypothesis, small counts for CI) and `bench/fuzz.py` (long runs,
plain random loop or atheris), so the long run checks exactly what CI checks.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from bridge.identity import IdentityResolver, PeerMetadataError, Workload, workload_from_node
from bridge.identity.flatnode import decode_flatnode, workload_from_flatnode
from bridge.identity.headers import decode_base64, workload_from_header, workload_from_string_state
from bridge.identity.peer_struct import parse_struct, workload_from_struct_bytes
from bridge.identity.resource import peer_span_attributes, resource_attributes
from bridge.identity.wrappers import unwrap
from bridge.metrics.config import MetricsConfig
from bridge.metrics.recorder import MetricsRecorder
from bridge.pipeline.consumer import FanOut, Item
from bridge.pipeline.convert import EntryConverter, StreamState
from bridge.receivers.envoy_als import _protos
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig, PeerMatch, StaticPeer
from bridge.receivers.envoy_als.limits import TokenBucket
from bridge.receivers.envoy_als.receiver import EnvoyALSReceiver
from bridge.telemetry import SELF
from tests.fuzz import inputs
from tests.fuzz.draw import Draw

MAX_RECV_MSG_SIZE = 8 * 1024  # small, so mutated seeds (duplicated chunks) cross it now and then
MAX_VALUE_LENGTH = 64  # small, so the truncation path runs
RATE = 8  # entries per stream before the (frozen-clock) bucket runs dry

STATIC_PEERS = [
    StaticPeer(PeerMatch(cidr="10.20.0.0/16"), service="legacy-vm", instance="vm-1"),
    StaticPeer(PeerMatch(ip="192.168.1.1"), service="db", namespace="data"),
    StaticPeer(PeerMatch(cluster="outbound|5432||10.0.0.9"), service="pg"),
    StaticPeer(PeerMatch(authority="api.stripe.com"), service="stripe"),
]
LOCAL = Workload(service="productpage", namespace="default")


class KnownBug(Exception):
    """A failure already reported to the lead, with a strict-xfail regression test in
    `tests/fuzz/test_regressions.py`. Fuzz runs book it apart so it does not hide new bugs."""


# (exception type, file suffix of the innermost frame, text in that line) -> bug name. Empty:
# the one bug found so far (KeyError on an unknown tls_version in decode/entry.py) is fixed.
KNOWN_BUGS: tuple[tuple[type[BaseException], str, str, str], ...] = ()


def _known_bug(err: BaseException) -> str:
    """The name of the known (reported, unfixed) bug `err` is, or ""."""
    frames = traceback.extract_tb(err.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    for kind, file_suffix, text, name in KNOWN_BUGS:
        if isinstance(err, kind) and last.filename.endswith(file_suffix) and text in (last.line or ""):
            return name
    return ""


class CountingConsumer:
    """A pipeline end that counts the items it is given (spans or log records)."""

    def __init__(self) -> None:
        self.items = 0

    def consume(self, items: list[Item]) -> None:
        self.items += len(items)

    def flush(self) -> None:
        """Nothing is held."""

    def shutdown(self) -> None:
        """Nothing to release."""


@dataclass
class Counters:
    """The receiver's accounting counters, read from `SELF` before and after one message."""

    received: float = 0
    dropped: float = 0
    malformed: float = 0
    oversized: float = 0

    @classmethod
    def read(cls) -> Counters:
        return cls(
            SELF.get("als_bridge_entries_received_total"),
            SELF.get("als_bridge_entries_dropped_total"),
            SELF.get("als_bridge_decode_errors_total", kind="malformed_message"),
            SELF.get("als_bridge_decode_errors_total", kind="oversized_message"),
        )


@dataclass
class ReceiverHarness:
    """An `EnvoyALSReceiver` that is never started: its per-message method is the seam under test.

    The converter feeds counting consumers and a metrics recorder, so everything after decoding
    (identity, spans, logs, metric families) runs too; one log record per converted entry is
    what makes the accounting exact.
    """

    spans: CountingConsumer = field(default_factory=CountingConsumer)
    logs: CountingConsumer = field(default_factory=CountingConsumer)
    receiver: EnvoyALSReceiver = field(init=False)

    def __post_init__(self) -> None:
        config = EnvoyALSReceiverConfig(
            endpoint="127.0.0.1:0", max_recv_msg_size=MAX_RECV_MSG_SIZE, max_value_length=MAX_VALUE_LENGTH
        )
        converter = EntryConverter(
            IdentityResolver(STATIC_PEERS),
            "both",
            traces=FanOut([self.spans]),
            logs=FanOut([self.logs]),
            metrics=MetricsRecorder(MetricsConfig(), "both", instance_id="fuzz"),
        )
        self.receiver = EnvoyALSReceiver("envoy_als", config, converter)

    def feed(self, raws: list[bytes], rate_limited: bool) -> None:
        """Send `raws` down one new stream, checking the accounting after each message."""
        stream = StreamState(peer="ipv4:127.0.0.1:1")
        bucket = TokenBucket(RATE, clock=lambda: 0.0) if rate_limited else None
        for raw in raws:
            self._one(stream, raw, bucket)

    def _one(self, stream: StreamState, raw: bytes, bucket: TokenBucket | None) -> None:
        before, logs_before = Counters.read(), self.logs.items
        try:
            self.receiver._on_message(stream, raw, bucket)
        except Exception as err:
            name = _known_bug(err)
            if name:
                raise KnownBug(name) from err
            raise
        after = Counters.read()
        expected = _expected_entries(raw)
        if expected is None:  # not decodable: counted as exactly one bad message, no entries
            bad = (after.malformed - before.malformed) + (after.oversized - before.oversized)
            assert bad == 1, f"a bad message counted {bad} times"
            assert after.received == before.received
            return
        received = after.received - before.received
        assert received == expected, f"{expected} entries sent, {received} counted as received"
        converted = self.logs.items - logs_before
        dropped = after.dropped - before.dropped
        assert converted + dropped == received, (
            f"{received} received, {converted} converted, {dropped} dropped"
        )


def _expected_entries(raw: bytes) -> int | None:
    """How many entries the receiver should count for `raw`; None if it must reject the message."""
    if len(raw) > MAX_RECV_MSG_SIZE:
        return None
    try:
        message = _protos.StreamAccessLogsMessage.FromString(raw)
    except DecodeError:
        return None
    kind = message.WhichOneof("log_entries")
    if kind is None:
        return 0
    return len(getattr(message, kind).log_entry)


# -- targets ----------------------------------------------------------------------------------

_HARNESS: ReceiverHarness | None = None


def harness() -> ReceiverHarness:
    """One receiver for the process: its identity cache and metric store fill as a real one's do."""
    global _HARNESS
    if _HARNESS is None:
        _HARNESS = ReceiverHarness()
    return _HARNESS


def als_messages(draw: Draw) -> None:
    """(a) One stream of one to three messages: generated, seeded, mutated or noise."""
    raws = [inputs.als_message(draw) for _ in range(draw.integer(1, 3))]
    harness().feed(raws, rate_limited=draw.boolean())


def _decodes_or_peer_error(decode: Callable[[], object]) -> None:
    with contextlib.suppress(PeerMetadataError):
        decode()


def flatnode(draw: Draw) -> None:
    """(b) The FlatNode reader, and the Workload built from what it read."""
    data = inputs.seed_or_noise(draw, inputs.metadata_seeds(), max_noise=512)
    _decodes_or_peer_error(lambda: decode_flatnode(data))
    _decodes_or_peer_error(lambda: workload_from_flatnode(data, draw.text(40)))


def struct_bytes(draw: Draw) -> None:
    """(b) Serialized Struct bytes (either key style) -> Workload."""
    data = inputs.struct_bytes(draw)
    _decodes_or_peer_error(lambda: parse_struct(data))
    _decodes_or_peer_error(lambda: workload_from_struct_bytes(data, node_id=draw.text(40)))


def headers(draw: Draw) -> None:
    """(b) The base64 header decoder, and filter-state wrappers around the same text."""
    choice = draw.integer(0, 2)
    if choice == 0:
        text = draw.text(200, surrogates=True)
    else:
        text = inputs.seed_or_noise(draw, inputs.metadata_seeds()).decode("latin-1")
    _decodes_or_peer_error(lambda: decode_base64(text))
    _decodes_or_peer_error(lambda: workload_from_header(text, draw.text(40)))
    value = inputs.filter_state_value(draw)
    _decodes_or_peer_error(lambda: unwrap(value.type_url, value.value))
    _decodes_or_peer_error(lambda: workload_from_string_state(value.type_url, value.value))


_RESOLVER: IdentityResolver | None = None


def resolve(draw: Draw) -> None:
    """(b) The resolver over arbitrary filter state, headers, clusters and addresses: never raises."""
    global _RESOLVER
    if _RESOLVER is None:
        _RESOLVER = IdentityResolver(STATIC_PEERS)
    view = inputs.entry_view(draw)
    ends = _RESOLVER.resolve(view, LOCAL)
    assert isinstance(ends.peer, Workload) and isinstance(ends.peer_error, str)
    peer_span_attributes(ends.peer)


def node(draw: Draw) -> None:
    """(c) The reporting proxy's identity from a Node with arbitrary metadata: never raises."""
    workload = workload_from_node(inputs.node(draw))
    assert isinstance(workload, Workload)
    resource_attributes(workload)
    peer_span_attributes(workload)


TARGETS: dict[str, Callable[[Draw], None]] = {
    "als_messages": als_messages,
    "flatnode": flatnode,
    "struct_bytes": struct_bytes,
    "headers": headers,
    "resolve": resolve,
    "node": node,
}
