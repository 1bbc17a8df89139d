"""MetricStore: counters, histograms, temporality, and the cardinality guard."""

from __future__ import annotations

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from bridge.metrics.store import MetricStore
from bridge.telemetry import SELF
from tests.metrics.support import PRODUCTPAGE, points
from tests.otlp.reference import attributes_dict


@pytest.fixture(autouse=True)
def _fresh_self_telemetry() -> None:
    SELF.reset()


def test_counter_sums_per_label_set_and_resource() -> None:
    store = MetricStore()
    c = store.counter("calls_total", "d", "", ("a", "b"))
    c.add(None, ("x", "y"))
    c.add(None, ("x", "y"), 2)
    c.add(None, ("x", "z"))
    c.add(PRODUCTPAGE, ("x", "y"), 5)
    found = {tuple(sorted(p.labels.items())): p.value for p in points(store, "calls_total")}
    assert found == {(("a", "x"), ("b", "y")): 3, (("a", "x"), ("b", "z")): 1}
    assert [p.value for p in points(store, "calls_total", PRODUCTPAGE)] == [5]


def test_counter_keeps_fractions_as_doubles_and_is_monotonic() -> None:
    store = MetricStore()
    store.counter("c_total", "d", "", ("a",)).add(None, ("x",), 0.5)
    (metric,) = store.collect(0, 1, "cumulative")[None]
    assert metric.sum.is_monotonic
    assert metric.sum.data_points[0].as_double == 0.5


def test_empty_label_values_are_left_out() -> None:
    store = MetricStore()
    store.counter("c_total", "d", "", ("a", "b")).add(None, ("x", ""))
    assert points(store, "c_total")[0].labels == {"a": "x"}


def test_histogram_buckets_include_their_upper_bound() -> None:
    store = MetricStore()
    h = store.histogram("h", "d", "s", ("a",), [1, 5, 10])
    for value in (0.5, 1, 1.0001, 5, 10, 11):
        h.record(None, ("x",), value)
    (point,) = points(store, "h")
    assert point.bounds == (1, 5, 10)
    assert point.buckets == (2, 2, 1, 1)  # (<=1: 0.5, 1) (<=5: 1.0001, 5) (<=10: 10) (>10: 11)
    assert point.value == 6
    assert point.total == pytest.approx(28.5001)


def test_histogram_min_max() -> None:
    store = MetricStore()
    h = store.histogram("h", "d", "s", ("a",), [1])
    h.record(None, ("x",), 3)
    h.record(None, ("x",), 0.25)
    (metric,) = store.collect(0, 1, "cumulative")[None]
    dp = metric.histogram.data_points[0]
    assert (dp.min, dp.max) == (0.25, 3)


def test_delta_collection_starts_over() -> None:
    store = MetricStore()
    c = store.counter("c_total", "d", "", ("a",))
    c.add(None, ("x",), 3)
    (first,) = store.collect(0, 1, "delta")[None]
    assert first.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
    assert first.sum.data_points[0].as_int == 3
    assert store.collect(1, 2, "delta") == {}
    c.add(None, ("x",))
    assert store.collect(2, 3, "delta")[None][0].sum.data_points[0].as_int == 1


def test_cumulative_collection_keeps_the_state() -> None:
    store = MetricStore()
    c = store.counter("c_total", "d", "", ("a",))
    c.add(None, ("x",), 3)
    store.collect(0, 1, "cumulative")
    c.add(None, ("x",))
    (metric,) = store.collect(0, 2, "cumulative")[None]
    assert metric.sum.aggregation_temporality == AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    point = metric.sum.data_points[0]
    assert point.as_int == 4
    assert (point.start_time_unix_nano, point.time_unix_nano) == (0, 2)


def test_overflow_folds_new_label_sets_and_counts_them() -> None:
    store = MetricStore(max_series_per_metric=2)
    c = store.counter("c_total", "d", "", ("a",))
    h = store.histogram("h", "d", "s", ("a",), [1])
    for name in ("x", "y", "z", "w", "x"):
        c.add(None, (name,))
        h.record(None, (name,), 0.5)
    found = {tuple(sorted(p.labels.items())): p.value for p in points(store, "c_total")}
    assert found == {(("a", "x"),): 2, (("a", "y"),): 1, (("otel.metric.overflow", True),): 2}
    (metric,) = (m for m in store.collect(0, 1, "cumulative")[None] if m.name == "h")
    overflow = [
        dp
        for dp in metric.histogram.data_points
        if attributes_dict(dp.attributes).get("otel.metric.overflow")
    ]
    assert [dp.count for dp in overflow] == [2]
    assert SELF.get("als_bridge_metric_overflow_total", metric="c_total") == 2
    assert SELF.get("als_bridge_metric_overflow_total", metric="h") == 2


def test_known_series_keep_counting_after_the_cap() -> None:
    store = MetricStore(max_series_per_metric=1)
    c = store.counter("c_total", "d", "", ("a",))
    c.add(None, ("x",))
    c.add(None, ("y",))
    c.add(None, ("x",))
    assert {p.labels.get("a"): p.value for p in points(store, "c_total")} == {"x": 2, None: 1}
    assert SELF.get("als_bridge_metric_overflow_total") == 1


def test_total_series_cap_holds_across_metrics_and_frees_with_delta() -> None:
    store = MetricStore(max_series_per_metric=100, max_series_total=3)
    calls = store.counter("calls_total", "d", "", ("a",))
    bytes_ = store.counter("bytes_total", "d", "", ("a",))
    calls.add(None, ("x",))
    calls.add(None, ("y",))
    bytes_.add(None, ("x",), 10)
    bytes_.add(None, ("y",), 20)  # the fourth series: over the total, folded
    calls.add(None, ("x",))  # an existing series still counts as itself
    found = {tuple(sorted(p.labels.items())): p.value for p in points(store, "bytes_total")}
    assert found == {(("a", "x"),): 10, (("otel.metric.overflow", True),): 20}
    assert [p.value for p in points(store, "calls_total")] == [2, 1]
    assert SELF.get("als_bridge_metric_overflow_total", metric="bytes_total") == 1

    store.collect(0, 1, "delta")  # every series starts over: the budget with them
    bytes_.add(None, ("z",), 5)
    assert [p.value for p in points(store, "bytes_total")] == [5]
