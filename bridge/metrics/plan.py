"""Per-entry metric recording as a replay: the families' points, found once per entry key.

Why: the families' labels depend on a handful of entry fields that repeat (the same two
workloads, status, route ...), yet running their label logic and finding every series costs
tens of microseconds per entry. An entry's `entry_key` holds every input of that logic; its
`Plan` keeps the points the families gave for the key, with their series states bound. A
repeat then costs the key, one dict probe, and the additions of its own values.

Invariants kept, so the output equals the families' own `record` path point for point:
* Series are bound on a plan's first use in each store generation by the reference path
  itself (`record_points`), in the families' order, so series are created (and capped) in
  exactly the order the reference path creates them.
* A plan with a point in an overflow series is never bound: every entry of it takes the
  reference path, which counts each folded point (`als_bridge_metric_overflow_total`).
* A delta collection bumps `MetricStore.generation`; a plan bound in an older generation binds
  again (its points are kept: the labels do not change, only the states start over).
* The cache is bounded (cleared when full), and a plan keeps its two workloads alive, so an
  `id()` in a key is never reused while the key is held; the objects are compared with `is`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

from bridge.cache import BoundedCache
from bridge.decode import EntryView
from bridge.identity import Direction, Ends, Workload
from bridge.metrics.families.base import MetricFamily
from bridge.metrics.points import Point, Spans, Value, entry_values, record_points
from bridge.metrics.store import (
    CounterState,
    HistogramState,
    MetricStore,
    SeriesState,
    observe_each,
    offer_exemplar,
)
from bridge.spans import Reporters, SpanSet
from bridge.spans.data import SPAN_KIND_CLIENT, STATUS_ERROR, SpanData

PLAN_LIMIT = 10_000  # ~1.5 KiB each (points and bound states; the series are the store's)
# Points whose series get exemplars: the request counts and the durations (not the sizes).
_EXEMPLAR_VALUES = frozenset({Value.ONE, Value.DURATION_MS, Value.DURATION_S, Value.SPAN_SECONDS})
_ERROR_RANK = 1e9  # an error outranks any duration (seconds)
_INBOUND = Direction.INBOUND

# (view, CLIENT span, synthesized) -> the span's (server.address, server.port); the semconv
# family's cached reader (None when that family is off: then nothing reads them).
AddressOf = Callable[[EntryView, SpanData, bool], tuple[str, str]]


def entry_key(
    view: EntryView, ends: Ends, span_set: SpanSet, address_of: AddressOf | None
) -> tuple[object, ...] | None:
    """Everything the families' `points` read, as one tuple; None when the entry has a span on a
    workload other than its two ends (never built so; such an entry takes the reference path).

    | key part                                  | read by                                       |
    |-------------------------------------------|-----------------------------------------------|
    | `id(local)`, `id(peer)`, `id(caller)`     | every label taken from a workload; mx checks  |
    |   (checked by `is`)                       |   (caller: a waypoint's source)               |
    | direction                                 | reporter, which side is client, what records  |
    | is_tcp, response_flags, response_code     | istio, servicegraph `failed`, semconv code    |
    | `SpanSet.grpc` (gRPC?, status, method)    | protocol, gRPC status (istio, sg, semconv),   |
    |                                           |   semconv `rpc.method`                        |
    | method, scheme, protocol_version          | semconv HTTP attributes                       |
    | authority, upstream_cluster, route_name   | istio `destination_service*`                  |
    | tls_peer_uri_san, tls_local_uri_san       | istio principals and security policy          |
    | per span: end (local/peer), kind, name,   | spanmetrics labels, semconv instrument,       |
    |   status, own or synthesized, error.type, |   `error.type`, `server.address/port`,        |
    |   server address (HTTP CLIENT spans)      |   servicegraph `failed`                       |

    The HTTP path (high cardinality) is not in the key: no label reads it except gRPC's method,
    which is in `SpanSet.grpc`.
    `error.type` is read only from ERROR spans, the server address through semconv's cache
    (keyed by the inputs it is built from), so span attributes are not scanned per entry. Some
    parts are implied by others as the span builder works today (a span's name and status by
    the method, path and codes; error.type by the status inputs); they stay in the key so that
    a change in the builder cannot make two entries with different labels share a plan.
    `tests/metrics/test_plan.py` changes every `EntryView` field alone and checks that the
    points change only when the key does.
    """
    local, peer, own = ends.local, ends.peer, span_set.own
    grpc = span_set.grpc
    addresses = None if grpc[0] or view.is_tcp else address_of  # only HTTP CLIENT spans have them
    spans: list[object] = []
    for workload, span in span_set.spans:
        if workload is local:
            end = 0
        elif workload is peer:
            end = 1
        else:
            return None
        status = span.status_code
        error = span.attribute("error.type") if status == STATUS_ERROR else None
        kind = span.kind
        synthesized = span is not own
        address = None
        if addresses is not None and kind == SPAN_KIND_CLIENT:
            address = addresses(view, span, synthesized)
        spans += (end, kind, span.name, status, synthesized, error, address)
    return (
        id(local),
        id(peer),
        id(ends.caller),  # None except on a waypoint's entry
        ends.direction is _INBOUND,  # a bool: hashing an Enum runs Python code
        view.is_tcp,
        view.response_flags,
        view.response_code,
        grpc,
        view.method,
        view.scheme,
        view.protocol_version,
        view.authority,
        view.upstream_cluster,
        view.route_name,
        view.tls_peer_uri_san,
        view.tls_local_uri_san,
        *spans,
    )


class Plan:
    """The points of one entry key, and their series states while the store generation lasts."""

    __slots__ = (
        "caller",
        "counters",
        "epoch",
        "floor",
        "generation",
        "histograms",
        "local",
        "ones",
        "peer",
        "points",
        "targets",
    )

    def __init__(
        self, local: Workload, peer: Workload, points: list[Point], caller: Workload | None = None
    ) -> None:
        self.local = local  # held so that the ids in the key stay theirs
        self.peer = peer
        self.caller = caller
        self.points = points
        self.generation = -1  # not bound
        self.ones: tuple[CounterState, ...] = ()  # counters that add 1: no value to look up
        # (slot in entry_values, state) of the other points
        self.counters: tuple[tuple[int, CounterState], ...] = ()
        self.histograms: tuple[tuple[int, HistogramState], ...] = ()
        # (state, slot in entry_values, index of the span it describes, is a count) per point
        # whose series takes exemplars
        self.targets: tuple[tuple[SeriesState, int, int, bool], ...] = ()
        # A rank no candidate of this plan can beat in exemplar interval `epoch`: every target
        # series is full with better ones (a lower bound, as other plans only raise it).
        self.floor = -1.0
        self.epoch = -1

    def bind(self, states: Sequence[SeriesState], generation: int) -> None:
        """Keep the states (those of the points, in order) until the generation changes."""
        ones: list[CounterState] = []
        counters: list[tuple[int, CounterState]] = []
        histograms: list[tuple[int, HistogramState]] = []
        for point, state in zip(self.points, states, strict=True):
            if isinstance(state, HistogramState):
                histograms.append((point.slot, state))
            elif point.value is Value.ONE:
                ones.append(state)
            else:
                counters.append((point.slot, state))
        self.ones, self.counters, self.histograms = tuple(ones), tuple(counters), tuple(histograms)
        self.targets = tuple(
            (
                state,
                point.slot,
                point.span if point.value is Value.SPAN_SECONDS else 0,
                point.value is Value.ONE,
            )
            for point, state in zip(self.points, states, strict=True)
            if point.value in _EXEMPLAR_VALUES
        )
        self.generation = generation

    def add(self, view: EntryView, spans: Spans) -> None:
        """The whole per-entry cost of a bound plan."""
        for cell in self.ones:
            cell.value += 1
        if not self.histograms and not self.counters:
            return
        values = entry_values(view, spans)
        for slot, cell in self.counters:
            cell.value += values[slot]
        observe_each(self.histograms, values)

    def offer(self, view: EntryView, spans: Spans, limit: int, epoch: int) -> None:
        """Offer the entry's kept spans as exemplars to the series it counted and timed: the
        point's own span for span metrics, else the reporting side's span (the first). Ranked
        errors first, then by the span's duration.

        Cheap in the steady state: once every target series holds `limit` exemplars, only an
        entry that outranks the plan's `floor` goes further (a few per interval, not every one)."""
        if not spans or not self.targets:
            return
        # the entry's best rank first, without building anything: its spans share one start and
        # end (the entry's), so they differ only in status
        first = spans[0][1]
        best = (first.end_time_unix_nano - first.start_time_unix_nano) / 1e9
        for _, span in spans:
            if span.status_code == STATUS_ERROR:
                best += _ERROR_RANK
                break
        if best <= self.floor and self.epoch == epoch:
            return
        described = []
        for _, span in spans:
            duration = (span.end_time_unix_nano - span.start_time_unix_nano) / 1e9
            rank = duration + _ERROR_RANK if span.status_code == STATUS_ERROR else duration
            described.append((rank, span.end_time_unix_nano, span.trace_id, span.span_id))
        self.epoch = epoch
        values = entry_values(view, spans)
        for state, slot, index, is_count in self.targets:
            rank, when, trace_id, span_id = described[index]
            offer_exemplar(state, limit, (rank, when, 1 if is_count else values[slot], trace_id, span_id))
        floor = float("inf")
        for state, _, _, _ in self.targets:
            held = state.exemplars  # in rank order: the first is the one to beat
            if held is None or len(held) < limit:
                floor = -1.0
                break
            if held[0][0] < floor:
                floor = held[0][0]
        self.floor = floor


class Plans:
    """The plan cache of one recorder: families' points replayed by entry key."""

    def __init__(
        self,
        store: MetricStore,
        families: Sequence[MetricFamily],
        reporters: Reporters,
        address_of: AddressOf | None,
        limit: int = PLAN_LIMIT,
        exemplars: int = 0,
    ) -> None:
        self._store = store
        self._families = tuple(families)
        self._reporters = reporters
        self._address_of = address_of
        self._plans: BoundedCache[Hashable, Plan] = BoundedCache(limit)
        self._get_plan = self._plans.get  # bound once: this runs for every entry
        self._exemplars = exemplars  # per series per interval; 0: none

    def __len__(self) -> int:
        return len(self._plans)

    def record(self, view: EntryView, ends: Ends, span_set: SpanSet, kept: bool = False) -> None:
        """Record one entry; the caller holds the store's lock. `kept`: its spans are exported,
        so they may be exemplars (an entry that takes the reference path offers none)."""
        key = entry_key(view, ends, span_set, self._address_of)
        if key is None:
            for family in self._families:
                family.record(view, ends, span_set, self._reporters)
            return
        plan = self._get_plan(key)
        if (
            plan is None
            or plan.local is not ends.local
            or plan.peer is not ends.peer
            or plan.caller is not ends.caller
        ):
            plan = self._new_plan(key, view, ends, span_set)
        generation = self._store.generation
        if plan.generation == generation:
            plan.add(view, span_set.spans)
        else:
            states = record_points(plan.points, view, span_set.spans)
            if states is None:
                return
            plan.bind(states, generation)
        if kept and self._exemplars:
            plan.offer(view, span_set.spans, self._exemplars, self._store.exemplar_epoch)

    def _new_plan(self, key: Hashable, view: EntryView, ends: Ends, span_set: SpanSet) -> Plan:
        points: list[Point] = []
        for family in self._families:
            points += family.points(view, ends, span_set, self._reporters)
        plan = Plan(ends.local, ends.peer, points, ends.caller)
        return self._plans.put(key, plan)
