"""The `prometheus` exporter: name translation, state per series, exposition formats, the HTTP endpoint."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

from bridge import components
from bridge.exporters.base import EncodedRequest, Exporter, ExportError, Signal
from bridge.exporters.prometheus import PrometheusExporter, PrometheusExporterConfig
from bridge.exporters.prometheus.exposition import number_text, wants_open_metrics
from bridge.exporters.prometheus.naming import NameKind, label_name, metric_name
from bridge.exporters.prometheus.wire import length_delimited
from bridge.telemetry import SELF
from tests.backends.otlp_metrics import DELTA, counter, gauge, histogram, istio_request, request

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
Make = Callable[..., PrometheusExporter]  # settings -> a running exporter
JOB = 'job="bookinfo/reviews"'
INSTANCE = 'instance="reviews-v1-7f9.bookinfo"'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make(clock: Clock) -> Iterator[Make]:
    """Exporters on 127.0.0.1:0 with the test's clock, all shut down afterwards."""
    made: list[PrometheusExporter] = []

    def factory(**settings: Any) -> PrometheusExporter:
        config = PrometheusExporterConfig(endpoint="127.0.0.1:0", **settings)
        exporter = PrometheusExporter("prometheus", config, clock=clock)
        made.append(exporter)
        return exporter

    yield factory
    for exporter in made:
        exporter.shutdown()


def text(exporter: PrometheusExporter, accept: str = "") -> str:
    return exporter.scrape(accept)[0].decode()


def lines(exporter: PrometheusExporter, prefix: str) -> list[str]:
    return [line for line in text(exporter).splitlines() if line.startswith(prefix)]


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "unit", "kind", "expected"),
    [
        ("istio_requests_total", "", "counter", "istio_requests_total"),
        ("istio_request_duration_milliseconds", "ms", "histogram", "istio_request_duration_milliseconds"),
        (
            "traces_service_graph_request_server_seconds",
            "s",
            "histogram",
            "traces_service_graph_request_server_seconds",
        ),
        (
            "traces_service_graph_request_server",
            "s",
            "histogram",
            "traces_service_graph_request_server_seconds",
        ),
        ("http.server.request.duration", "s", "histogram", "http_server_request_duration_seconds"),
        ("traces_span_metrics_calls", "", "counter", "traces_span_metrics_calls_total"),
        ("traces_span_metrics_duration", "ms", "histogram", "traces_span_metrics_duration_milliseconds"),
        ("http.server.request.body.size", "By", "histogram", "http_server_request_body_size_bytes"),
        ("http.server.active_requests", "{request}", "updowncounter", "http_server_active_requests"),
        ("requests", "{request}", "counter", "requests_total"),
        ("bytes.sent", "By/s", "counter", "bytes_sent_per_second_total"),
        ("network.io", "By/s", "gauge", "network_io_bytes_per_second"),
        ("cpu.utilization", "1", "gauge", "cpu_utilization_ratio"),
        ("cpu.utilization", "1", "counter", "cpu_utilization_total"),
        ("requests.total.count", "1", "counter", "requests_count_total"),
        ("weird__name..x", "", "gauge", "weird_name_x"),
        ("2xx.responses", "", "gauge", "_2xx_responses"),
        ("temperature", "Cel", "gauge", "temperature_celsius"),
        ("custom", "widgets", "gauge", "custom_widgets"),
    ],
)
def test_metric_names_follow_prometheus_translator(
    name: str, unit: str, kind: NameKind, expected: str
) -> None:
    assert metric_name(name, unit, kind) == expected


def test_namespace_and_no_suffixes() -> None:
    assert metric_name("http.server.request.duration", "s", "histogram", "mesh") == (
        "mesh_http_server_request_duration_seconds"
    )
    assert (
        metric_name("traces_span_metrics_calls", "", "counter", add_suffixes=False)
        == "traces_span_metrics_calls"
    )
    assert metric_name("http.server.request.duration", "s", "histogram", add_suffixes=False) == (
        "http_server_request_duration"
    )


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("http.route", "http_route"),
        ("response_code", "response_code"),
        ("k8s.pod.name", "k8s_pod_name"),
        ("1st", "key_1st"),
        ("_private", "key_private"),
        ("__reserved", "__reserved"),
        ("otel.metric.overflow", "otel_metric_overflow"),
        ("ünï-code", "key_n__code"),
    ],
)
def test_label_names(key: str, expected: str) -> None:
    assert label_name(key) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1.0, "1"),
        (0.005, "0.005"),
        (2.5, "2.5"),
        (1e6, "1e+06"),
        (123456.5, "123456.5"),
        (1e-5, "1e-05"),
        (7, "7"),
    ],
)
def test_numbers_are_written_as_go_does(value: float, expected: str) -> None:
    assert number_text(value) == expected


