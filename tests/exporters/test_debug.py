from __future__ import annotations

import io

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bridge.exporters.base import ExportError, Signal
from bridge.exporters.debug import DebugExporter
from bridge.exporters.debug.config import DebugExporterConfig
from bridge.exporters.debug.exporter import format_request
from tests.exporters import otlp_data


def printed(signal: Signal, request: object, verbosity: str) -> list[str]:
    stream = io.StringIO()
    DebugExporter("debug", DebugExporterConfig(verbosity=verbosity), stream).send(signal, request)  # type: ignore[arg-type]
    return stream.getvalue().splitlines()


def test_basic_prints_one_summary_line_per_request() -> None:
    assert printed(Signal.TRACES, otlp_data.traces(spans_per_resource=3), "basic") == [
        "traces: 6 spans, 2 resources"
    ]
    assert printed(Signal.METRICS, otlp_data.metrics(points=3), "basic") == [
        "metrics: 4 data points, 2 metrics, 1 resources"
    ]
    assert printed(Signal.LOGS, otlp_data.logs(records=5), "basic") == ["logs: 5 log records, 1 resources"]


def test_normal_prints_one_line_per_span() -> None:
    lines = printed(Signal.TRACES, otlp_data.traces(spans_per_resource=2, services=("frontend",)), "normal")
    trace = "01" * 16
    rest = 'SERVER "GET /cart" frontend -> cart OK 12.500ms'
    assert lines == [
        f"span {trace} 0101010101010101 parent=- {rest}",
        f"span {trace} 0202020202020202 parent=0101010101010101 {rest}",
    ]


def test_detailed_adds_resource_and_span_attributes() -> None:
    lines = printed(Signal.TRACES, otlp_data.traces(spans_per_resource=1, services=("frontend",)), "detailed")
    assert lines[1:] == [
        "  resource service.name=frontend k8s.namespace.name=shop",
        "  attributes http.request.method=GET peer.service=cart",
    ]


def test_metrics_print_one_line_per_data_point() -> None:
    lines = printed(Signal.METRICS, otlp_data.metrics(points=2), "normal")
    assert lines == [
        "metric requests sum cart {code=200} value=1",
        "metric requests sum cart {code=201} value=2",
        "metric http.server.request.duration histogram cart {} count=3 sum=0.3 min=0.05 max=0.2",
    ]
    detailed = printed(Signal.METRICS, otlp_data.metrics(points=1), "detailed")
    assert "  buckets le0.1=1 le0.25=2 le+Inf=0" in detailed
    assert detailed.count("  resource service.name=cart") == 2


def test_logs_print_one_line_per_record() -> None:
    lines = printed(Signal.LOGS, otlp_data.logs(records=1), "detailed")
    assert lines == [
        'log 2023-11-14T22:13:20.000Z INFO cart trace=01010101010101010101010101010101 "GET /cart 0"',
        "  resource service.name=cart",
        "  attributes http.response.status_code=200",
    ]


def test_odd_data_is_printed_not_raised() -> None:
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    spans.add(kind=42, name='say "hi"\n', end_time_unix_nano=5, start_time_unix_nano=10)
    span = spans.add()
    span.attributes.add(key="blob").value.bytes_value = b"\x00\xff"
    span.attributes.add(key="list").value.array_value.values.add().int_value = 1
    span.attributes.add(key="empty")
    span.status.code = 9
    lines = format_request(Signal.TRACES, request, "detailed")
    assert lines[0] == 'span   parent=- KIND_42 "say \\"hi\\"\\n" - -> - UNSET -0.000ms'
    assert lines[1:3] == ["  resource -", "  attributes -"]
    assert lines[5] == "  attributes blob=0x00ff list=[1] empty=null"
    assert " STATUS_9 " in lines[3]
    assert format_request(Signal.METRICS, object(), "normal")[0].startswith("metrics: <cannot print request")


def test_one_unprintable_item_costs_only_its_line() -> None:
    class Broken:
        def __getattr__(self, name: str) -> object:
            raise RuntimeError("broken span")

    request = otlp_data.traces(spans_per_resource=1, services=("a",))
    real = request.resource_spans[0].scope_spans[0].spans
    fake_request = type(
        "R",
        (),
        {
            "resource_spans": [
                type(
                    "RS",
                    (),
                    {
                        "resource": request.resource_spans[0].resource,
                        "scope_spans": [type("SS", (), {"spans": [Broken(), real[0]]})()],
                    },
                )()
            ]
        },
    )()
    lines = format_request(Signal.TRACES, fake_request, "normal")
    assert lines[0] == "traces: <cannot print item: RuntimeError: broken span>"
    assert lines[1].startswith("span 0101")


def test_a_closed_stream_is_a_permanent_export_error() -> None:
    stream = io.StringIO()
    stream.close()
    with pytest.raises(ExportError) as caught:
        DebugExporter("debug", DebugExporterConfig(), stream).send(Signal.LOGS, otlp_data.logs())
    assert not caught.value.retryable
