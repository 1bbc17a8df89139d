"""The latest value of every series the exporter has been sent, ready to be scraped.

A scrape must always see cumulative values, whatever temporality arrives:
- cumulative sums, histograms and summaries replace the series' value (an older point than the
  one held is ignored, so a late retry cannot move a counter backwards);
- delta sums and histograms are added onto the value held, so the series stays cumulative from the
  first point this exporter saw (histograms only while the bucket bounds stay the same);
- gauges replace.
A series not updated for `metric_expiration` disappears at the next scrape, so workloads that went
away stop being reported. A point flagged "no recorded value" removes its series at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from bridge.exporters.prometheus.config import PrometheusExporterConfig
from bridge.exporters.prometheus.labels import Labels, attribute_labels, resource_identity
from bridge.exporters.prometheus.naming import NameKind, metric_name
from bridge.exporters.prometheus.wire import resource_blocks
from bridge.telemetry import RateLimitedLogger

log = RateLimitedLogger(logging.getLogger("bridge.exporters.prometheus"))

FamilyKind = Literal["counter", "gauge", "histogram", "summary"]
TARGET_INFO = "target_info"
_DELTA = 1  # AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
_PAIRS_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class HistogramValue:
    bounds: tuple[float, ...]
    counts: tuple[int, ...]  # per bucket, not cumulative; one more than bounds (the +Inf bucket)
    sum: float | None  # OTLP makes it optional (absent when negative values were recorded)
    count: int

    def plus(self, other: HistogramValue) -> HistogramValue:
        """This histogram with a delta added; the delta alone when the bounds changed."""
        if other.bounds != self.bounds:
            return other
        total = None if self.sum is None or other.sum is None else self.sum + other.sum
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return HistogramValue(self.bounds, counts, total, self.count + other.count)


@dataclass(frozen=True, slots=True)
class SummaryValue:
    quantiles: tuple[tuple[float, float], ...]  # (quantile, value)
    sum: float
    count: int


Value = float | HistogramValue | SummaryValue


@dataclass(frozen=True, slots=True)
class Exemplar:
    """A point's exemplar, as OpenMetrics shows it: `# {trace_id="..",span_id=".."} value time`."""

    value: float
    time_unix_nano: int
    trace_id: str  # hex
    span_id: str  # hex


@dataclass(frozen=True, slots=True)
class Series:
    labels: Labels
    value: Value
    time_unix_nano: int
    updated: float  # the store's clock when last written; for expiration
    # the latest point's exemplars (oldest first); kept until a point brings new ones
    exemplars: tuple[Exemplar, ...] = ()


def _exemplars(point: Any) -> tuple[Exemplar, ...]:
    """A data point's exemplars that name a span (the only kind OpenMetrics can link to a trace)."""
    if not point.exemplars:
        return ()
    return tuple(
        Exemplar(
            e.as_double if e.WhichOneof("value") == "as_double" else float(e.as_int),
            e.time_unix_nano,
            e.trace_id.hex(),
            e.span_id.hex(),
        )
        for e in point.exemplars
        if e.trace_id and e.span_id
    )


@dataclass
class Family:
    """One Prometheus metric family: a name, a type, and its series by label set."""

    name: str
    kind: FamilyKind
    help: str
    series: dict[Labels, Series] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Target:
    """What every point of one `ResourceMetrics` shares."""

    labels: dict[str, str]  # job/instance, plus every resource attribute if so configured
    identity: dict[str, str]  # job/instance only: these win over point attributes
    info: Labels  # the target_info series' labels; empty when there is nothing to say


