from __future__ import annotations

import email.utils
import gzip
from typing import Any

import pytest

from bridge.exporters.base import ExportError, Signal
from bridge.exporters.otlphttp import OTLPHTTPExporter
from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig
from bridge.exporters.otlphttp.exporter import parse_retry_after, signal_url
from bridge.exporters.shared_config import TLSClientConfig
from bridge.telemetry import SELF
from tests.exporters import otlp_data
from tests.support.otlp_sink import OTLPSink, SinkTLS


def exporter(endpoint: str, **config: Any) -> OTLPHTTPExporter:
    return OTLPHTTPExporter("otlphttp/test", OTLPHTTPExporterConfig(endpoint=endpoint, timeout=2.0, **config))


def send_error(target: OTLPHTTPExporter, signal: Signal = Signal.TRACES) -> ExportError:
    with pytest.raises(ExportError) as caught:
        target.send(signal, otlp_data.request_for(signal))
    return caught.value


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_every_signal_arrives(sink: OTLPSink, compression: str) -> None:
    target = exporter(sink.http_endpoint, compression=compression)
    for signal in Signal:
        target.send(signal, otlp_data.request_for(signal))
    target.shutdown()
    assert sink.traces == [otlp_data.traces()]
    assert sink.metrics == [otlp_data.metrics()]
    assert sink.logs == [otlp_data.logs()]
    assert [r.path for r in sink.received] == ["/v1/traces", "/v1/metrics", "/v1/logs"]
    for received in sink.received:
        assert received.headers["content-type"] == "application/x-protobuf"
        assert received.headers.get("content-encoding") == ("gzip" if compression == "gzip" else None)


def test_gzip_body_is_really_compressed(sink: OTLPSink) -> None:
    big = otlp_data.traces(spans_per_resource=200)
    exporter(sink.http_endpoint, compression="gzip").send(Signal.TRACES, big)
    assert sink.traces == [big]
    assert len(gzip.compress(big.SerializeToString())) < big.ByteSize() / 4  # sanity: it compresses well


def test_headers_arrive() -> None:
    with OTLPSink(require_headers={"authorization": "Bearer s3cret"}) as sink:
        err = send_error(exporter(sink.http_endpoint))
        assert not err.retryable and "HTTP 401" in err.message
        target = exporter(sink.http_endpoint, headers={"Authorization": "Bearer s3cret"})
        target.send(Signal.METRICS, otlp_data.metrics())
        assert len(sink.metrics) == 1


def test_endpoint_path_is_kept(sink: OTLPSink) -> None:
    target = exporter(f"{sink.http_endpoint}/otlp/")
    target.send(Signal.TRACES, otlp_data.traces())
    target.send(Signal.METRICS, otlp_data.metrics())
    assert [r.path for r in sink.received] == ["/otlp/v1/traces", "/otlp/v1/metrics"]


def test_per_signal_endpoint_is_used_as_is(sink: OTLPSink) -> None:
    target = exporter(
        "http://127.0.0.1:1",  # nothing listens here: only the override may be used for traces
        traces_endpoint=f"{sink.http_endpoint}/custom/v1/traces",
    )
    target.send(Signal.TRACES, otlp_data.traces())
    assert [r.path for r in sink.received] == ["/custom/v1/traces"]
    assert target.url(Signal.LOGS) == "http://127.0.0.1:1/v1/logs"


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("http://mimir:8080/otlp", "http://mimir:8080/otlp/v1/metrics"),
        ("http://mimir:8080/otlp/", "http://mimir:8080/otlp/v1/metrics"),
        ("https://collector:4318", "https://collector:4318/v1/metrics"),
        ("https://collector:4318/", "https://collector:4318/v1/metrics"),
        ("http://p:9090/api/v1/otlp?tenant=a", "http://p:9090/api/v1/otlp/v1/metrics?tenant=a"),
    ],
)
def test_signal_url(endpoint: str, expected: str) -> None:
    assert signal_url(endpoint, "", Signal.METRICS) == expected


@pytest.mark.parametrize("endpoint", ["collector:4318", "grpc://collector:4317", "http://"])
def test_endpoint_must_be_an_http_url(endpoint: str) -> None:
    with pytest.raises(ValueError, match="must be an http"):
        exporter(endpoint)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_retryable_statuses(sink: OTLPSink, status: int) -> None:
    sink.fail_next(1, http_status=status)
    err = send_error(exporter(sink.http_endpoint))
    assert (err.retryable, err.retry_after) == (True, None)
    assert f"HTTP {status}: injected fault" in err.message  # the Status body's message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 500, 501])