# -- exposition ----------------------------------------------------------------------------------


def test_counter_with_help_type_job_instance_and_target_info(make: Make) -> None:
    exporter = make()
    exporter.send(Signal.METRICS, istio_request())
    body = text(exporter)
    assert "# HELP istio_requests_total Requests\n# TYPE istio_requests_total counter\n" in body
    assert (
        f'istio_requests_total{{destination_service="reviews",{INSTANCE},{JOB},'
        'reporter="destination",response_code="200"} 42\n'
    ) in body
    assert (
        f'istio_requests_total{{destination_service="reviews",{INSTANCE},{JOB},'
        'reporter="destination",response_code="503"} 3\n'
    ) in body
    assert "# TYPE target_info gauge\n" in body
    assert f'target_info{{{INSTANCE},{JOB},k8s_pod_name="reviews-v1-7f9"}} 1\n' in body
    assert "service_name" not in body  # identifying attributes become job/instance only


def test_histogram_buckets_are_cumulative_with_inf(make: Make) -> None:
    exporter = make()
    exporter.send(Signal.METRICS, istio_request())
    family = "istio_request_duration_milliseconds"
    assert lines(exporter, f"# TYPE {family}") == [f"# TYPE {family} histogram"]
    common = f'destination_service="reviews",{INSTANCE},{JOB},reporter="destination",response_code="200"'
    assert lines(exporter, family + "_") == [
        f'{family}_bucket{{{common},le="10"}} 10',
        f'{family}_bucket{{{common},le="50"}} 30',
        f'{family}_bucket{{{common},le="100"}} 40',
        f'{family}_bucket{{{common},le="500"}} 42',
        f'{family}_bucket{{{common},le="+Inf"}} 42',
        f"{family}_sum{{{common}}} 2100",
        f"{family}_count{{{common}}} 42",
    ]


def test_cumulative_replaces_and_delta_accumulates(make: Make) -> None:
    exporter = make()
    for value in (5.0, 7.0):
        exporter.send(Signal.METRICS, request(counter("cumulative", [({}, value)])))
        exporter.send(Signal.METRICS, request(counter("delta", [({}, value)], temporality=DELTA)))
        exporter.send(Signal.METRICS, request(gauge("level", [({}, value)])))
    assert lines(exporter, "cumulative_total{") == [f"cumulative_total{{{INSTANCE},{JOB}}} 7"]
    assert lines(exporter, "delta_total{") == [f"delta_total{{{INSTANCE},{JOB}}} 12"]
    assert lines(exporter, "level{") == [f"level{{{INSTANCE},{JOB}}} 7"]


def test_an_older_cumulative_point_is_ignored(make: Make) -> None:
    exporter = make()
    exporter.send(Signal.METRICS, request(counter("c", [({}, 9.0)], time_unix_nano=2_000)))
    exporter.send(Signal.METRICS, request(counter("c", [({}, 4.0)], time_unix_nano=1_000)))
    assert lines(exporter, "c_total{") == [f"c_total{{{INSTANCE},{JOB}}} 9"]


def test_delta_histograms_accumulate_per_bucket(make: Make) -> None:
    exporter = make()
    for _ in range(2):
        delta = histogram("latency", {}, bounds=[1.0], counts=[1, 2], total=4.5, temporality=DELTA)
        exporter.send(Signal.METRICS, request(delta))
    assert lines(exporter, "latency_seconds_") == [
        f'latency_seconds_bucket{{{INSTANCE},{JOB},le="1"}} 2',
        f'latency_seconds_bucket{{{INSTANCE},{JOB},le="+Inf"}} 6',
        f"latency_seconds_sum{{{INSTANCE},{JOB}}} 9",
        f"latency_seconds_count{{{INSTANCE},{JOB}}} 6",
    ]


def test_series_expire_when_not_updated(make: Make, clock: Clock) -> None:
    exporter = make(metric_expiration=60.0)
    exporter.send(Signal.METRICS, request(counter("old", [({}, 1.0)])))
    clock.now += 30
    exporter.send(Signal.METRICS, request(counter("fresh", [({}, 1.0)])))
    clock.now += 31
    body = text(exporter)
    assert "old_total" not in body
    assert "fresh_total{" in body
    assert "target_info{" in body  # the resource sent 31 s ago, so its target_info lives on


