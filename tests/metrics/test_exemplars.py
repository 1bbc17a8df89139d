"""Exemplars on the aggregated series: bounded, errors then the slowest first, one interval's
worth per collection, and encoded as the protobuf reference and the OTel SDK encode them."""

from __future__ import annotations

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

from bridge.metrics.config import ExemplarsConfig, MetricsConfig
from bridge.metrics.recorder import MetricsRecorder
from bridge.metrics.store import MetricStore, offer_exemplar
from bridge.spans import build_spans
from tests.spans.test_builder import MS, http_view, inbound, outbound

TRACE, SPAN = bytes(range(16)), bytes(range(8))


def _store() -> MetricStore:
    store = MetricStore()
    counter = store.counter("requests_total", "Requests", "", ["code"])
    histogram = store.histogram("latency_seconds", "Latency", "s", ["code"], [0.1, 1, 10])
    counter.add(None, ("200",), 3)
    histogram.record(None, ("200",), 0.05)
    histogram.record(None, ("200",), 2.0)
    offer_exemplar(counter.series(None, ("200",))[0], 4, (0.05, 1_000, 1, TRACE, SPAN))
    state = histogram.series(None, ("200",))[0]
    offer_exemplar(state, 4, (2.0, 2_000, 2.0, TRACE, bytes(range(1, 9))))
    offer_exemplar(state, 4, (0.05, 1_000, 0.05, TRACE, SPAN))
    return store


def test_encoded_exemplars_parse_to_the_reference_and_are_handed_out_once() -> None:
    store = _store()
    reference = store.collect(1, 2, "cumulative")[None]  # the reference keeps them
    encoded = [Metric.FromString(b) for b, _ in store.collect_encoded(1, 2, "cumulative")[None]]
    assert encoded == reference
    (counter,) = (m for m in encoded if m.name == "requests_total")
    ((exemplar,),) = [list(p.exemplars) for p in counter.sum.data_points]
    assert (exemplar.as_int, exemplar.time_unix_nano, exemplar.trace_id, exemplar.span_id) == (
        1,
        1_000,
        TRACE,
        SPAN,
    )
    (histogram,) = (m for m in encoded if m.name == "latency_seconds")
    assert [e.as_double for e in histogram.histogram.data_points[0].exemplars] == [0.05, 2.0]  # by time
    again = [Metric.FromString(b) for b, _ in store.collect_encoded(2, 3, "cumulative")[None]]
    assert all(not p.exemplars for m in again for p in [*m.sum.data_points, *m.histogram.data_points])


def test_the_same_exemplars_as_the_opentelemetry_sdk_encodes() -> None:
    """Golden against the SDK's OTLP metrics encoder: the same counter and histogram points
    with the same exemplars parse to the same data points."""
    pytest.importorskip("opentelemetry.sdk.metrics", reason="the SDK is in the bench extra")
    from opentelemetry.exporter.otlp.proto.common._internal.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics._internal.exemplar import Exemplar
    from opentelemetry.sdk.metrics.export import (
        AggregationTemporality,
        Histogram,
        HistogramDataPoint,
        MetricsData,
        NumberDataPoint,
        ResourceMetrics,
        ScopeMetrics,
        Sum,
    )
    from opentelemetry.sdk.metrics.export import Metric as SdkMetric
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    def sdk_exemplar(value: float, when: int, span: bytes) -> Exemplar:
        return Exemplar({}, value, when, int.from_bytes(span, "big"), int.from_bytes(TRACE, "big"))

    cumulative = AggregationTemporality.CUMULATIVE
    counter = SdkMetric(
        "requests_total", "Requests", "",
        Sum([NumberDataPoint({"code": "200"}, 1, 2, 3, [sdk_exemplar(1, 1_000, SPAN)])], cumulative, True),
    )  # fmt: skip
    histogram_point = HistogramDataPoint(
        {"code": "200"}, 1, 2, 2, 2.05, [1, 0, 1, 0], [0.1, 1, 10], 0.05, 2.0,
        [sdk_exemplar(0.05, 1_000, SPAN), sdk_exemplar(2.0, 2_000, bytes(range(1, 9)))],
    )  # fmt: skip
    histogram = SdkMetric("latency_seconds", "Latency", "s", Histogram([histogram_point], cumulative))
    scope = ScopeMetrics(InstrumentationScope("x"), [counter, histogram], "")
    data = MetricsData([ResourceMetrics(Resource({}), [scope], "")])
    sdk = {m.name: m for m in encode_metrics(data).resource_metrics[0].scope_metrics[0].metrics}
    ours = {
        m.name: m
        for m in (Metric.FromString(b) for b, _ in _store().collect_encoded(1, 2, "cumulative")[None])
    }
    assert (
        ours["requests_total"].sum.data_points[0].exemplars
        == sdk["requests_total"].sum.data_points[0].exemplars
    )
    assert (
        ours["latency_seconds"].histogram.data_points[0].exemplars
        == sdk["latency_seconds"].histogram.data_points[0].exemplars
    )


