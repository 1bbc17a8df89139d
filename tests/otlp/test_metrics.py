"""Golden test: metrics written straight to wire format equal the protobuf-built reference."""

from __future__ import annotations

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from bridge.metrics.store import MetricStore


def _filled_store() -> MetricStore:
    store = MetricStore(max_series_per_metric=3)
    counter = store.counter("requests_total", "Requests", "", ["code", "peer"])
    histogram = store.histogram("latency_seconds", "Latency", "s", ["code", "peer"], [0.1, 1, 10])
    for code, peer, value in [("200", "a", 0.05), ("200", "a", 1.0), ("503", "", 3.0), ("404", "b", 20.0)]:
        counter.add(None, (code, peer), 1)
        histogram.record(None, (code, peer), value)
    counter.add("workload", ("200", "a"), 2.5)  # a second resource, a non-integer sum
    counter.add(None, ("500", "c"), 1)  # past the cap: the overflow series
    histogram.record(None, ("500", "c"), 0.5)
    empty = store.histogram("never_seen_seconds", "", "s", ["x"], [1])
    assert empty.series_count() == 0
    return store


def test_encoded_metrics_parse_to_the_reference_messages() -> None:
    for temporality in ("cumulative", "delta"):
        reference = _filled_store().collect(1, 2, temporality)  # type: ignore[arg-type]
        encoded = _filled_store().collect_encoded(1, 2, temporality)  # type: ignore[arg-type]
        assert set(encoded) == set(reference)
        for resource, metrics in reference.items():
            parsed = [Metric.FromString(payload) for payload, _ in encoded[resource]]
            assert parsed == metrics
            assert [points for _, points in encoded[resource]] == [
                len(m.sum.data_points) + len(m.histogram.data_points) for m in metrics
            ]


def test_overflow_series_is_labelled_on_the_wire() -> None:
    encoded = _filled_store().collect_encoded(1, 2, "cumulative")
    metrics = [Metric.FromString(payload) for payload, _ in encoded[None]]
    (requests,) = (m for m in metrics if m.name == "requests_total")
    overflow = [
        p for p in requests.sum.data_points if [kv.key for kv in p.attributes] == ["otel.metric.overflow"]
    ]
    assert len(overflow) == 1 and overflow[0].attributes[0].value.bool_value is True