def test_open_metrics_when_enabled_and_asked_for(make: Make) -> None:
    exporter = make(enable_open_metrics=True)
    exporter.send(Signal.METRICS, istio_request())
    SELF.add("als_bridge_entries_received_total", type="http")
    body, content_type = exporter.scrape(PROMETHEUS_ACCEPT)
    assert content_type == "application/openmetrics-text; version=1.0.0; charset=utf-8"
    om = body.decode()
    assert om.endswith("# EOF\n")
    assert "# TYPE istio_requests counter\n" in om  # the family without _total, samples with it
    assert "\nistio_requests_total{" in om
    assert "# TYPE als_bridge_entries_received counter\n" in om
    assert 'als_bridge_entries_received_total{type="http"} 1\n' in om

    plain, plain_type = exporter.scrape("text/plain;version=0.0.4")
    assert plain_type == "text/plain; version=0.0.4; charset=utf-8"
    assert b"# EOF" not in plain
    assert b"# TYPE istio_requests_total counter\n" in plain


def test_open_metrics_not_served_unless_enabled(make: Make) -> None:
    exporter = make()
    exporter.send(Signal.METRICS, istio_request())
    body, content_type = exporter.scrape(PROMETHEUS_ACCEPT)
    assert content_type.startswith("text/plain; version=0.0.4")
    assert b"# EOF" not in body


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (PROMETHEUS_ACCEPT, True),
        ("application/openmetrics-text", True),
        ("text/plain", False),
        ("", False),
        ("text/plain;q=0.9,application/openmetrics-text;q=0.5", False),
        ("application/openmetrics-text;q=0", False),
        ("*/*", False),
    ],
)
def test_accept_negotiation(accept: str, expected: bool) -> None:
    assert wants_open_metrics(accept) is expected


def test_label_values_and_help_are_escaped(make: Make) -> None:
    exporter = make()
    tricky = 'say "hi"\\ now\nplease'
    exporter.send(Signal.METRICS, request(counter("odd", [({"path": tricky}, 1.0)], description="a\\b\nc")))
    assert lines(exporter, "# HELP odd_total") == ["# HELP odd_total a\\\\b\\nc"]
    assert lines(exporter, "odd_total{") == [
        f'odd_total{{{INSTANCE},{JOB},path="say \\"hi\\"\\\\ now\\nplease"}} 1'
    ]


def test_overflow_attribute_becomes_a_label(make: Make) -> None:
    exporter = make()
    exporter.send(Signal.METRICS, request(counter("calls", [({"otel.metric.overflow": True}, 3.0)])))
    assert lines(exporter, "calls_total{") == [
        f'calls_total{{{INSTANCE},{JOB},otel_metric_overflow="true"}} 3'
    ]


def test_resource_to_telemetry_conversion(make: Make) -> None:
    exporter = make(resource_to_telemetry_conversion=True)
    exporter.send(Signal.METRICS, request(counter("calls", [({"code": "200"}, 1.0)])))
    (line,) = lines(exporter, "calls_total{")
    assert 'k8s_pod_name="reviews-v1-7f9"' in line
    assert 'service_name="reviews"' in line
    assert JOB in line


def test_no_service_means_no_job_and_no_target_info_without_other_attributes(
    make: Make,
) -> None:
    exporter = make(namespace="mesh")
    exporter.send(Signal.METRICS, request(counter("calls", [({}, 1.0)]), resource={}))
    assert lines(exporter, "mesh_calls_total") == ["mesh_calls_total 1"]
    assert "target_info" not in text(exporter)


def test_self_metrics_are_served(make: Make) -> None:
    exporter = make()
    SELF.add("als_bridge_entries_received_total", 5, type="http")
    SELF.set("als_bridge_queue_length", 2, exporter="otlp")
    body = text(exporter)
    assert "# TYPE als_bridge_entries_received_total counter\n" in body
    assert 'als_bridge_entries_received_total{type="http"} 5\n' in body
    assert "# TYPE als_bridge_queue_length gauge\n" in body
    assert 'als_bridge_queue_length{exporter="otlp"} 2\n' in body


def test_self_metrics_that_also_came_through_the_pipeline_are_served_once(make: Make) -> None:
    exporter = make()
    SELF.set("als_bridge_queue_length", 3, exporter="otlp")
    exporter.send(Signal.METRICS, request(gauge("als_bridge_queue_length", [({"exporter": "otlp"}, 3.0)])))
    assert lines(exporter, "als_bridge_queue_length{") == ['als_bridge_queue_length{exporter="otlp"} 3']


