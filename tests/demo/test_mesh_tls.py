"""Real Envoy sidecars sending ALS over mutual TLS to the running bridge, admitted by SPIFFE id.

Each sidecar's `envoy_accesslog_service` cluster gets an `UpstreamTlsContext` with a client
certificate whose URI SAN is the sidecar's SPIFFE id (as Istio issues them), and the CA that
verifies the bridge's 127.0.0.1 certificate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from bridge.demo import AlsTLS, Mesh
from bridge.demo._envoy_config import ALS_CLUSTER, AlsSink, als_cluster
from bridge.demo.mesh import Which
from bridge.telemetry import SELF
from tests.support.bridge import running_bridge, traces_and_logs_config
from tests.support.certs import TestCerts, make_certs, spiffe_client
from tests.support.otlp_sink import OTLPSink, attributes

CLIENT, SERVER = Span.SpanKind.SPAN_KIND_CLIENT, Span.SpanKind.SPAN_KIND_SERVER


@dataclass
class MeshCerts:
    certs: TestCerts
    sidecars: dict[Which, AlsTLS]  # that sidecar's ALS client certificate and the bridge's CA


@pytest.fixture(scope="module")
def mesh_certs(tmp_path_factory: pytest.TempPathFactory) -> MeshCerts:
    pytest.importorskip("cryptography")
    certs = make_certs(tmp_path_factory.mktemp("mesh-certs"))
    sidecars: dict[Which, AlsTLS] = {}
    sides: tuple[Which, ...] = ("a", "b")
    for which in sides:
        client = spiffe_client(certs, Mesh.spiffe_id(which), f"sidecar-{which}")
        sidecars[which] = AlsTLS(ca_file=certs.ca_file, cert_file=client.cert_file, key_file=client.key_file)
    return MeshCerts(certs, sidecars)


def _bridge_config(sink: OTLPSink, certs: TestCerts, allowed: list[str]) -> dict[str, Any]:
    tls = {
        "cert_file": certs.server_cert_file,
        "key_file": certs.server_key_file,
        "client_ca_file": certs.ca_file,
    }
    receiver = {"tls": tls, "allowed_spiffe_ids": allowed}
    return traces_and_logs_config(otlp_grpc=sink.grpc_endpoint, receiver=receiver)


@dataclass
class Run:
    sink: OTLPSink
    mesh: Mesh

    def spans_of(self, request_id: str) -> list[tuple[dict[str, Any], Span]]:
        return [
            (r, s)
            for r, s in self.sink.spans()
            if attributes(s.attributes).get("envoy.request_id") == request_id
        ]


@pytest.fixture
def mtls_mesh(mesh_certs: MeshCerts, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Run]:
    """Bridge with the allow-list given by the test's `allowed` parameter; both sidecars use mTLS."""
    SELF.reset()
    allowed: list[str] = request.param
    with OTLPSink() as sink, running_bridge(_bridge_config(sink, mesh_certs.certs, allowed)) as service:
        address = f"127.0.0.1:{service.receivers[0].port}"
        with Mesh(address, workdir=tmp_path / "mesh", als_tls=mesh_certs.sidecars) as mesh:
            yield Run(sink, mesh)


@pytest.mark.envoy
@pytest.mark.parametrize("mtls_mesh", [["spiffe://cluster.local/ns/demo/sa/*"]], indirect=True)
def test_sidecars_with_allowed_spiffe_ids_write_through_mtls(mtls_mesh: Run) -> None:
    assert mtls_mesh.mesh.http_get("/status/200", {"x-request-id": "mtls-ok"}) == 200
    assert mtls_mesh.sink.wait_for(lambda: len(mtls_mesh.spans_of("mtls-ok")) == 2)
    kinds = sorted(s.kind for _, s in mtls_mesh.spans_of("mtls-ok"))
    assert kinds == [SERVER, CLIENT]
    assert SELF.get("als_bridge_streams_refused_total") == 0


@pytest.mark.envoy
@pytest.mark.parametrize("mtls_mesh", [[Mesh.spiffe_id("a")]], indirect=True)
def test_sidecar_outside_the_allow_list_is_refused_and_counted(mtls_mesh: Run) -> None:
    assert mtls_mesh.mesh.http_get("/status/200", {"x-request-id": "only-a"}) == 200
    sink = mtls_mesh.sink
    assert sink.wait_for(lambda: len(mtls_mesh.spans_of("only-a")) >= 1)
    assert sink.wait_for(lambda: SELF.get("als_bridge_streams_refused_total", reason="spiffe_id") >= 1)
    time.sleep(0.6)  # three flush intervals: anything of B's that got through would be here by now
    kinds = [s.kind for _, s in mtls_mesh.spans_of("only-a")]
    assert kinds == [CLIENT]  # A's entry only: B's sidecar was refused before anything was read
    services = {resource["service.name"] for resource, _ in sink.spans()}
    assert services == {"a"}


def test_als_cluster_presents_the_client_certificate_and_verifies_the_bridge_by_ip() -> None:
    tls = AlsTLS(ca_file="/ca.pem", cert_file="/a.pem", key_file="/a-key.pem")
    cluster = als_cluster(AlsSink("127.0.0.1", 11800, tls=tls))
    assert cluster["name"] == ALS_CLUSTER
    context = cluster["transport_socket"]["typed_config"]["common_tls_context"]
    assert context["tls_certificates"] == [
        {"certificate_chain": {"filename": "/a.pem"}, "private_key": {"filename": "/a-key.pem"}}
    ]
    assert context["validation_context"] == {
        "trusted_ca": {"filename": "/ca.pem"},
        "match_typed_subject_alt_names": [{"san_type": "IP_ADDRESS", "matcher": {"exact": "127.0.0.1"}}],
    }
    assert context["alpn_protocols"] == ["h2"]
    assert "transport_socket" not in als_cluster(AlsSink("127.0.0.1", 11800))  # plaintext by default


def test_mesh_rejects_als_tls_for_an_unknown_sidecar() -> None:
    tls = AlsTLS(ca_file="/ca.pem", cert_file="/c.pem", key_file="/c-key.pem")
    with pytest.raises(ValueError, match="keyed by sidecar"):
        Mesh("127.0.0.1:9001", als_tls={"c": tls})  # type: ignore[dict-item]


def test_spiffe_ids_follow_istio() -> None:
    assert Mesh.spiffe_id("a") == "spiffe://cluster.local/ns/demo/sa/a"
    assert Mesh.spiffe_id("b") == "spiffe://cluster.local/ns/demo/sa/b"
