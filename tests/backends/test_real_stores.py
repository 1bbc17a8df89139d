"""The same metrics through both roads into real stores must give the same PromQL answers and names.

(a) the `prometheus` exporter scraped by a real Prometheus 2.42 (text format and OpenMetrics);
(b) the `otlphttp` exporter pushing OTLP into a real VictoriaMetrics, which translates names itself.
Both are held to one list of expected names: if our translation drifted from the store's, one of
them would fail.
Needs `scripts/install-backends`; skipped without the binaries.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bridge.exporters.base import Signal
from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig
from bridge.exporters.otlphttp.exporter import OTLPHTTPExporter
from bridge.exporters.prometheus import PrometheusExporter, PrometheusExporterConfig
from tests.backends.otlp_metrics import counter, istio_request, request
from tests.support.backends import Prometheus, Result, VictoriaMetrics

pytestmark = pytest.mark.backends

BY_CODE = 'sum by (response_code) (istio_requests_total{reporter="destination"})'
EXPECTED_BY_CODE = {"200": 42.0, "503": 3.0}
MEDIAN = (
    "histogram_quantile(0.5, sum by (le) "
    '(istio_request_duration_milliseconds_bucket{reporter="destination"}))'
)
# 42 observations in (0,10] (10,50] (50,100] (100,500]: 10, 20, 10, 2. The 21st lies in (10, 50]
# after 10 below it, so linear interpolation gives 10 + 40 * 11/20.
EXPECTED_MEDIAN = 32.0
NAMES = 'group by (__name__) ({__name__=~"istio_.*"})'
EXPECTED_NAMES = {
    "istio_requests_total",
    "istio_request_duration_milliseconds_bucket",
    "istio_request_duration_milliseconds_sum",
    "istio_request_duration_milliseconds_count",
}


def by_code(result: Result) -> dict[str, float]:
    return {labels.get("response_code", ""): value for labels, value in result}


def names(result: Result) -> set[str]:
    return {labels["__name__"] for labels, _ in result}


@pytest.fixture(scope="module", params=[False, True], ids=["text", "openmetrics"])
def scraped(request: pytest.FixtureRequest) -> Iterator[Prometheus]:
    """A real Prometheus that has scraped our exporter, fed the request, at least once."""
    config = PrometheusExporterConfig(endpoint="127.0.0.1:0", enable_open_metrics=request.param)
    exporter = PrometheusExporter("prometheus", config)
    try:
        exporter.send(Signal.METRICS, istio_request())
        with Prometheus([f"127.0.0.1:{exporter.port}"], scrape_interval="1s") as prometheus:
            prometheus.wait_for_scrape()
            prometheus.wait_for_query(BY_CODE, lambda result: by_code(result) == EXPECTED_BY_CODE)
            yield prometheus
    finally:
        exporter.shutdown()


@pytest.fixture(scope="module")
def pushed() -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics that received the request from our `otlphttp` exporter (gzip, its default)."""
    with VictoriaMetrics() as victoria:
        push(victoria, istio_request(), "gzip")
        victoria.wait_for_query(BY_CODE, lambda result: by_code(result) == EXPECTED_BY_CODE)
        yield victoria


def push(
    victoria: VictoriaMetrics, metrics: ExportMetricsServiceRequest, compression: Literal["gzip", "none"]
) -> None:
    config = OTLPHTTPExporterConfig(metrics_endpoint=victoria.otlp_metrics_url, compression=compression)
    exporter = OTLPHTTPExporter("otlphttp", config)
    try:
        exporter.send(Signal.METRICS, metrics)
    finally:
        exporter.shutdown()


def test_prometheus_scrape_gives_the_fed_values(scraped: Prometheus) -> None:
    assert by_code(scraped.query(BY_CODE)) == EXPECTED_BY_CODE
    ((_, median),) = scraped.query(MEDIAN)
    assert median == pytest.approx(EXPECTED_MEDIAN)
    ((labels, _),) = scraped.query('istio_requests_total{response_code="503"}')
    assert labels["job"] == "bookinfo/reviews"  # honor_labels keeps ours
    assert labels["instance"] == "reviews-v1-7f9.bookinfo"
    ((info, _),) = scraped.query('target_info{job="bookinfo/reviews"}')
    assert info["k8s_pod_name"] == "reviews-v1-7f9"
    assert names(scraped.query(NAMES)) == EXPECTED_NAMES


def test_otlp_into_victoria_metrics_gives_the_same_values(pushed: VictoriaMetrics) -> None:
    assert by_code(pushed.query(BY_CODE)) == EXPECTED_BY_CODE
    ((_, median),) = pushed.query(MEDIAN)
    assert median == pytest.approx(EXPECTED_MEDIAN)
    assert names(pushed.query(NAMES)) == EXPECTED_NAMES  # the very names the scrape path gives


def test_victoria_metrics_takes_uncompressed_otlp_too(pushed: VictoriaMetrics) -> None:
    push(pushed, request(counter("uncompressed.requests", [({"code": "200"}, 7.0)])), "none")
    result = pushed.wait_for_query("uncompressed_requests_total")
    assert [value for _, value in result] == [7.0]
