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

import bisect
import threading
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
    NumberDataPoint,
)

from bridge.otlp import any_value
from bridge.telemetry import SELF

Temporality = Literal["cumulative", "delta"]
LabelValues = tuple[str, ...]
ResourceKey = Hashable  # a Workload, or None for the bridge's own resource

SELF.describe(
    "als_bridge_metric_overflow_total", "counter", "Points folded into an overflow series, by metric"
)

OVERFLOW_ATTRIBUTES = (KeyValue(key="otel.metric.overflow", value=any_value(True)),)
_OVERFLOW: LabelValues = ("\x00overflow",)


@dataclass(slots=True)
class _HistogramState:
    counts: list[int]
    total: float = 0.0
    count: int = 0
    min: float = float("inf")
    max: float = float("-inf")


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
    _series: dict[tuple[ResourceKey, LabelValues], float | _HistogramState] = field(default_factory=dict)
    _label_cache: dict[LabelValues, list[KeyValue]] = field(default_factory=dict)

    def _key(self, resource: ResourceKey, labels: LabelValues) -> tuple[ResourceKey, LabelValues]:
        key = (resource, labels)
        if self.max_series and key not in self._series and len(self._series) >= self.max_series:
            SELF.add("als_bridge_metric_overflow_total", metric=self.name)
            return (resource, _OVERFLOW)
        return key

    def add(self, resource: ResourceKey, labels: LabelValues, value: float = 1) -> None:
        key = self._key(resource, labels)
        self._series[key] = self._series.get(key, 0) + value  # type: ignore[operator]

    def record(self, resource: ResourceKey, labels: LabelValues, value: float) -> None:
        key = self._key(resource, labels)
        state = self._series.get(key)
        if state is None:
            state = _HistogramState(counts=[0] * (len(self.bounds) + 1))
            self._series[key] = state
        assert isinstance(state, _HistogramState)
        # bucket i holds bounds[i-1] < v <= bounds[i] (OTLP's explicit bucket rule)
        state.counts[bisect.bisect_left(self.bounds, value)] += 1
        state.total += value
        state.count += 1
        if value < state.min:
            state.min = value
        if value > state.max:
            state.max = value

    def _attributes(self, labels: LabelValues) -> Sequence[KeyValue]:
        if labels is _OVERFLOW or labels == _OVERFLOW:
            return OVERFLOW_ATTRIBUTES
        cached = self._label_cache.get(labels)
        if cached is None:
            cached = [
                KeyValue(key=k, value=any_value(v))
                for k, v in zip(self.label_keys, labels, strict=True)
                if v != ""
            ]
            if len(self._label_cache) < 4 * max(self.max_series, 10_000):
                self._label_cache[labels] = cached
        return cached

    def series_count(self) -> int:
        return len(self._series)

    def collect(self, start_ns: int, now_ns: int, temporality: Temporality) -> dict[ResourceKey, Metric]:
        """One OTLP Metric per resource key; with delta temporality the state starts over."""
        series = self._series
        out: dict[ResourceKey, Metric] = {}
        if temporality == "delta":
            self._series = {}
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
            if isinstance(value, _HistogramState):
                hp: HistogramDataPoint = metric.histogram.data_points.add()
                hp.attributes.extend(attrs)
                hp.start_time_unix_nano, hp.time_unix_nano = start_ns, now_ns
                hp.count, hp.sum = value.count, value.total
                hp.bucket_counts.extend(value.counts)
                hp.explicit_bounds.extend(self.bounds)
                if value.count:
                    hp.min, hp.max = value.min, value.max
            else:
                np: NumberDataPoint = metric.sum.data_points.add()
                np.attributes.extend(attrs)
                np.start_time_unix_nano, np.time_unix_nano = start_ns, now_ns
                if float(value).is_integer():
                    np.as_int = int(value)
                else:
                    np.as_double = float(value)
        return out


class MetricStore:
    """The instruments of one receiver; `lock` guards recording against collection."""

    def __init__(self, max_series_per_metric: int = 0) -> None:
        self.max_series = max_series_per_metric
        self.instruments: list[Instrument] = []
        self.lock = threading.Lock()

    def counter(self, name: str, description: str, unit: str, label_keys: Sequence[str]) -> Instrument:
        inst = Instrument(name, description, unit, tuple(label_keys), "counter", max_series=self.max_series)
        self.instruments.append(inst)
        return inst

    def histogram(
        self, name: str, description: str, unit: str, label_keys: Sequence[str], bounds: Sequence[float]
    ) -> Instrument:
        inst = Instrument(
            name, description, unit, tuple(label_keys), "histogram", tuple(sorted(bounds)), self.max_series
        )
        self.instruments.append(inst)
        return inst

    def collect(
        self, start_ns: int, now_ns: int, temporality: Temporality
    ) -> dict[ResourceKey, list[Metric]]:
        by_resource: dict[ResourceKey, list[Metric]] = {}
        with self.lock:
            for inst in self.instruments:
                for resource, metric in inst.collect(start_ns, now_ns, temporality).items():
                    by_resource.setdefault(resource, []).append(metric)
        return by_resource
