"""Metric instruments aggregated by hand: a dict of label tuples per instrument.

Why not the OTel SDK's instruments: the bridge records several metrics for every access log
entry, for many resources at once; a dict keyed by a tuple of label values costs about a
microsecond, the SDK's instruments tens. The output is plain OTLP, the same either way.

Every instrument has a fixed list of label keys; callers pass the values as a tuple in that
order. Each series also has a resource key (a `Workload`, or None for the bridge's own
resource). A cardinality guard caps the series per instrument: past the cap, new label sets
fold into one overflow series that carries only `otel.metric.overflow=true` (the OTel SDK's
convention), and `als_bridge_metric_overflow_total{metric}` counts the folded points.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Literal

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
)

from bridge.cache import BoundedCache
from bridge.otlp import any_value
from bridge.otlp import metrics as wire
from bridge.telemetry import SELF

Temporality = Literal["cumulative", "delta"]
LabelValues = tuple[str, ...]
ResourceKey = Hashable  # a Workload, or None for the bridge's own resource
EncodedMetric = tuple[bytes, int]  # a serialized Metric and its number of data points
# An Istio histogram point is about 1 KB (two dozen labels, the buckets): a `Metric` of this many
# points is about 1 MB, a quarter of the 4 MiB most OTLP receivers take in one request.
POINTS_PER_METRIC = 1000

SELF.describe(
    "als_bridge_metric_overflow_total", "counter", "Points folded into an overflow series, by metric"
)

OVERFLOW_ATTRIBUTES = (KeyValue(key="otel.metric.overflow", value=any_value(True)),)
_OVERFLOW: LabelValues = ("\x00overflow",)


# An exemplar as held until the next collection: (rank, time, value, trace id, span id). The
# rank orders candidates: errors first, then the slowest (see `bridge.metrics.plan`).
Exemplar = tuple[float, int, float, bytes, bytes]
_rank = itemgetter(0)


class CounterState:
    """One counter series: a mutable cell, so a caller that holds it adds without a lookup.
    `exemplars`: those of kept spans since the last collection (None: none yet)."""

    __slots__ = ("exemplars", "value")

    def __init__(self) -> None:
        self.value: float = 0
        self.exemplars: list[Exemplar] | None = None


class HistogramState:
    """One histogram series; `observe` is the whole per-point cost once the series is held.

    The point count is not kept: it is the sum of the bucket counts, taken at collection, one
    addition fewer per observation."""

    __slots__ = ("bounds", "counts", "exemplars", "max", "min", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.exemplars: list[Exemplar] | None = None
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0
        self.min = float("inf")
        self.max = float("-inf")

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, value: float) -> None:
        observe_each(((0, self),), (value,))


def observe_each(pairs: Iterable[tuple[int, HistogramState]], values: Sequence[float]) -> None:
    """`state.observe(values[slot])` for every (slot, state): the one implementation, shaped for
    the recorder's hot path (a bound plan observes all its histograms in one call)."""
    for slot, state in pairs:
        value = values[slot]
        # bucket i holds bounds[i-1] < v <= bounds[i] (OTLP's explicit bucket rule)
        state.counts[bisect_left(state.bounds, value)] += 1
        state.total += value
        if value < state.min:
            state.min = value
        if value > state.max:
            state.max = value


SeriesState = CounterState | HistogramState


class SeriesBudget:
    """The series of every instrument of one store, against `metrics.max_series_total` (0: no cap).

    Why beside the per-metric cap: a cardinality burst (a mesh-wide rollout, a misbehaving client)
    fills every metric at once; the per-metric cap times the number of metrics is far more memory
    than one total says. Past the total, new label sets fold into each metric's overflow series."""

    __slots__ = ("count", "limit")

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        self.count = 0

    def full(self) -> bool:
        return bool(self.limit) and self.count >= self.limit


def offer_exemplar(state: SeriesState, limit: int, candidate: Exemplar) -> None:
    """Keep `candidate` among the series' `limit` best exemplars of this interval (highest
    rank: errors, then the slowest); a tie keeps the one already held. The list is kept in
    rank order, lowest first, so the one to beat is the first."""
    held = state.exemplars
    if held is None:
        state.exemplars = [candidate]
        return
    if len(held) >= limit:
        if candidate[0] <= held[0][0]:
            return
        del held[0]
    insort(held, candidate, key=_rank)


def _encoded_exemplars(state: SeriesState, tag: bytes) -> bytes:
    """The series' exemplars as data point fields, oldest first; they are handed out once (each
    collection carries those of its own interval)."""
    held = state.exemplars
    if not held:
        return b""
    state.exemplars = None
    as_int = isinstance(state, CounterState)
    return b"".join(
        wire.exemplar(tag, when, value, trace_id, span_id, as_int)
        for _, when, value, trace_id, span_id in sorted(held, key=lambda e: e[1])
    )


