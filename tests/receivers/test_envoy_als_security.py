"""The running bridge's ALS listener under mutual TLS, a SPIFFE allow-list, and its limits.

Clients here are real gRPC channels (secure where the bridge serves TLS); what a refused or
limited client sent must never reach the sink, while everyone else's entries do.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import grpc
import pytest

from bridge.receivers.envoy_als import _protos
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig, TLSServerConfig
from bridge.receivers.envoy_als.receiver import EnvoyALSReceiver
from bridge.receivers.envoy_als.tls import TLSFileError
from bridge.telemetry import SELF
from tests.fixtures.als import http_entry, message, send_stream
from tests.support.bridge import running_bridge, traces_and_logs_config
from tests.support.certs import ClientCert, TestCerts, make_certs, spiffe_client, spiffe_id
from tests.support.otlp_sink import OTLPSink, attributes

_METHOD = f"/{_protos.SERVICE_NAME}/{_protos.METHOD_NAME}"
ALLOWED = spiffe_id("demo", "a")
OUTSIDER = spiffe_id("other", "intruder")


@dataclass
class Clients:
    certs: TestCerts
    allowed: ClientCert  # CA-signed, SPIFFE id in the allow-list
    outsider: ClientCert  # CA-signed, SPIFFE id outside it
    foreign: ClientCert  # the allowed SPIFFE id, but signed by another CA


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Clients:
    pytest.importorskip("cryptography")
    certs = make_certs(tmp_path_factory.mktemp("als-certs"))
    return Clients(
        certs,
        allowed=spiffe_client(certs, ALLOWED, "allowed"),
        outsider=spiffe_client(certs, OUTSIDER, "outsider"),
        foreign=spiffe_client(certs, ALLOWED, "foreign", signed_by_other_ca=True),
    )


@pytest.fixture
def sink() -> Iterator[OTLPSink]:
    SELF.reset()
    with OTLPSink() as running:
        yield running


def _mtls(certs: TestCerts, allowed: list[str]) -> dict[str, Any]:
    return {
        "tls": {
            "cert_file": certs.server_cert_file,
            "key_file": certs.server_key_file,
            "client_ca_file": certs.ca_file,
        },
        "allowed_spiffe_ids": allowed,
    }


@pytest.fixture
def mtls_port(clients: Clients, sink: OTLPSink) -> Iterator[int]:
    """A bridge that takes ALS only over mTLS from `spiffe://cluster.local/ns/demo/sa/*`."""
    receiver = _mtls(clients.certs, ["spiffe://cluster.local/ns/demo/sa/*"])
    with running_bridge(traces_and_logs_config(otlp_grpc=sink.grpc_endpoint, receiver=receiver)) as service:
        yield service.receivers[0].port


def send_secure(port: int, certs: TestCerts, client: ClientCert | None, raw: list[bytes]) -> None:
    """One ALS stream over TLS, verifying the bridge's 127.0.0.1 certificate (`client` None: no client
    certificate)."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=certs.ca_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )
    with grpc.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        call = channel.stream_unary(_METHOD, request_serializer=None, response_deserializer=None)
        call(iter(raw), timeout=10)


def _request_ids(sink: OTLPSink) -> set[str]:
    return {attributes(s.attributes).get("envoy.request_id", "") for _, s in sink.spans()}


def _one(request_id: str, **fields: Any) -> list[bytes]:
    return [message([http_entry(request_id=request_id, **fields)]).SerializeToString()]


# -- mutual TLS and the SPIFFE allow-list ------------------------------------------------------


def test_allowed_client_writes_over_mtls(clients: Clients, mtls_port: int, sink: OTLPSink) -> None:
    send_secure(mtls_port, clients.certs, clients.allowed, _one("over-mtls"))
    assert sink.wait_for(lambda: "over-mtls" in _request_ids(sink))
    assert SELF.get("als_bridge_streams_refused_total") == 0


