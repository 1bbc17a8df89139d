"""A load generator that behaves like a fleet of Envoy sidecars talking ALS to one bridge.

Each simulated Envoy worker holds one client-streaming `StreamAccessLogs` call (grpc.aio): the
first message names the node (an Istio node id and metadata, one of many workloads), then
every `interval` seconds a batch of HTTP, gRPC and TCP entries whose filter state carries the
peer's metadata-exchange data in the forms Istio uses (1.24+ Struct, FlatNode, header base64).

Why streams end and reopen (`messages_per_stream`): the only acknowledgement ALS has is the
response at the end of a stream; a real Envoy never ends its stream, but a load test that must
say "every acknowledged entry arrived" needs acknowledgements during the run. Entries are counted
acknowledged only when their stream's final OK response arrived.

Bounded by construction: every run stops at `duration` seconds or `max_entries` entries, and
every call has a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc

from bridge.decode import FilterStateValue
from bridge.receivers.envoy_als import _protos
from tests.fixtures.als import http_entry
from tests.fixtures.metadata import (
    any_bytes_flatnode,
    any_string,
    any_struct,
    istio_node,
    lower_struct,
    peer_header_value,
    reviews_flatnode,
    upper_struct,
)

_METHOD = f"/{_protos.SERVICE_NAME}/{_protos.METHOD_NAME}"
_NAMESPACES = ("default", "shop", "payments", "search", "auth")


@dataclass(frozen=True)
class LoadSpec:
    """What to send. `duration` and `max_entries` both bound the run (0: that bound is off,
    but at least one must be set)."""

    target: str  # host:port of the bridge's ALS receiver
    streams: int = 300  # concurrent streams (Envoy workers)
    duration: float = 30.0
    max_entries: int = 0
    batch: int = 5  # entries per message
    interval: float = 1.0  # seconds between a stream's messages (Envoy's buffer_flush_interval)
    messages_per_stream: int = 5  # then the stream ends (acknowledged) and a new one opens
    workloads: int = 60  # distinct workloads (nodes and peers)
    streams_per_channel: int = 2  # Envoy workers share their sidecar's connection
    call_timeout: float = 60.0
    tag: str = "lg"  # request-id prefix, so two runs' entries are told apart


@dataclass
class LoadResult:
    entries_sent: int = 0
    entries_acked: int = 0
    messages_sent: int = 0
    streams_opened: int = 0
    streams_acked: int = 0
    seconds: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)  # gRPC status name -> streams that ended so
    acked_request_ids: set[str] = field(default_factory=set)
    sent_request_ids: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Workload:
    node: Any
    peer_states: tuple[dict[str, FilterStateValue], ...]  # one per metadata form


def _workload(i: int) -> _Workload:
    """Workload `i`: a node of its own, and its identity in the three mx forms a peer sees."""
    ns = _NAMESPACES[i % len(_NAMESPACES)]
    name = f"svc{i}"
    pod = f"{name}-v1-5d8f9c7b6-{i:05d}"
    labels = {"app": name, "version": "v1", "service.istio.io/canonical-name": name}
    owner = f"kubernetes://apis/apps/v1/namespaces/{ns}/deployments/{name}-v1"
    upper = upper_struct(NAME=pod, NAMESPACE=ns, LABELS=labels, OWNER=owner, WORKLOAD_NAME=f"{name}-v1")
    lower = lower_struct(workload=f"{name}-v1", name=pod, namespace=ns, service=name, app=name)
    flat = reviews_flatnode(name=pod, namespace=ns, labels=labels, workload_name=f"{name}-v1", owner=owner)
    node = istio_node(f"sidecar~10.{i // 250}.{i % 250}.7~{pod}.{ns}~{ns}.svc.cluster.local", upper)
    return _Workload(
        node=node,
        peer_states=(
            {"downstream_peer": any_struct(lower)},
            {"wasm.upstream_peer": any_bytes_flatnode(flat)},
            {"upstream_peer": any_string(peer_header_value(upper))},
        ),
    )


def _tcp_entry(request_id: str, state: dict[str, FilterStateValue]) -> Any:
    entry = _protos.TCPAccessLogEntry()
    common = entry.common_properties
    common.start_time.seconds = int(time.time())
    common.duration.nanos = 3_000_000
    common.upstream_cluster = "outbound|5432||db.data.svc.cluster.local"
    common.upstream_remote_address.socket_address.address = "10.9.0.9"
    for key, value in state.items():
        common.filter_state_objects[key].type_url = value.type_url
        common.filter_state_objects[key].value = value.value
    # TCP entries have no request id; the route name (a span attribute too) carries it instead.
    common.route_name = request_id
    entry.connection_properties.received_bytes = 512
    return entry


class _Stream:
    """One simulated Envoy worker: opens streams one after another until the run is over."""

    def __init__(self, index: int, spec: LoadSpec, run: _Run, channel: grpc.aio.Channel) -> None:
        self.index = index
        self.spec = spec
        self.run = run
        self.channel = channel
        self.workload = run.workloads[index % len(run.workloads)]
        self.kind = ("http", "grpc", "tcp")[index % 3]  # each logger logs one entry type

    def _batch(self, seq: itertools.count[int], ids: list[str]) -> bytes:
        msg = _protos.StreamAccessLogsMessage()
        for _ in range(self.spec.batch):
            rid = f"{self.spec.tag}-{self.index}-{next(seq)}"
            ids.append(rid)
            peer = self.run.workloads[(self.index * 7 + len(ids)) % len(self.run.workloads)]
            state = peer.peer_states[len(ids) % len(peer.peer_states)]
            if self.kind == "tcp":
                msg.tcp_logs.log_entry.append(_tcp_entry(rid, state))
                continue
            entry = http_entry(request_id=rid, filter_state=state, start_s=int(time.time()))
            if self.kind == "grpc":
                entry.request.path = "/shop.Cart/AddItem"
                entry.request.request_method = 3  # POST
                entry.response.response_headers["content-type"] = "application/grpc"
                entry.response.response_trailers["grpc-status"] = "0"
            msg.http_logs.log_entry.append(entry)
        return bytes(msg.SerializeToString())

    async def _messages(self, ids: list[str], seq: itertools.count[int]) -> AsyncIterator[bytes]:
        first = _protos.StreamAccessLogsMessage()
        first.identifier.node.CopyFrom(self.workload.node)
        first.identifier.log_name = f"{self.kind}_envoy_accesslog"
        for n in range(self.spec.messages_per_stream):
            if not self.run.take(self.spec.batch):
                return
            raw = self._batch(seq, ids)
            if n == 0:
                raw = first.SerializeToString() + raw  # concatenated messages merge: one message
            self.run.result.messages_sent += 1
            self.run.result.entries_sent += self.spec.batch
            self.run.result.sent_request_ids.update(ids[-self.spec.batch :])
            yield raw
            if n + 1 < self.spec.messages_per_stream:
                await self.run.sleep(self.spec.interval)

    async def loop(self) -> None:
        seq = itertools.count()
        # Spread stream openings over one interval, as Envoy workers start at different times.
        await self.run.sleep(self.spec.interval * (self.index % 50) / 50)
        while not self.run.over():
            ids: list[str] = []
            self.run.result.streams_opened += 1
            call = self.channel.stream_unary(_METHOD, request_serializer=None, response_deserializer=None)
            try:
                await call(self._messages(ids, seq), timeout=self.spec.call_timeout)
            except grpc.aio.AioRpcError as err:
                self.run.result.errors[err.code().name] += 1
                return  # the bridge went away (or refused us): this worker stops
            self.run.result.streams_acked += 1
            self.run.result.entries_acked += len(ids)
            self.run.result.acked_request_ids.update(ids)


class _Run:
    """Shared budget and clock of one load run (all on one event loop: no locks needed)."""

    def __init__(self, spec: LoadSpec) -> None:
        if not spec.duration and not spec.max_entries:
            raise ValueError("a load run needs a duration or an entry count")
        self.spec = spec
        self.result = LoadResult()
        self.workloads = [_workload(i) for i in range(spec.workloads)]
        self.started = time.monotonic()
        self.stopping = asyncio.Event()

    def over(self) -> bool:
        spec = self.spec
        timed_out = bool(spec.duration) and time.monotonic() - self.started >= spec.duration
        full = bool(spec.max_entries) and self.result.entries_sent >= spec.max_entries
        return timed_out or full or self.stopping.is_set()

    def take(self, n: int) -> bool:
        """Whether `n` more entries fit in the run's budget."""
        if self.over():
            return False
        return not self.spec.max_entries or self.result.entries_sent + n <= self.spec.max_entries

    async def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the run is stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)


async def run_load(spec: LoadSpec, stop: asyncio.Event | None = None) -> LoadResult:
    """Run the load described by `spec`; `stop` ends it early (streams end at their next message)."""
    run = _Run(spec)
    if stop is not None:
        run.stopping = stop
    channels = [
        grpc.aio.insecure_channel(spec.target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range((spec.streams + spec.streams_per_channel - 1) // spec.streams_per_channel)
    ]
    workers = [_Stream(i, spec, run, channels[i // spec.streams_per_channel]) for i in range(spec.streams)]
    try:
        await asyncio.gather(*(w.loop() for w in workers))
    finally:
        for channel in channels:
            await channel.close()
    run.result.seconds = round(time.monotonic() - run.started, 2)
    return run.result


def run_load_sync(spec: LoadSpec) -> LoadResult:
    """`run_load` on a fresh event loop (tests and scripts that are not async)."""
    return asyncio.run(run_load(spec))
