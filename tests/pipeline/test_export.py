"""`ExportStage` for metrics: requests stay within what OTLP receivers take by default."""

from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bridge.metrics.store import POINTS_PER_METRIC, MetricStore
from bridge.otlp import MetricResource, MetricsEncoder
from bridge.pipeline.export import MAX_METRICS_REQUEST_BYTES, metric_requests


def _istio_like_store(series: int) -> MetricStore:
    """`series` label sets of two dozen labels, a counter and a histogram each, as Istio's are."""
    store = MetricStore(max_series_per_metric=100_000)
    names = [f"label_{i}" for i in range(24)]
    counter = store.counter("requests_total", "", "", names)
    histogram = store.histogram("duration_ms", "", "ms", names, [float(b) for b in range(1, 20)])
    for n in range(series):
        labels = tuple(f"workload-{n}-{name}" for name in names)
        counter.add(None, labels, 1)
        histogram.record(None, labels, 3.0)
    return store


def test_metrics_are_cut_into_bounded_metrics_and_requests_with_every_point_kept() -> None:
    store = _istio_like_store(2_500)
    (encoded,) = store.collect_encoded(1, 2, "cumulative").values()
    assert [points for _, points in encoded] == [1000, 1000, 500, 1000, 1000, 500]
    assert POINTS_PER_METRIC == 1000
    items = [(MetricResource(None, "bridge-1"), metric) for metric in encoded]
    parts = metric_requests(items)
    assert len(parts) > 1  # the whole is several times the limit
    assert [item for part in parts for item in part] == items  # nothing lost or reordered
    series: dict[str, set[bytes]] = {"requests_total": set(), "duration_ms": set()}
    for part in parts:
        request = MetricsEncoder().encode(part)
        assert len(request.payload) <= MAX_METRICS_REQUEST_BYTES
        for rm in ExportMetricsServiceRequest.FromString(request.payload).resource_metrics:
            for metric in rm.scope_metrics[0].metrics:
                points = metric.sum.data_points or metric.histogram.data_points
                series[metric.name] |= {p.attributes[0].value.string_value.encode() for p in points}
    assert {name: len(keys) for name, keys in series.items()} == {
        "requests_total": 2_500,
        "duration_ms": 2_500,
    }


def test_a_small_collection_stays_one_request() -> None:
    collected = _istio_like_store(10).collect_encoded(1, 2, "cumulative")
    items = [(MetricResource(None, "b"), metric) for metrics in collected.values() for metric in metrics]
    assert len(items) == 2 and metric_requests(items) == [items]


def test_a_metric_over_the_limit_goes_alone_rather_than_being_dropped() -> None:
    big = (MetricResource(None, "b"), (b"x" * 5_000, 1))
    small = (MetricResource(None, "b"), (b"y" * 10, 1))
    assert metric_requests([small, big, small], limit=4_000 + 64 * 1024) == [[small], [big], [small]]