def _exemplar_messages(state: SeriesState, exemplars: Any) -> None:
    """The reference path's exemplars (protobuf), in the same order; the state keeps them."""
    for _, when, value, trace_id, span_id in sorted(state.exemplars or (), key=lambda e: e[1]):
        message = exemplars.add(time_unix_nano=when, trace_id=trace_id, span_id=span_id)
        if isinstance(state, CounterState):
            message.as_int = int(value)
        else:
            message.as_double = value


@dataclass
class Instrument:
    """A counter (monotonic sum) or an explicit-bucket histogram."""

    name: str
    description: str
    unit: str
    label_keys: tuple[str, ...]
    kind: Literal["counter", "histogram"]
    bounds: tuple[float, ...] = ()
    max_series: int = 0  # 0: no cap
    budget: SeriesBudget = field(default_factory=SeriesBudget)  # shared by the store's instruments
    _series: dict[tuple[ResourceKey, LabelValues], SeriesState] = field(default_factory=dict)
    # label tuple -> its encoded attribute fields, one per live series (and one over)
    _encoded_labels: BoundedCache[tuple[bytes, LabelValues], bytes] = field(init=False)

    def __post_init__(self) -> None:
        self._encoded_labels = BoundedCache((self.max_series or 10_000) + 1)

    def series(self, resource: ResourceKey, labels: LabelValues) -> tuple[SeriesState, bool]:
        """The state of the series (created when new) and whether a caller may keep it: False
        for the overflow series, whose every point must be counted as folded."""
        key = (resource, labels)
        state = self._series.get(key)
        if state is not None:
            return state, True
        keep = True
        if (self.max_series and len(self._series) >= self.max_series) or self.budget.full():
            SELF.add("als_bridge_metric_overflow_total", metric=self.name)
            key, keep = (resource, _OVERFLOW), False
            state = self._series.get(key)
            if state is not None:
                return state, False
        state = CounterState() if self.kind == "counter" else HistogramState(self.bounds)
        self._series[key] = state
        self.budget.count += 1
        return state, keep

    def add(self, resource: ResourceKey, labels: LabelValues, value: float = 1) -> None:
        state = self.series(resource, labels)[0]
        assert isinstance(state, CounterState)
        state.value += value

    def record(self, resource: ResourceKey, labels: LabelValues, value: float) -> None:
        state = self.series(resource, labels)[0]
        assert isinstance(state, HistogramState)
        state.observe(value)

    def _attributes(self, labels: LabelValues) -> Sequence[KeyValue]:
        """The reference path's attributes: built anew each time (cached protobuf objects cost
        far more memory than they save; the encoded path caches bytes instead)."""
        if labels is _OVERFLOW or labels == _OVERFLOW:
            return OVERFLOW_ATTRIBUTES
        return [
            KeyValue(key=k, value=any_value(v))
            for k, v in zip(self.label_keys, labels, strict=True)
            if v != ""
        ]

    def _encoded_attributes(self, tag: bytes, labels: LabelValues) -> bytes:
        if labels is _OVERFLOW or labels == _OVERFLOW:
            return wire.overflow_attribute(tag)
        key = (tag, labels)
        encoded = self._encoded_labels.get(key)
        if encoded is None:
            encoded = self._encoded_labels.put(key, wire.attribute_fields(tag, self.label_keys, labels))
        return encoded

    def collect_encoded(
        self, start_ns: int, now_ns: int, temporality: Temporality
    ) -> dict[ResourceKey, list[EncodedMetric]]:
        """As `collect`, but serialized (what the pipeline exports), and in `Metric`s of at most
        `POINTS_PER_METRIC` points: a request must stay within what receivers take (gRPC's
        default is 4 MiB), and only whole `Metric`s can be moved between requests."""
        series = self._series
        if temporality == "delta":
            self._series = {}
        agg = 1 if temporality == "delta" else 2  # AGGREGATION_TEMPORALITY_DELTA / _CUMULATIVE
        points: dict[ResourceKey, list[bytes]] = {}
        counter = self.kind == "counter"
        tag = wire.NUMBER_POINT_ATTRIBUTES if counter else wire.HISTOGRAM_POINT_ATTRIBUTES
        exemplar_tag = wire.NUMBER_POINT_EXEMPLARS if counter else wire.HISTOGRAM_POINT_EXEMPLARS
        for (resource, labels), state in series.items():
            attributes = self._encoded_attributes(tag, labels)
            exemplars = _encoded_exemplars(state, exemplar_tag) if state.exemplars else b""
            if isinstance(state, HistogramState):
                point = wire.histogram_point(
                    attributes, start_ns, now_ns, sum(state.counts), state.total, state.counts, self.bounds,
                    state.min, state.max, exemplars,
                )  # fmt: skip
            else:
                point = wire.number_point(attributes, start_ns, now_ns, state.value, exemplars)
            points.setdefault(resource, []).append(point)
        return {
            resource: [
                (wire.metric(self.name, self.description, self.unit, self.kind, agg, chunk), len(chunk))
                for chunk in (pts[i : i + POINTS_PER_METRIC] for i in range(0, len(pts), POINTS_PER_METRIC))
            ]
            for resource, pts in points.items()
        }

    def series_count(self) -> int:
        return len(self._series)

    def collect(self, start_ns: int, now_ns: int, temporality: Temporality) -> dict[ResourceKey, Metric]:
        """One OTLP Metric per resource key; with delta temporality the state starts over."""
        series = self._series
        out: dict[ResourceKey, Metric] = {}
        if temporality == "delta":
            self._series = {}  # held states are now stale: MetricStore.generation tells holders
        agg = (
            AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
            if temporality == "delta"
            else AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
        )
        for (resource, labels), value in series.items():
            metric = out.get(resource)
            if metric is None:
                metric = Metric(name=self.name, description=self.description, unit=self.unit)
                if self.kind == "counter":
                    metric.sum.aggregation_temporality = agg
                    metric.sum.is_monotonic = True
                else:
                    metric.histogram.aggregation_temporality = agg
                out[resource] = metric
            attrs = self._attributes(labels)
            if isinstance(value, HistogramState):
                hp: HistogramDataPoint = metric.histogram.data_points.add()
                hp.attributes.extend(attrs)
                hp.start_time_unix_nano, hp.time_unix_nano = start_ns, now_ns
                hp.count, hp.sum = value.count, value.total
                hp.bucket_counts.extend(value.counts)
                hp.explicit_bounds.extend(self.bounds)
                if value.count:
                    hp.min, hp.max = value.min, value.max
                _exemplar_messages(value, hp.exemplars)
            else:
                np: NumberDataPoint = metric.sum.data_points.add()
                np.attributes.extend(attrs)
                np.start_time_unix_nano, np.time_unix_nano = start_ns, now_ns
                total = value.value
                if float(total).is_integer():
                    np.as_int = int(total)
                else:
                    np.as_double = float(total)
                _exemplar_messages(value, np.exemplars)
        return out