def test_permanent_statuses(sink: OTLPSink, status: int) -> None:
    sink.fail_next(1, http_status=status)
    err = send_error(exporter(sink.http_endpoint))
    assert not err.retryable
    assert f"HTTP {status}" in err.message


def test_unknown_path_reports_the_body(sink: OTLPSink) -> None:
    err = send_error(exporter(sink.http_endpoint, traces_endpoint=f"{sink.http_endpoint}/nope"))
    assert not err.retryable and err.message.endswith("HTTP 404: unknown path")


def test_retry_after_seconds_is_honoured(sink: OTLPSink) -> None:
    sink.fail_next(1, http_status=429, retry_after=7)
    err = send_error(exporter(sink.http_endpoint))
    assert (err.retryable, err.retry_after) == (True, 7.0)


def test_retry_after_date_is_honoured(sink: OTLPSink) -> None:
    sink.fail_next(1, http_status=503, retry_after=email.utils.formatdate(usegmt=True))
    err = send_error(exporter(sink.http_endpoint))
    assert err.retryable and err.retry_after is not None and 0 <= err.retry_after <= 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 3 ", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("Wed, 21 Oct 2015 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("nan", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:28:00 GMT").timestamp()
    assert parse_retry_after(value, now) == expected


def test_connection_refused_is_retryable(sink: OTLPSink) -> None:
    target = exporter(sink.http_endpoint)
    sink.set_down(True)
    err = send_error(target)
    assert err.retryable and "refused" in err.message.lower()
    sink.set_down(False)
    target.send(Signal.LOGS, otlp_data.logs())
    assert len(sink.logs) == 1


def test_partial_success_is_counted(sink: OTLPSink) -> None:
    sink.set_partial_success(2, "too old")
    exporter(sink.http_endpoint).send(Signal.LOGS, otlp_data.logs())
    labels = {"exporter": "otlphttp/test", "signal": "logs", "reason": "partial_success"}
    failed = SELF.get("als_bridge_export_failed_items_total", **labels)
    assert failed == 2
    sink.set_partial_success(0)
    exporter(sink.http_endpoint).send(Signal.LOGS, otlp_data.logs())
    assert SELF.get("als_bridge_export_failed_items_total") == 2


# -- TLS ------------------------------------------------------------------------------------


def tls_sink(certs: Any, *, client_auth: bool = False) -> OTLPSink:
    client_ca = certs.ca_pem if client_auth else None
    return OTLPSink(tls=SinkTLS(certs.server_cert_pem, certs.server_key_pem, client_ca))


def test_tls_with_ca_file(certs: Any) -> None:
    with tls_sink(certs) as sink:
        assert sink.http_endpoint.startswith("https://")
        exporter(sink.http_endpoint, tls=TLSClientConfig(ca_file=certs.ca_file)).send(
            Signal.TRACES, otlp_data.traces()
        )
        assert len(sink.traces) == 1


def test_tls_with_client_certificate(certs: Any) -> None:
    with tls_sink(certs, client_auth=True) as sink:
        tls = TLSClientConfig(
            ca_file=certs.ca_file, cert_file=certs.client_cert_file, key_file=certs.client_key_file
        )
        exporter(sink.http_endpoint, tls=tls).send(Signal.TRACES, otlp_data.traces())
        assert len(sink.traces) == 1


def test_tls_verification(certs: Any) -> None:
    with tls_sink(certs) as sink:
        err = send_error(exporter(sink.http_endpoint, tls=TLSClientConfig(ca_file=certs.other_ca_file)))
        assert err.retryable and "certificate" in err.message.lower()
        skip = TLSClientConfig(ca_file=certs.other_ca_file, insecure_skip_verify=True)
        with pytest.warns(Warning, match="Unverified HTTPS request"):
            exporter(sink.http_endpoint, tls=skip).send(Signal.TRACES, otlp_data.traces())
        assert len(sink.traces) == 1


def test_client_certificate_needs_its_key() -> None:
    with pytest.raises(ValueError, match="must be set together"):
        exporter("https://collector:4318", tls=TLSClientConfig(cert_file="client.pem"))