def test_a_type_clash_keeps_the_first_type(make: Make) -> None:
    exporter = make()
    exporter.send(Signal.METRICS, request(gauge("x_total", [({}, 1.0)])))
    exporter.send(Signal.METRICS, request(counter("x", [({}, 5.0)])))
    assert lines(exporter, "# TYPE x_total") == ["# TYPE x_total gauge"]
    assert lines(exporter, "x_total{") == [f"x_total{{{INSTANCE},{JOB}}} 1"]


# -- the exporter as a component -------------------------------------------------------------------


def test_serves_http_and_stops(make: Make) -> None:
    exporter = make()
    assert isinstance(exporter, Exporter)
    exporter.send(Signal.METRICS, istio_request())
    url = f"http://127.0.0.1:{exporter.port}"
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        assert b"istio_requests_total{" in response.read()
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(url + "/", timeout=5)
    assert missing.value.code == 404
    exporter.shutdown()
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", exporter.port))


def test_only_metrics_are_accepted(make: Make) -> None:
    with pytest.raises(ExportError, match="takes metrics"):
        make().send(Signal.TRACES, object())


def test_registered_for_metrics_only() -> None:
    assert components.types_of("exporter")["prometheus"] is PrometheusExporterConfig
    assert components.supported_signals("exporter", "prometheus") == frozenset({"metrics"})


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="endpoint"):
        PrometheusExporterConfig(endpoint="http://0.0.0.0:8889").validate()
    with pytest.raises(ValueError, match="metric_expiration"):
        PrometheusExporterConfig(metric_expiration=-1).validate()
    PrometheusExporterConfig().validate()


# -- requests in wire format ---------------------------------------------------------------------


def _two_resources() -> ExportMetricsServiceRequest:
    req = request(
        counter("calls", [({"code": "200"}, 3.0), ({"code": "503"}, 1.0)]),
        histogram("latency", {"route": "/a"}, [0.1, 1.0], [2, 1, 0], 0.7),
    )
    other = request(counter("calls", [({"code": "200"}, 9.0)]), resource={"service.name": "ratings"})
    req.resource_metrics.extend(other.resource_metrics)
    scope = req.resource_metrics[0].scope_metrics.add()  # a second scope under the first resource
    scope.metrics.append(counter("retries", [({}, 2.0)]))
    return req


def test_an_encoded_request_gives_the_same_scrape_as_the_message(make: Make) -> None:
    """The span and metric paths hand exporters wire bytes; the store reads them a metric at a time."""
    from_message, from_bytes = make(), make()
    from_message.send(Signal.METRICS, _two_resources())
    payload = _two_resources().SerializeToString()
    from_bytes.send(Signal.METRICS, EncodedRequest(payload, 6, ExportMetricsServiceRequest))
    assert text(from_bytes) == text(from_message)
    assert 'calls_total{code="200",job="ratings"} 9' in text(from_bytes)
    assert lines(from_bytes, "retries_total") == [f"retries_total{{{INSTANCE},{JOB}}} 2"]


def test_a_truncated_encoded_request_is_refused_whole(make: Make) -> None:
    exporter = make()
    payload = _two_resources().SerializeToString()
    with pytest.raises(DecodeError):
        exporter.send(Signal.METRICS, EncodedRequest(payload[:-7], 6, ExportMetricsServiceRequest))
    assert "calls_total" not in text(exporter)  # the first resource, intact, was not applied either
    with pytest.raises(DecodeError):
        list(length_delimited(memoryview(b"\x0a\x05ab"), 1))


def test_series_share_their_label_pairs(make: Make) -> None:
    """Thousands of series repeat the same (name, value) pairs; the store keeps one of each."""
    exporter = make()
    for _ in range(2):
        exporter.send(
            Signal.METRICS, request(counter("calls", [({"code": "200"}, 1.0), ({"code": "503"}, 1.0)]))
        )
    (family,) = [f for f in exporter._store.collect() if f.name == "calls_total"]
    first, second = (series.labels for series in family.series.values())
    job_pairs = [pair for pair in first + second if pair[0] == "job"]
    assert job_pairs[0] is job_pairs[1]