class MetricStore:
    """The instruments of one receiver; `lock` guards recording against collection."""

    def __init__(self, max_series_per_metric: int = 0, max_series_total: int = 0) -> None:
        self.max_series = max_series_per_metric
        self.budget = SeriesBudget(max_series_total)
        self.instruments: list[Instrument] = []
        self.lock = threading.Lock()
        # Bumped when a delta collection starts every series over: holders of series states
        # (`bridge.metrics.plan`) then find them again.
        self.generation = 0
        # Bumped by every encoded collection, which hands the exemplars out and starts them over.
        self.exemplar_epoch = 0

    def counter(self, name: str, description: str, unit: str, label_keys: Sequence[str]) -> Instrument:
        inst = Instrument(
            name,
            description,
            unit,
            tuple(label_keys),
            "counter",
            max_series=self.max_series,
            budget=self.budget,
        )
        self.instruments.append(inst)
        return inst

    def histogram(
        self, name: str, description: str, unit: str, label_keys: Sequence[str], bounds: Sequence[float]
    ) -> Instrument:
        inst = Instrument(
            name, description, unit, tuple(label_keys), "histogram", tuple(sorted(bounds)), self.max_series,
            self.budget,
        )  # fmt: skip
        self.instruments.append(inst)
        return inst

    def collect_encoded(
        self, start_ns: int, now_ns: int, temporality: Temporality
    ) -> dict[ResourceKey, list[EncodedMetric]]:
        """Every instrument's metrics as serialized `Metric`s (with their data point counts), by
        resource: what the pipeline exports."""
        by_resource: dict[ResourceKey, list[EncodedMetric]] = {}
        with self.lock:
            if temporality == "delta":
                self.generation += 1
            self.exemplar_epoch += 1
            for inst in self.instruments:
                for resource, metrics in inst.collect_encoded(start_ns, now_ns, temporality).items():
                    by_resource.setdefault(resource, []).extend(metrics)
            self.budget.count = sum(inst.series_count() for inst in self.instruments)
        return by_resource

    def collect(
        self, start_ns: int, now_ns: int, temporality: Temporality
    ) -> dict[ResourceKey, list[Metric]]:
        """The reference conversion, built with protobuf objects (tests compare the two)."""
        by_resource: dict[ResourceKey, list[Metric]] = {}
        with self.lock:
            if temporality == "delta":
                self.generation += 1
            for inst in self.instruments:
                for resource, metric in inst.collect(start_ns, now_ns, temporality).items():
                    by_resource.setdefault(resource, []).append(metric)
            self.budget.count = sum(inst.series_count() for inst in self.instruments)
        return by_resource
