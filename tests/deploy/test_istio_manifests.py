"""deploy/istio/: every manifest parses, uses only fields of Istio's API (tests/deploy/istio_api.py
says which protos, at which commit), and agrees with the bridge: the Service it names, the
filter-state keys of both Istio generations, and the headers the bridge reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from bridge.demo import _envoy_config as demo_envoy
from tests.deploy import istio_api
from tests.deploy.kustomize import render

ISTIO = Path(__file__).parents[2] / "deploy" / "istio"
SERVICE_FQDN = "als-bridge.observability.svc.cluster.local"
ALS_PORT = 11800
FILTER_STATE_1_24 = {"upstream_peer", "downstream_peer"}
FILTER_STATE_1_6_TO_1_23 = {
    "wasm.upstream_peer",
    "wasm.upstream_peer_id",
    "wasm.downstream_peer",
    "wasm.downstream_peer_id",
}


def documents() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in sorted(ISTIO.rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                out.append((str(path.relative_to(ISTIO)), doc))
    return out


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {name: doc for name, doc in documents() if doc.get("kind") == kind}


def providers() -> dict[str, dict[str, Any]]:
    operator = by_kind("IstioOperator")["meshconfig-providers.yaml"]
    return {p["name"]: p for p in operator["spec"]["meshConfig"]["extensionProviders"]}


@pytest.mark.parametrize(("name", "doc"), documents(), ids=[n for n, _ in documents()])
def test_every_manifest_uses_only_fields_of_istios_api(name: str, doc: dict[str, Any]) -> None:
    if name == "vm/mesh.yaml":  # a MeshConfig file as the VM's sidecar reads it, no envelope
        assert istio_api.problems(doc, istio_api.MESH_CONFIG, "mesh") == []
        return
    if doc["apiVersion"] == "v1":  # plain Kubernetes: the real schemas, offline
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
        return
    key = (doc["apiVersion"], doc["kind"])
    assert key in istio_api.RESOURCES, f"{name}: {key} is not a resource we checked"
    assert set(doc) == {"apiVersion", "kind", "metadata", "spec"}
    assert istio_api.problems(doc["metadata"], istio_api.OBJECT_META, "metadata") == []
    assert istio_api.problems(doc["spec"], istio_api.RESOURCES[key], "spec") == []


def test_the_schema_check_can_fail() -> None:
    telemetry = by_kind("Telemetry")["telemetry-server-side.yaml"]
    bad = {**telemetry["spec"], "accessLogging": [{"match": {"mode": "SERVER_ONLY"}, "provider": []}]}
    found = istio_api.problems(bad, istio_api.TELEMETRY_SPEC, "spec")
    assert any("mode" in p for p in found) and any(".provider:" in p for p in found)


def test_everything_points_at_the_bridges_service_and_als_port() -> None:
    service = render("overlays/tempo").one("Service")
    fqdn = f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert fqdn == SERVICE_FQDN
    assert {p["name"]: p["port"] for p in service["spec"]["ports"]}["grpc-als"] == ALS_PORT
    legacy = by_kind("IstioOperator")["meshconfig-legacy.yaml"]["spec"]["meshConfig"]
    assert legacy["enableEnvoyAccessLogService"] is True
    assert legacy["defaultConfig"]["envoyAccessLogService"]["address"] == f"{SERVICE_FQDN}:{ALS_PORT}"
    for provider in providers().values():
        als = provider.get("envoyHttpAls") or provider["envoyTcpAls"]
        assert (als["service"], als["port"]) == (SERVICE_FQDN, ALS_PORT)
    for logger in envoy_filter_loggers().values():
        grpc = logger["common_config"]["grpc_service"]["envoy_grpc"]
        assert grpc["cluster_name"] == f"outbound|{ALS_PORT}||{SERVICE_FQDN}"  # Istio's name for it
        assert grpc["authority"] == SERVICE_FQDN


def test_providers_log_both_generations_filter_state_and_the_bridges_headers() -> None:
    http, tcp = providers()["als-bridge-http"]["envoyHttpAls"], providers()["als-bridge-tcp"]["envoyTcpAls"]
    for als in (http, tcp):
        assert set(als["filterStateObjectsToLog"]) == FILTER_STATE_1_24 | FILTER_STATE_1_6_TO_1_23
    # exactly the headers the bridge reads (the demo's sidecars log the same, and the
    # real-Envoy tests prove the bridge uses each)
    assert http["additionalRequestHeadersToLog"] == list(demo_envoy.REQUEST_HEADERS_TO_LOG)
    assert http["additionalResponseHeadersToLog"] == list(demo_envoy.RESPONSE_HEADERS_TO_LOG)
    assert http["additionalResponseTrailersToLog"] == list(demo_envoy.RESPONSE_TRAILERS_TO_LOG)


def test_telemetry_selects_the_providers_in_both_variants() -> None:
    names = set(providers())
    telemetries = by_kind("Telemetry")
    for doc in telemetries.values():
        assert doc["metadata"]["namespace"] == "istio-system"  # the root namespace: mesh-wide
        (logging,) = doc["spec"]["accessLogging"]
        assert {p["name"] for p in logging["providers"]} == names
    assert "match" not in telemetries["telemetry-mesh.yaml"]["spec"]["accessLogging"][0]
    assert telemetries["telemetry-server-side.yaml"]["spec"]["accessLogging"][0]["match"] == {
        "mode": "SERVER"
    }


def envoy_filter_loggers() -> dict[str, dict[str, Any]]:
    """The EnvoyFilter's access loggers, by the network filter they are appended to."""
    envoy_filter = by_kind("EnvoyFilter")["envoyfilter-als-retry-buffer.yaml"]
    out = {}
    for patch in envoy_filter["spec"]["configPatches"]:
        assert (patch["applyTo"], patch["patch"]["operation"]) == ("NETWORK_FILTER", "MERGE")
        (logger,) = patch["patch"]["value"]["typed_config"]["access_log"]
        out[patch["match"]["listener"]["filterChain"]["filter"]["name"]] = logger["typed_config"]
    return out


