"""The recorder's plans record exactly what the families' own per-entry path records.

The plans replay a family's points for every entry with the same `entry_key`, so a key that
misses an input of some label would silently mislabel points. These tests record one varied
corpus both ways and compare every collected metric point by point (series, values, order of
creation, overflow, temporality), and check the key against every field of `EntryView`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from bridge.decode import EntryView
from bridge.identity import Ends
from bridge.metrics.config import MetricsConfig
from bridge.metrics.families import SemconvFamily, build_families
from bridge.metrics.plan import Plans, entry_key
from bridge.metrics.recorder import MetricsRecorder
from bridge.metrics.store import MetricStore, ResourceKey, Temporality
from bridge.spans import Reporters, SpanSet, build_spans
from bridge.telemetry import SELF
from tests.metrics.corpus import Entry, corpus, workloads
from tests.metrics.support import http_view, inbound, inbound_view, outbound

Record = Callable[[EntryView, Ends, SpanSet], None]
Collected = dict[ResourceKey, list[tuple[Metric, int]]]
OVERFLOW = "als_bridge_metric_overflow_total"


def _collect(store: MetricStore, temporality: Temporality) -> Collected:
    encoded = store.collect_encoded(1, 2, temporality)
    return {r: [(Metric.FromString(b), n) for b, n in metrics] for r, metrics in encoded.items()}


def _overflows() -> dict[Any, float]:
    return {s.labels: s.value for s in SELF.snapshot() if s.name == OVERFLOW}


def _run(
    record: Record, store: MetricStore, entries: list[tuple[Entry, SpanSet]], temporality: Temporality
) -> tuple[list[Collected], dict[Any, float]]:
    """Record all entries, collecting every 150; the collections and the folded-point counts."""
    SELF.reset()
    collections = []
    for i, (e, spans) in enumerate(entries):
        record(e.view, e.ends, spans)
        if i % 150 == 149:
            collections.append(_collect(store, temporality))
    collections.append(_collect(store, temporality))
    return collections, _overflows()


def _assert_same(got: list[Collected], want: list[Collected]) -> None:
    assert len(got) == len(want)
    for collected, expected in zip(got, want, strict=True):
        assert collected.keys() == expected.keys()
        for resource, metrics in expected.items():
            assert [m.name for m, _ in collected[resource]] == [m.name for m, _ in metrics]
            for (metric, points), (reference, ref_points) in zip(collected[resource], metrics, strict=True):
                assert points == ref_points, metric.name
                got_points = list(metric.sum.data_points) + list(metric.histogram.data_points)
                want_points = list(reference.sum.data_points) + list(reference.histogram.data_points)
                for point, ref_point in zip(got_points, want_points, strict=True):
                    assert point == ref_point, metric.name
                assert metric == reference


def _with_spans(entries: list[Entry], reporters: Reporters) -> list[tuple[Entry, SpanSet]]:
    return [(e, build_spans(e.view, e.ends, reporters)) for e in entries]


@pytest.mark.parametrize("reporters", ["both", "server_side"])
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
@pytest.mark.parametrize("max_series", [10_000, 7])
def test_plans_record_what_the_families_record(
    reporters: Reporters, temporality: Temporality, max_series: int
) -> None:
    config = MetricsConfig(temporality=temporality, max_series_per_metric=max_series)
    entries = _with_spans(corpus(seed=11, count=1200), reporters)
    fast = MetricsRecorder(config, reporters, instance_id="a")
    reference = MetricsRecorder(config, reporters, instance_id="a")
    got, got_overflows = _run(fast.record, fast.store, entries, temporality)
    want, want_overflows = _run(reference.record_reference, reference.store, entries, temporality)
    _assert_same(got, want)
    assert got_overflows == want_overflows
    if max_series == 7:
        assert sum(want_overflows.values()) > 100  # the cap was really hit, many times
    assert sum(len(ms) for ms in want[0].values()) > 10


def test_a_bounded_plan_cache_records_the_same() -> None:
    entries = _with_spans(corpus(seed=5, count=600), "both")
    store = MetricStore(20)
    families = build_families(store, MetricsConfig())
    semconv = next(f for f in families if isinstance(f, SemconvFamily))
    plans = Plans(store, families, "both", semconv.server_address, limit=5)
    ref_store = MetricStore(20)
    ref_families = build_families(ref_store, MetricsConfig())

    def reference(view: EntryView, ends: Ends, spans: SpanSet) -> None:
        for family in ref_families:
            family.record(view, ends, spans, "both")

    got, got_overflows = _run(plans.record, store, entries, "delta")
    assert len(plans) <= 5
    want, want_overflows = _run(reference, ref_store, entries, "delta")
    _assert_same(got, want)
    assert got_overflows == want_overflows


def test_a_span_on_a_third_workload_takes_the_reference_path() -> None:
    view, ends = inbound_view(), inbound()
    spans = build_spans(view, ends, "both")
    (_, span), other = spans.spans[0], workloads(1)[0]
    elsewhere = replace(spans, spans=[(other, span)])
    fast = MetricsRecorder(MetricsConfig(), "both", instance_id="a")
    reference = MetricsRecorder(MetricsConfig(), "both", instance_id="a")
    assert entry_key(view, ends, elsewhere, None) is None
    for _ in range(3):
        fast.record(view, ends, elsewhere)
        reference.record_reference(view, ends, elsewhere)
    got = _collect(fast.store, "cumulative")
    assert other in got
    _assert_same([got], [_collect(reference.store, "cumulative")])


def _perturbed(view: EntryView, name: str) -> list[EntryView]:
    """`view` with field `name` changed in the ways that matter to some rule."""
    value = getattr(view, name)
    if isinstance(value, bool):
        return [replace(view, **{name: not value})]
    if isinstance(value, int):
        return [replace(view, **{name: v}) for v in (value + 1, 0, 503, 404)]
    if isinstance(value, str):
        return [
            replace(view, **{name: v}) for v in (value + "x", "", "UF", "outbound|80||a.b.svc.cluster.local")
        ]
    extras = (
        {"content-type": "application/grpc"},
        {"grpc-status": "3"},
        {"grpc-status": "0"},
        {"x-other": "1"},
    )
    return [replace(view, **{name: {**value, **extra}}) for extra in extras]


def _points(
    families: list[Any], view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters
) -> list[Any]:
    return [
        (p.instrument.name, p.resource, p.labels, p.value, p.span)
        for family in families
        for p in family.points(view, ends, spans, reporters)
    ]


@pytest.mark.parametrize("reporters", ["both", "server_side"])
def test_every_entry_field_outside_the_key_leaves_the_points_alone(reporters: Reporters) -> None:
    """Each EntryView field, changed alone: either the key changes or the points stay the same."""
    families = build_families(MetricStore(), MetricsConfig())
    semconv = next(f for f in families if isinstance(f, SemconvFamily))
    bases = [
        *corpus(seed=3, count=160)[:40],
        Entry(http_view(), outbound()),
        Entry(inbound_view(), inbound()),
    ]
    checked = 0
    for base in bases:
        spans = build_spans(base.view, base.ends, reporters)
        key = entry_key(base.view, base.ends, spans, semconv.server_address)
        points = _points(families, base.view, base.ends, spans, reporters)
        for field in fields(EntryView):
            for view in _perturbed(base.view, field.name):
                other_spans = build_spans(view, base.ends, reporters)
                if entry_key(view, base.ends, other_spans, semconv.server_address) == key:
                    checked += 1
                    assert _points(families, view, base.ends, other_spans, reporters) == points, field.name
    assert checked > 1000


def test_entries_with_one_key_give_the_same_points() -> None:
    families = build_families(MetricStore(), MetricsConfig())
    semconv = next(f for f in families if isinstance(f, SemconvFamily))
    by_key: dict[Any, list[Any]] = {}
    for e, spans in _with_spans(corpus(seed=9, count=2000), "server_side"):
        key = entry_key(e.view, e.ends, spans, semconv.server_address)
        by_key.setdefault(key, []).append(_points(families, e.view, e.ends, spans, "server_side"))
    assert sum(len(group) > 1 for group in by_key.values()) > 50
    for group in by_key.values():
        assert all(points == group[0] for points in group)