def test_a_series_keeps_its_best_few_errors_first_then_the_slowest() -> None:
    store = MetricStore()
    state = store.counter("c", "", "", ["x"]).series(None, ("1",))[0]
    for rank in [0.2, 0.9, 0.1, 1e9 + 0.01, 0.5, 0.3]:
        offer_exemplar(state, 3, (rank, 1, 1, TRACE, SPAN))
    assert state.exemplars is not None
    assert sorted(e[0] for e in state.exemplars) == [0.5, 0.9, 1e9 + 0.01]


def _record(kept: bool, enabled: bool = True) -> list[Metric]:
    recorder = MetricsRecorder(
        MetricsConfig(exemplars=ExemplarsConfig(enabled=enabled, max_per_data_point=2)),
        "both",
        instance_id="i",
    )
    for n, (code, ms) in enumerate([(200, 5), (200, 50), (503, 1), (200, 20), (200, 30)]):
        view = http_view(request_id=f"r{n}", response_code=code, last_downstream_tx_ns=ms * MS)
        for ends in (outbound(), inbound()):
            recorder.record(view, ends, build_spans(view, ends, "both"), kept)
    return [
        Metric.FromString(b)
        for metrics in recorder.store.collect_encoded(1, 2, "cumulative").values()
        for b, _ in metrics
    ]


def test_recorded_entries_give_exemplars_to_counts_and_durations_only_when_kept() -> None:
    metrics = {m.name: m for m in _record(kept=True)}
    for name in (
        "istio_requests_total",
        "istio_request_duration_milliseconds",
        "traces_span_metrics_calls_total",
        "traces_span_metrics_duration_seconds",
        "traces_service_graph_request_total",
        "http.server.request.duration",
        "http.client.request.duration",
    ):
        points = [*metrics[name].sum.data_points, *metrics[name].histogram.data_points]
        assert any(p.exemplars for p in points), name
        assert all(len(p.exemplars) <= 2 for p in points), name
    sizes = metrics["istio_request_bytes"].histogram.data_points
    assert not any(p.exemplars for p in sizes)  # sizes are not durations
    # a 200 series of the server side: its two slowest calls (50 ms, 30 ms), in ms
    (ok,) = (
        p
        for p in metrics["istio_request_duration_milliseconds"].histogram.data_points
        if {kv.key: kv.value.string_value for kv in p.attributes}.get("reporter") == "destination"
        and {kv.key: kv.value.string_value for kv in p.attributes}.get("response_code") == "200"
    )
    assert sorted(e.as_double for e in ok.exemplars) == [30.0, 50.0]
    assert not any(
        p.exemplars for m in _record(kept=False) for p in [*m.sum.data_points, *m.histogram.data_points]
    )
    assert not any(
        p.exemplars
        for m in _record(kept=True, enabled=False)
        for p in [*m.sum.data_points, *m.histogram.data_points]
    )


def test_each_interval_starts_over_so_a_fast_call_after_slow_ones_is_an_exemplar_again() -> None:
    recorder = MetricsRecorder(
        MetricsConfig(exemplars=ExemplarsConfig(max_per_data_point=1)), "both", instance_id="i"
    )

    def record(n: int, ms: int) -> None:
        view = http_view(request_id=f"r{n}", last_downstream_tx_ns=ms * MS)
        recorder.record(view, inbound(), build_spans(view, inbound(), "both"), kept=True)

    def durations() -> list[float]:
        metrics = [
            Metric.FromString(b)
            for ms in recorder.store.collect_encoded(1, 2, "cumulative").values()
            for b, _ in ms
        ]
        (metric,) = (m for m in metrics if m.name == "istio_request_duration_milliseconds")
        return [e.as_double for p in metric.histogram.data_points for e in p.exemplars]

    for n, ms in enumerate([40, 90, 10, 60]):
        record(n, ms)
    assert durations() == [90.0]  # the slowest of the interval
    record(5, 3)
    assert durations() == [3.0]  # a new interval: the only call in it