def test_envoy_filter_sets_retry_and_buffer_and_matches_the_providers() -> None:
    loggers = envoy_filter_loggers()
    assert set(loggers) == {
        "envoy.filters.network.http_connection_manager",
        "envoy.filters.network.tcp_proxy",
    }
    http_provider = providers()["als-bridge-http"]["envoyHttpAls"]
    for logger in loggers.values():
        common = logger["common_config"]
        assert common["transport_api_version"] == "V3"
        assert common["buffer_size_bytes"] == 65536 and common["buffer_flush_interval"] == "1s"
        assert common["grpc_stream_retry_policy"]["num_retries"] > 0
        assert set(common["filter_state_objects_to_log"]) == set(http_provider["filterStateObjectsToLog"])
    http = loggers["envoy.filters.network.http_connection_manager"]
    assert http["additional_request_headers_to_log"] == http_provider["additionalRequestHeadersToLog"]
    assert http["additional_response_headers_to_log"] == http_provider["additionalResponseHeadersToLog"]
    assert http["additional_response_trailers_to_log"] == http_provider["additionalResponseTrailersToLog"]


def test_vm_manifests_agree_with_each_other() -> None:
    group = by_kind("WorkloadGroup")["vm/workloadgroup.yaml"]
    entry = by_kind("WorkloadEntry")["vm/workloadentry.yaml"]
    assert group["metadata"]["namespace"] == entry["metadata"]["namespace"]
    assert group["spec"]["metadata"]["labels"] == entry["spec"]["labels"]
    assert group["spec"]["template"]["serviceAccount"] == entry["spec"]["serviceAccount"]
    lb = by_kind("Service")["vm/als-bridge-vm-lb.yaml"]
    assert lb["spec"]["selector"] == render("overlays/tempo").one("Service")["spec"]["selector"]