class MetricStore:
    """Thread-safe: `apply` (the exporter's queue) and `collect` (scrapes) run concurrently."""

    def __init__(self, config: PrometheusExporterConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._families: dict[str, Family] = {}
        # Every series holds its labels; the same (name, value) pairs recur across thousands of
        # series, and each parse makes new strings. One shared tuple per pair keeps the store's
        # size that of its distinct pairs, not of series x labels. Cleared when it outgrows its
        # use (pairs of expired series linger until then).
        self._pairs: dict[tuple[str, str], tuple[str, str]] = {}

    def apply(self, request: Any) -> None:
        """Take every data point of an `ExportMetricsServiceRequest` message into the store."""
        with self._lock:
            now = self._clock()
            for resource_metrics in request.resource_metrics:
                metrics = (m for scope in resource_metrics.scope_metrics for m in scope.metrics)
                self._apply_resource(resource_metrics.resource, metrics, now)

    def apply_encoded(self, payload: bytes) -> None:
        """The same for a request still in wire format, parsed one `Metric` at a time (see `wire`)."""
        with self._lock:
            now = self._clock()
            for block in resource_blocks(payload):
                self._apply_resource(block.resource, block.parsed(), now)

    def _apply_resource(self, resource: Any, metrics: Iterable[Any], now: float) -> None:
        target = self._target(resource.attributes)
        if target.info:
            self._put_info(target.info, now)
        for metric in metrics:
            self._apply_metric(metric, target, now)

    def collect(self) -> list[Family]:
        """Copies of the families with their live series, expired ones removed; sorted by name."""
        with self._lock:
            self._expire(self._clock())
            return [
                Family(family.name, family.kind, family.help, dict(family.series))
                for _, family in sorted(self._families.items())
                if family.series
            ]

    def _target(self, attributes: Iterable[Any]) -> _Target:
        attrs = list(attributes)
        identity, info = resource_identity(attrs)
        labels = dict(identity)
        if self._config.resource_to_telemetry_conversion:
            labels = {**attribute_labels(attrs), **identity}
        return _Target(labels, identity, tuple(sorted(info.items())))

    def _apply_metric(self, metric: Any, target: _Target, now: float) -> None:
        data = metric.WhichOneof("data")
        if data == "gauge":
            self._numbers(metric, metric.gauge, "gauge", "gauge", False, target, now)
        elif data == "sum":
            sum_ = metric.sum
            delta = sum_.aggregation_temporality == _DELTA
            if sum_.is_monotonic:
                self._numbers(metric, sum_, "counter", "counter", delta, target, now)
            else:
                self._numbers(metric, sum_, "gauge", "updowncounter", delta, target, now)
        elif data == "histogram":
            self._histograms(metric, target, now)
        elif data == "summary":
            self._summaries(metric, target, now)
        else:  # exponential histograms have no classic text form; an empty metric has nothing
            log.warning(f"skip:{data}", "prometheus: metric %r of type %s is not exported", metric.name, data)

    def _numbers(
        self,
        metric: Any,
        data: Any,
        kind: FamilyKind,
        name_kind: NameKind,
        delta: bool,
        target: _Target,
        now: float,
    ) -> None:
        name = self._name(metric, name_kind)
        for point in data.data_points:
            which = point.WhichOneof("value")
            if which is None and not point.flags & _NO_RECORDED_VALUE:
                continue
            value = float(getattr(point, which)) if which else 0.0
            labels = self._labels(target, point)
            self._update(name, kind, metric.description, labels, point, value, delta, now)

    def _histograms(self, metric: Any, target: _Target, now: float) -> None:
        name = self._name(metric, "histogram")
        delta = metric.histogram.aggregation_temporality == _DELTA
        for point in metric.histogram.data_points:
            bounds = tuple(point.explicit_bounds)
            counts = tuple(point.bucket_counts) or (0,) * len(bounds) + (point.count,)
            if len(counts) != len(bounds) + 1:
                log.warning(f"buckets:{name}", "prometheus: %r has a point with bad buckets; skipped", name)
                continue
            total = point.sum if point.HasField("sum") else None
            value = HistogramValue(bounds, counts, total, point.count)
            labels = self._labels(target, point)
            self._update(name, "histogram", metric.description, labels, point, value, delta, now)

    def _summaries(self, metric: Any, target: _Target, now: float) -> None:
        name = self._name(metric, "summary")
        for point in metric.summary.data_points:
            quantiles = tuple((q.quantile, q.value) for q in point.quantile_values)
            value = SummaryValue(quantiles, point.sum, point.count)
            labels = self._labels(target, point)
            self._update(name, "summary", metric.description, labels, point, value, False, now)

    def _labels(self, target: _Target, point: Any) -> Labels:
        pairs = self._pairs
        if len(pairs) > _PAIRS_LIMIT:
            pairs.clear()
        return tuple([pairs.setdefault(pair, pair) for pair in _point_labels(target, point)])

    def _name(self, metric: Any, kind: NameKind) -> str:
        config = self._config
        return metric_name(metric.name, metric.unit, kind, config.namespace, config.add_metric_suffixes)

    def _update(
        self,
        name: str,
        kind: FamilyKind,
        description: str,
        labels: Labels,
        point: Any,
        value: Value,
        delta: bool,
        now: float,
    ) -> None:
        family = self._family(name, kind, description)
        if family is None:
            return
        if point.flags & _NO_RECORDED_VALUE:  # the producer says this series has ended
            family.series.pop(labels, None)
            return
        held = family.series.get(labels)
        when = point.time_unix_nano
        if held is not None and delta:
            value = _add(held.value, value)
        elif held is not None and when < held.time_unix_nano:
            return  # an older cumulative point than the one held: a retry or a reordering
        exemplars = _exemplars(point)
        if held is None:
            family.series[labels] = Series(labels, value, when, now, exemplars)
        else:  # keep the label tuple already held: the new one is a duplicate
            exemplars = exemplars or held.exemplars
            family.series[labels] = Series(held.labels, value, max(when, held.time_unix_nano), now, exemplars)

    def _put_info(self, info: Labels, now: float) -> None:
        """Refresh a resource's `target_info` series: it lives as long as the resource sends points."""
        family = self._family(TARGET_INFO, "gauge", "Target metadata")
        if family is not None:
            family.series[info] = Series(info, 1.0, 0, now)

    def _family(self, name: str, kind: FamilyKind, description: str) -> Family | None:
        """The family `name`, made on first use; None if the name is unusable or taken by another type,
        since one exposition cannot hold two types under one name."""
        if not name:
            return None
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = Family(name, kind, description)
        elif family.kind != kind:
            log.warning(
                f"clash:{name}",
                "prometheus: %r is already a %s; points of type %s under that name are dropped",
                name,
                family.kind,
                kind,
            )
            return None
        elif not family.help and description:
            family.help = description
        return family

    def _expire(self, now: float) -> None:
        ttl = self._config.metric_expiration
        if ttl <= 0:
            return
        for family in self._families.values():
            stale = [labels for labels, series in family.series.items() if now - series.updated > ttl]
            for labels in stale:
                del family.series[labels]


def _point_labels(target: _Target, point: Any) -> Labels:
    """Resource labels, then the point's attributes over them, then job/instance over everything."""
    labels = {**target.labels, **attribute_labels(point.attributes), **target.identity}
    return tuple(sorted(labels.items()))


def _add(held: Value, delta: Value) -> Value:
    if isinstance(held, float) and isinstance(delta, float):
        return held + delta
    if isinstance(held, HistogramValue) and isinstance(delta, HistogramValue):
        return held.plus(delta)
    return delta