def test_client_without_certificate_fails_the_handshake(
    clients: Clients, mtls_port: int, sink: OTLPSink
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        send_secure(mtls_port, clients.certs, None, _one("no-cert"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert SELF.get("als_bridge_streams_total") == 0  # never reached the handler


def test_client_certificate_from_another_ca_fails_the_handshake(
    clients: Clients, mtls_port: int, sink: OTLPSink
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        send_secure(mtls_port, clients.certs, clients.foreign, _one("foreign-ca"))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert SELF.get("als_bridge_streams_total") == 0


def test_client_outside_the_allow_list_is_denied_and_counted(
    clients: Clients, mtls_port: int, sink: OTLPSink
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        send_secure(mtls_port, clients.certs, clients.outsider, _one("outsider"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert OUTSIDER in (caught.value.details() or "")
    assert SELF.get("als_bridge_streams_refused_total", reason="spiffe_id") == 1
    # The allowed client still writes, and nothing of the outsider's was read.
    send_secure(mtls_port, clients.certs, clients.allowed, _one("after-outsider"))
    assert sink.wait_for(lambda: "after-outsider" in _request_ids(sink))
    assert "outsider" not in _request_ids(sink)
    assert SELF.get("als_bridge_entries_received_total") == 1


def test_unreadable_tls_file_stops_the_start_naming_the_key(clients: Clients, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    tls = TLSServerConfig(cert_file=clients.certs.server_cert_file, key_file=missing)
    with pytest.raises(TLSFileError, match=r"receivers\.envoy_als\.tls\.key_file: cannot read .*missing"):
        _start_receiver(EnvoyALSReceiverConfig(endpoint="127.0.0.1:0", tls=tls))
    not_pem = tmp_path / "ca.txt"
    not_pem.write_text("hello")
    tls = TLSServerConfig(clients.certs.server_cert_file, clients.certs.server_key_file, str(not_pem))
    with pytest.raises(TLSFileError, match=r"tls\.client_ca_file: .*is not a PEM file"):
        _start_receiver(EnvoyALSReceiverConfig(endpoint="127.0.0.1:0", tls=tls))


def _start_receiver(config: EnvoyALSReceiverConfig) -> None:
    """Start (and stop) a bare receiver: start-up fails before its converter is ever used."""
    receiver = EnvoyALSReceiver("envoy_als", config, cast(Any, None))

    async def run() -> None:
        await receiver.start()
        await receiver.stop(0)

    asyncio.run(run())


# -- limits ------------------------------------------------------------------------------------


@pytest.fixture
def limited(sink: OTLPSink) -> Iterator[int]:
    """A plaintext bridge with small limits: 2 streams, 5 entries per second per stream, 64 characters."""
    receiver = {"max_concurrent_streams": 2, "max_entries_per_second_per_stream": 5, "max_value_length": 64}
    with running_bridge(traces_and_logs_config(otlp_grpc=sink.grpc_endpoint, receiver=receiver)) as service:
        yield service.receivers[0].port


class HeldStream:
    """A stream that sends its first message, then stays open until `finish()` sends the second.

    Each has its own connection (a local subchannel pool), as separate Envoys would, so the
    per-connection HTTP/2 limit does not queue it and only the bridge's global cap applies.
    """

    def __init__(self, port: int, first: bytes, second: bytes) -> None:
        self._release = threading.Event()
        self._messages = (first, second)
        self.error: grpc.RpcError | None = None
        options = [("grpc.use_local_subchannel_pool", 1)]
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=options)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _requests(self) -> Iterator[bytes]:
        yield self._messages[0]
        self._release.wait(10)
        yield self._messages[1]

    def _run(self) -> None:
        call = self._channel.stream_unary(_METHOD, request_serializer=None, response_deserializer=None)
        try:
            call(self._requests(), timeout=15)
        except grpc.RpcError as error:
            self.error = error

    def finish(self) -> None:
        self._release.set()
        self._thread.join(15)
        self._channel.close()


def test_streams_over_the_cap_are_refused_while_the_others_go_on(limited: int, sink: OTLPSink) -> None:
    held = [
        HeldStream(
            limited,
            *(
                message([http_entry(request_id=f"held-{i}-{n}")], identify=n == 0).SerializeToString()
                for n in range(2)
            ),
        )
        for i in range(2)
    ]
    try:
        assert sink.wait_for(lambda: SELF.get("als_bridge_streams_open") == 2)
        with pytest.raises(grpc.RpcError) as caught:
            send_stream(limited, _one("over-the-cap"))
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert SELF.get("als_bridge_streams_refused_total", reason="max_concurrent_streams") == 1
    finally:
        for stream in held:
            stream.finish()
    assert [stream.error for stream in held] == [None, None]
    expected = {f"held-{i}-{n}" for i in range(2) for n in range(2)}
    assert sink.wait_for(lambda: expected <= _request_ids(sink))
    assert "over-the-cap" not in _request_ids(sink)
    send_stream(limited, _one("after-the-others-closed"))  # a freed slot is taken again
    assert sink.wait_for(lambda: "after-the-others-closed" in _request_ids(sink))


def test_entries_over_the_rate_are_dropped_and_counted_exactly(limited: int, sink: OTLPSink) -> None:
    burst = message([http_entry(request_id=f"burst-{i}") for i in range(12)]).SerializeToString()
    send_stream(limited, [burst])
    kept = {f"burst-{i}" for i in range(5)}  # a full bucket: one second's worth, the first entries
    assert sink.wait_for(lambda: kept <= _request_ids(sink))
    assert SELF.get("als_bridge_entries_dropped_total", reason="rate_limited") == 7
    # The bucket is per stream: a new stream is not held back by the first one's burst.
    send_stream(
        limited, [message([http_entry(request_id=f"next-{i}") for i in range(3)]).SerializeToString()]
    )
    assert sink.wait_for(lambda: {"next-0", "next-1", "next-2"} <= _request_ids(sink))
    assert SELF.get("als_bridge_entries_dropped_total", reason="rate_limited") == 7
    assert not {f"burst-{i}" for i in range(5, 12)} & _request_ids(sink)


def test_long_values_are_cut_before_they_reach_spans(limited: int, sink: OTLPSink) -> None:
    entry = http_entry(request_id="long-values", path="/" + "p" * 200)
    entry.request.user_agent = "u" * 1000
    entry.request.request_headers["x-custom"] = "h" * 65
    entry.request.request_headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    send_stream(limited, [message([entry]).SerializeToString()])
    assert sink.wait_for(lambda: "long-values" in _request_ids(sink))
    (span,) = [s for _, s in sink.spans() if attributes(s.attributes)["envoy.request_id"] == "long-values"]
    attrs = attributes(span.attributes)
    assert attrs["url.path"] == "/" + "p" * 63
    assert attrs["user_agent.original"] == "u" * 64
    assert span.trace_id.hex() == "0af7651916cd43dd8448eb211c80319c"  # a value within the limit is kept
    assert SELF.get("als_bridge_values_truncated_total") == 3  # path, user agent, x-custom
