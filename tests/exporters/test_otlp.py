from __future__ import annotations

import time
from typing import Any

import grpc
import pytest

from bridge.exporters.base import ExportError, Signal
from bridge.exporters.otlp import OTLPExporter
from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.otlp.exporter import parse_endpoint
from bridge.exporters.shared_config import TLSClientConfig
from bridge.telemetry import SELF
from tests.exporters import otlp_data
from tests.support.otlp_sink import OTLPSink, SinkTLS

PLAINTEXT = TLSClientConfig(insecure=True)


def exporter(endpoint: str, **config: Any) -> OTLPExporter:
    config.setdefault("tls", PLAINTEXT)
    return OTLPExporter("otlp/test", OTLPExporterConfig(endpoint=endpoint, timeout=2.0, **config))


def send_error(target: OTLPExporter, signal: Signal = Signal.TRACES) -> ExportError:
    with pytest.raises(ExportError) as caught:
        target.send(signal, otlp_data.request_for(signal))
    return caught.value


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_every_signal_arrives(sink: OTLPSink, compression: str) -> None:
    target = exporter(sink.grpc_endpoint, compression=compression)
    for signal in Signal:
        target.send(signal, otlp_data.request_for(signal))
    target.shutdown()
    assert sink.traces == [otlp_data.traces()]
    assert sink.metrics == [otlp_data.metrics()]
    assert sink.logs == [otlp_data.logs()]
    services = sorted(resource["service.name"] for resource, _ in sink.spans())
    assert services == ["cart", "cart", "frontend", "frontend"]


def test_headers_arrive_as_lower_case_metadata() -> None:
    with OTLPSink(require_headers={"x-scope-orgid": "tenant-1"}) as sink:
        assert send_error(exporter(sink.grpc_endpoint)).retryable is False  # UNAUTHENTICATED
        target = exporter(sink.grpc_endpoint, headers={"X-Scope-OrgID": "tenant-1"})
        target.send(Signal.TRACES, otlp_data.traces())
        assert sink.received[-1].headers["x-scope-orgid"] == "tenant-1"
        assert len(sink.traces) == 1


def test_http_scheme_means_plaintext_whatever_tls_says(sink: OTLPSink) -> None:
    target = exporter(f"http://{sink.grpc_endpoint}", tls=TLSClientConfig(insecure=False))
    target.send(Signal.LOGS, otlp_data.logs())
    assert len(sink.logs) == 1


@pytest.mark.parametrize(
    ("endpoint", "insecure", "expected"),
    [
        ("collector:4317", False, ("collector:4317", True)),
        ("collector:4317", True, ("collector:4317", False)),
        ("http://collector:4317", False, ("collector:4317", False)),
        ("https://collector:4317/", True, ("collector:4317", True)),
        ("HTTPS://collector:4317", False, ("collector:4317", True)),
        ("dns:///collector:4317", True, ("dns:///collector:4317", False)),
    ],
)
def test_parse_endpoint(endpoint: str, insecure: bool, expected: tuple[str, bool]) -> None:
    assert parse_endpoint(endpoint, TLSClientConfig(insecure=insecure)) == expected


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (grpc.StatusCode.UNAVAILABLE, True),
        (grpc.StatusCode.DEADLINE_EXCEEDED, True),
        (grpc.StatusCode.ABORTED, True),
        (grpc.StatusCode.CANCELLED, True),
        (grpc.StatusCode.OUT_OF_RANGE, True),
        (grpc.StatusCode.DATA_LOSS, True),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, False),  # no RetryInfo: the request itself is too big
        (grpc.StatusCode.INVALID_ARGUMENT, False),
        (grpc.StatusCode.PERMISSION_DENIED, False),
        (grpc.StatusCode.UNIMPLEMENTED, False),
        (grpc.StatusCode.INTERNAL, False),
    ],
)
def test_status_codes_are_classified(sink: OTLPSink, code: grpc.StatusCode, retryable: bool) -> None:
    sink.fail_next(1, code)
    err = send_error(exporter(sink.grpc_endpoint))
    assert (err.retryable, err.retry_after) == (retryable, None)
    assert code.name in err.message