def test_keys_that_collide_once_sanitised_share_a_label() -> None:
    from bridge.exporters.prometheus.labels import attribute_labels
    from tests.backends.otlp_metrics import key_values

    attrs = key_values({"a_b": "second", "a.b": "first", "c": "", "n": 3, "ok": True})
    assert attribute_labels(attrs) == {"a_b": "first;second", "n": "3", "ok": "true"}
    assert attribute_labels(key_values({"x.y": "1", "z": "2"})) == {"x_y": "1", "z": "2"}


def test_a_large_scrape_is_sent_in_pieces_and_arrives_whole(make: Make) -> None:
    """Ten thousand Istio-like series are over a hundred megabytes of text; the handler sends it
    in chunks (Transfer-Encoding: chunked) rather than building it whole."""
    exporter = make()
    labels = {f"label_{i}": f"value-{i}" * 3 for i in range(20)}
    points = [
        histogram("latency", {**labels, "peer": f"p{n}"}, [0.1, 1.0], [1, 2, 0], 0.5) for n in range(1500)
    ]
    exporter.send(Signal.METRICS, request(*points))
    with urllib.request.urlopen(f"http://127.0.0.1:{exporter.port}/metrics", timeout=10) as reply:
        assert reply.headers["Transfer-Encoding"] == "chunked"
        body = reply.read()
    assert len(body) > 2 * 256 * 1024  # several pieces
    assert body == exporter.scrape()[0]
    assert body.count(b"latency_seconds_bucket{") == 1500 * 3


# -- exemplars ---------------------------------------------------------------------------------

TRACE_HEX, SPAN_HEX, SLOW_SPAN_HEX = (
    "0af7651916cd43dd8448eb211c80319c",
    "b7ad6b7169203331",
    "00f067aa0ba902b7",
)


def _with_exemplars() -> ExportMetricsServiceRequest:
    calls = counter("calls", [({}, 3.0)])
    calls.sum.data_points[0].exemplars.add(
        time_unix_nano=1_700_000_000_123_456_789, as_int=1,
        trace_id=bytes.fromhex(TRACE_HEX), span_id=bytes.fromhex(SPAN_HEX),
    )  # fmt: skip
    latency = histogram("latency", {}, bounds=[0.1, 1.0], counts=[1, 0, 1], total=2.55)
    for value, span in ((0.05, SPAN_HEX), (2.5, SLOW_SPAN_HEX)):
        latency.histogram.data_points[0].exemplars.add(
            time_unix_nano=1_700_000_001_000_000_000, as_double=value,
            trace_id=bytes.fromhex(TRACE_HEX), span_id=bytes.fromhex(span),
        )  # fmt: skip
    return request(calls, latency)


def test_exemplars_are_served_in_open_metrics_on_counters_and_in_their_own_buckets(make: Make) -> None:
    exporter = make(enable_open_metrics=True)
    exporter.send(Signal.METRICS, _with_exemplars())
    om = exporter.scrape(PROMETHEUS_ACCEPT)[0].decode().splitlines()
    fast = f'# {{trace_id="{TRACE_HEX}",span_id="{SPAN_HEX}"}}'
    slow = f'# {{trace_id="{TRACE_HEX}",span_id="{SLOW_SPAN_HEX}"}}'
    assert f"calls_total{{{INSTANCE},{JOB}}} 3 {fast} 1 1700000000.123456789" in om
    assert [line for line in om if line.startswith("latency_seconds_")] == [
        f'latency_seconds_bucket{{{INSTANCE},{JOB},le="0.1"}} 1 {fast} 0.05 1700000001.000000000',
        f'latency_seconds_bucket{{{INSTANCE},{JOB},le="1"}} 1',
        f'latency_seconds_bucket{{{INSTANCE},{JOB},le="+Inf"}} 2 {slow} 2.5 1700000001.000000000',
        f"latency_seconds_sum{{{INSTANCE},{JOB}}} 2.55",
        f"latency_seconds_count{{{INSTANCE},{JOB}}} 2",
    ]


def test_exemplars_are_kept_until_a_point_brings_new_ones_and_never_in_plain_text(make: Make) -> None:
    exporter = make(enable_open_metrics=True)
    exporter.send(Signal.METRICS, _with_exemplars())
    exporter.send(Signal.METRICS, request(counter("calls", [({}, 4.0)])))  # no exemplar this time
    om = exporter.scrape(PROMETHEUS_ACCEPT)[0].decode()
    assert f'calls_total{{{INSTANCE},{JOB}}} 4 # {{trace_id="{TRACE_HEX}"' in om
    assert "trace_id" not in text(exporter, "text/plain;version=0.0.4")  # text 0.0.4 has no exemplars
