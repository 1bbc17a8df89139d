"""Records every entry into the metric families and turns the aggregate into OTLP items.

Resources: the istio, servicegraph and spanmetrics families describe calls between workloads
in their labels, so their resource is the bridge itself (`service.name=als-bridge`, a
`service.instance.id` of its own). The semconv family's resource is the workload, as the
conventions say; its `service.instance.id` is the workload's instance joined with the
bridge's (`<pod>.<ns>@<bridge instance>`), because two bridge replicas may each receive
entries of one pod (one stream per Envoy worker). Either way no two bridge processes ever
write the same series, and a PromQL `sum()` across them gives the true totals.
"""

from __future__ import annotations

import itertools
import os
import socket
import time
from collections.abc import Iterable

from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

from bridge.decode import EntryView
from bridge.identity import Ends, Workload
from bridge.metrics.config import MetricsConfig
from bridge.metrics.families import SemconvFamily, build_families
from bridge.metrics.plan import Plans
from bridge.metrics.store import MetricStore
from bridge.otlp import MetricResource
from bridge.pipeline.consumer import Item
from bridge.spans import Reporters, SpanSet
from bridge.telemetry import SELF

_sequence = itertools.count()
PROCESS_START_NS = time.time_ns()


def new_instance_id() -> str:
    """Unique per bridge process (and per recorder within one, for tests that run two)."""
    n = next(_sequence)
    base = f"{socket.gethostname()}-{os.getpid()}"
    return base if n == 0 else f"{base}-{n}"


class MetricsRecorder:
    def __init__(self, config: MetricsConfig, reporters: Reporters, instance_id: str | None = None) -> None:
        self.config = config
        self.instance_id = instance_id or new_instance_id()
        self._reporters = reporters
        self._store = MetricStore(config.max_series_per_metric, config.max_series_total)
        self._families = build_families(self._store, config)
        semconv = next((f for f in self._families if isinstance(f, SemconvFamily)), None)
        address_of = semconv.server_address if semconv else None  # the only reader of server.address
        limit = config.exemplars.max_per_data_point if config.exemplars.enabled else 0
        self._plans = Plans(self._store, self._families, reporters, address_of, exemplars=limit)
        self._start_ns = time.time_ns()
        self._lock = self._store.lock

    @property
    def store(self) -> MetricStore:
        return self._store

    def record(self, view: EntryView, ends: Ends, spans: SpanSet, kept: bool = False) -> None:
        with self._lock:
            self._plans.record(view, ends, spans, kept)

    def record_many(self, entries: Iterable[tuple[EntryView, Ends, SpanSet, bool]]) -> None:
        """`record` for each of one message's entries, taking the store's lock once for all;
        the flag says whether the entry's spans are exported (and so may be exemplars).

        Why: the converter records every entry of a message back to back; one acquisition per
        message, not per entry, is all the exporters' collection needs to see whole entries."""
        record = self._plans.record
        with self._lock:
            for view, ends, spans, kept in entries:
                record(view, ends, spans, kept)

    def record_reference(self, view: EntryView, ends: Ends, spans: SpanSet) -> None:
        """`record` by the families' straightforward path, with no plans (what tests compare with)."""
        with self._lock:
            for family in self._families:
                family.record(view, ends, spans, self._reporters)

    def collect(self, now_ns: int | None = None) -> list[Item]:
        """The current aggregate as (MetricResource, (serialized Metric, data points)) items, the
        bridge's own metrics included."""
        now_ns = now_ns or time.time_ns()
        items: list[Item] = []
        by_resource = self._store.collect_encoded(self._start_ns, now_ns, self.config.temporality)
        for resource, metrics in by_resource.items():
            workload = resource if isinstance(resource, Workload) else None
            key = MetricResource(workload, self.instance_id)
            items.extend((key, metric) for metric in metrics)
        if self.config.temporality == "delta":
            self._start_ns = now_ns
        bridge = MetricResource(None, self.instance_id)
        for metric in self_metrics(PROCESS_START_NS, now_ns):
            points = len(metric.sum.data_points) + len(metric.gauge.data_points)
            items.append((bridge, (metric.SerializeToString(), points)))
        return items


def self_metrics(start_ns: int, now_ns: int) -> list[Metric]:
    """The bridge's own counters and gauges (`als_bridge_*`) as OTLP metrics."""
    by_name: dict[str, Metric] = {}
    for sample in SELF.snapshot():
        metric = by_name.get(sample.name)
        if metric is None:
            metric = Metric(name=sample.name, description=sample.description)
            if sample.kind == "counter":
                metric.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
                metric.sum.is_monotonic = True
            by_name[sample.name] = metric
        points = metric.sum.data_points if sample.kind == "counter" else metric.gauge.data_points
        point = points.add()
        for key, value in sample.labels:
            kv = point.attributes.add()
            kv.key = key
            kv.value.string_value = value
        point.time_unix_nano = now_ns
        if sample.kind == "counter":
            point.start_time_unix_nano = start_ns
        point.as_double = float(sample.value)
    return list(by_name.values())