def test_retry_info_makes_resource_exhausted_retryable_with_its_delay(sink: OTLPSink) -> None:
    sink.fail_next(1, grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after=1.25)
    err = send_error(exporter(sink.grpc_endpoint))
    assert (err.retryable, err.retry_after) == (True, 1.25)


def test_retry_info_delay_is_reported_for_unavailable_too(sink: OTLPSink) -> None:
    sink.fail_next(1, grpc.StatusCode.UNAVAILABLE, retry_after=0.5)
    assert send_error(exporter(sink.grpc_endpoint)).retry_after == 0.5


def test_down_backend_fails_fast_and_retryable_then_recovers(sink: OTLPSink) -> None:
    target = exporter(sink.grpc_endpoint)
    target.send(Signal.TRACES, otlp_data.traces())
    sink.set_down(True)
    started = time.monotonic()
    err = send_error(target)
    assert err.retryable and "UNAVAILABLE" in err.message
    assert time.monotonic() - started < 1.0
    sink.set_down(False)

    def delivered() -> bool:
        try:
            target.send(Signal.TRACES, otlp_data.traces())
        except ExportError:
            return False
        return True

    assert sink.wait_for(delivered, timeout=5.0)  # the channel reconnects without a long backoff


def test_partial_success_is_counted(sink: OTLPSink, caplog: pytest.LogCaptureFixture) -> None:
    sink.set_partial_success(3, "spans too old")
    target = exporter(sink.grpc_endpoint)
    target.send(Signal.TRACES, otlp_data.traces())
    target.send(Signal.TRACES, otlp_data.traces())
    labels = {"exporter": "otlp/test", "signal": "traces", "reason": "partial_success"}
    failed = SELF.get("als_bridge_export_failed_items_total", **labels)
    assert failed == 6
    assert [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()] == [
        "otlp/test: backend rejected 3 traces: spans too old"  # the second warning is rate-limited
    ]


# -- TLS ------------------------------------------------------------------------------------


def tls_sink(certs: Any, *, client_auth: bool = False) -> OTLPSink:
    client_ca = certs.ca_pem if client_auth else None
    return OTLPSink(tls=SinkTLS(certs.server_cert_pem, certs.server_key_pem, client_ca))


def test_tls_with_ca_file(certs: Any) -> None:
    with tls_sink(certs) as sink:
        target = exporter(sink.grpc_endpoint, tls=TLSClientConfig(ca_file=certs.ca_file))
        target.send(Signal.TRACES, otlp_data.traces())
        assert len(sink.traces) == 1


def test_https_scheme_forces_tls(certs: Any) -> None:
    with tls_sink(certs) as sink:
        tls = TLSClientConfig(insecure=True, ca_file=certs.ca_file)
        exporter(f"https://{sink.grpc_endpoint}", tls=tls).send(Signal.TRACES, otlp_data.traces())
        assert len(sink.traces) == 1


def test_tls_with_client_certificate(certs: Any) -> None:
    with tls_sink(certs, client_auth=True) as sink:
        tls = TLSClientConfig(ca_file=certs.ca_file)
        assert send_error(exporter(sink.grpc_endpoint, tls=tls)).retryable  # handshake refused
        tls = TLSClientConfig(
            ca_file=certs.ca_file, cert_file=certs.client_cert_file, key_file=certs.client_key_file
        )
        exporter(sink.grpc_endpoint, tls=tls).send(Signal.TRACES, otlp_data.traces())
        assert len(sink.traces) == 1


def test_tls_with_the_wrong_ca_fails(certs: Any) -> None:
    with tls_sink(certs) as sink:
        err = send_error(exporter(sink.grpc_endpoint, tls=TLSClientConfig(ca_file=certs.other_ca_file)))
        assert err.retryable and "UNAVAILABLE" in err.message
        assert sink.received == []


def test_unusable_tls_settings_fail_at_construction(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="insecure_skip_verify"):
        exporter("collector:4317", tls=TLSClientConfig(insecure_skip_verify=True))
    with pytest.raises(ValueError, match="must be set together"):
        exporter("collector:4317", tls=TLSClientConfig(cert_file="client.pem"))
    with pytest.raises(ValueError, match=r"cannot read tls\.ca_file"):
        exporter("collector:4317", tls=TLSClientConfig(ca_file=str(tmp_path / "missing.pem")))
