"""The kustomize base and overlays, rendered by the real `kubectl kustomize`: what each object
must say for the bridge to run safely, take ALS, be probed, roll on a config change and scale.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.components import load_config, parse_config
from bridge.config.model import ComponentID
from tests.deploy.kustomize import OVERLAYS, TREES, Rendered, render

EXPECTED_KINDS = {
    "ServiceAccount",
    "ConfigMap",
    "Deployment",
    "Service",
    "PodDisruptionBudget",
    "HorizontalPodAutoscaler",
    "NetworkPolicy",
}
SELECTOR = {"app.kubernetes.io/name": "als-bridge", "app.kubernetes.io/instance": "als-bridge"}


@pytest.fixture(params=TREES)
def rendered(request: pytest.FixtureRequest) -> Rendered:
    return render(request.param)


def container(rendered: Rendered) -> dict[str, Any]:
    (only,) = rendered.one("Deployment")["spec"]["template"]["spec"]["containers"]
    return only


def test_every_tree_renders_the_expected_kinds(rendered: Rendered) -> None:
    assert {o["kind"] for o in rendered.objects} == EXPECTED_KINDS
    assert len(rendered.of_kind("ConfigMap")) == 2  # the config, the backend's endpoints


def test_base_is_namespace_agnostic_and_overlays_set_one() -> None:
    assert all("namespace" not in o["metadata"] for o in render("base").objects)
    for overlay in OVERLAYS:
        assert {o["metadata"].get("namespace") for o in render(overlay).objects} == {"observability"}


def test_every_object_has_the_recommended_labels(rendered: Rendered) -> None:
    for obj in rendered.objects:
        labels = obj["metadata"]["labels"]
        for key in ("name", "instance", "component", "part-of", "version", "managed-by"):
            assert f"app.kubernetes.io/{key}" in labels, (obj["kind"], key)


def test_selectors_match_the_pod_labels(rendered: Rendered) -> None:
    deployment = rendered.one("Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == SELECTOR
    assert SELECTOR.items() <= pod_labels.items()
    assert rendered.one("Service")["spec"]["selector"] == SELECTOR
    assert rendered.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == SELECTOR
    policy_selector = rendered.one("NetworkPolicy")["spec"]["podSelector"]["matchLabels"]
    assert policy_selector.items() <= pod_labels.items()
    for constraint in deployment["spec"]["template"]["spec"]["topologySpreadConstraints"]:
        assert constraint["labelSelector"]["matchLabels"].items() <= pod_labels.items()
    hpa = rendered.one("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (hpa["kind"], hpa["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_the_deployment_mounts_the_hashed_config_map(rendered: Rendered) -> None:
    config_map = rendered.one("ConfigMap", "als-bridge-config-")
    backend = rendered.one("ConfigMap", "als-bridge-backend-")
    # kustomize's content hash: a changed config is a new name, so the pods roll
    for cm, base_name in ((config_map, "als-bridge-config"), (backend, "als-bridge-backend")):
        suffix = cm["metadata"]["name"].removeprefix(base_name + "-")
        assert len(suffix) == 10 and suffix.isalnum(), cm["metadata"]["name"]
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["config"]["configMap"]["name"] == config_map["metadata"]["name"]
    env_from = container(rendered)["envFrom"]
    assert {"configMapRef": {"name": backend["metadata"]["name"]}} in env_from
    assert {"secretRef": {"name": "als-bridge-backend", "optional": True}} in env_from
    mounts = {m["name"]: m for m in container(rendered)["volumeMounts"]}
    assert mounts["config"] == {"name": "config", "mountPath": "/etc/als-bridge", "readOnly": True}
    assert container(rendered)["args"] == ["--config", "/etc/als-bridge/config.yaml"]


def test_a_config_change_changes_the_config_map_name(tmp_path: Path) -> None:
    """Edit config.yaml in a copy of the tree: the rendered name (and so the pod template) changes."""
    import shutil

    from tests.deploy.kustomize import KUSTOMIZE, kubectl

    copy = tmp_path / "kustomize"
    shutil.copytree(KUSTOMIZE, copy)
    before = render("base").one("ConfigMap", "als-bridge-config-")["metadata"]["name"]
    config = copy / "base" / "config.yaml"
    config.write_text(config.read_text().replace("interval: 15s", "interval: 30s"))
    out = subprocess.run(
        [kubectl(), "kustomize", str(copy / "base")], capture_output=True, text=True, check=True
    )
    names = [o["metadata"]["name"] for o in yaml.safe_load_all(out.stdout) if o and o["kind"] == "ConfigMap"]
    after = next(n for n in names if n.startswith("als-bridge-config-"))
    assert after != before


def test_ports_of_container_and_service(rendered: Rendered) -> None:
    ports = {p["name"]: p["containerPort"] for p in container(rendered)["ports"]}
    assert ports == {"grpc-als": 11800, "metrics": 9464, "health": 13133}
    service = {p["name"]: p for p in rendered.one("Service")["spec"]["ports"]}
    assert set(service) == set(ports)
    assert service["grpc-als"]["port"] == 11800 and service["grpc-als"]["appProtocol"] == "grpc"
    assert service["metrics"]["port"] == 9464 and service["health"]["port"] == 13133
    assert all(p["targetPort"] == name for name, p in service.items())


def test_probes_and_prestop_use_the_health_extension(rendered: Rendered) -> None:
    c = container(rendered)
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert c["lifecycle"]["preStop"]["httpGet"] == {"path": "/drain", "port": "health"}
    config = bridge_config(rendered)
    health = config.extensions[ComponentID("health_check")]
    assert health.endpoint.endswith(":13133")
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    # the preStop wait plus the bridge's whole shutdown fit in the grace period, with room to spare
    from bridge.service import SHUTDOWN_TIMEOUT

    assert pod["terminationGracePeriodSeconds"] >= health.drain_delay + SHUTDOWN_TIMEOUT + 5


def test_security_context(rendered: Rendered) -> None:
    pod = rendered.one("Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Dockerfile's fixed UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = container(rendered)["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    account = rendered.one("ServiceAccount")
    assert account["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    # the only writable places: the queue's directory and /tmp, both emptyDir
    mounts = {m["mountPath"]: m for m in container(rendered)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    writable = {path for path, m in mounts.items() if not m.get("readOnly")}
    assert writable == {"/var/lib/als-bridge", "/tmp"}
    assert all("emptyDir" in volumes[mounts[p]["name"]] for p in writable)
    # no sidecar for the bridge: its own ALS would loop back into it
    assert (
        rendered.one("Deployment")["spec"]["template"]["metadata"]["labels"]["sidecar.istio.io/inject"]
        == "false"
    )


def test_replicas_spread_budget_and_autoscaling(rendered: Rendered) -> None:
    spec = rendered.one("Deployment")["spec"]
    assert spec["replicas"] == 2
    keys = {c["topologyKey"] for c in spec["template"]["spec"]["topologySpreadConstraints"]}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    assert rendered.one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    hpa = rendered.one("HorizontalPodAutoscaler")["spec"]
    assert hpa["minReplicas"] == spec["replicas"] <= hpa["maxReplicas"]
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"
    resources = container(rendered)["resources"]
    assert resources["requests"]["cpu"] == "500m" and resources["requests"]["memory"] == "256Mi"
    assert resources["limits"]["memory"] == "512Mi"


def test_network_policy(rendered: Rendered) -> None:
    spec = rendered.one("NetworkPolicy")["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    by_port = {rule["ports"][0]["port"]: rule["from"] for rule in spec["ingress"]}
    assert set(by_port) == {11800, 9464}  # nothing else reaches the pods
    als_from = by_port[11800]
    assert {"namespaceSelector": {"matchLabels": {"istio-injection": "enabled"}}} in als_from
    assert {
        "namespaceSelector": {"matchExpressions": [{"key": "istio.io/rev", "operator": "Exists"}]}
    } in als_from
    assert by_port[9464] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    dns, backends = spec["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert backends["to"][0]["namespaceSelector"]["matchExpressions"][0]["values"] == [
        "observability",
        "monitoring",
    ]


def backend_env(rendered: Rendered) -> dict[str, str]:
    data: dict[str, str] = rendered.one("ConfigMap", "als-bridge-backend-")["data"]
    return data


def bridge_config(rendered: Rendered) -> Any:
    """The rendered config.yaml, loaded as the bridge would with the pod's environment."""
    text = rendered.one("ConfigMap", "als-bridge-config-")["data"]["config.yaml"]
    return parse_config(text, f"{rendered.tree}/config.yaml", environ=backend_env(rendered))


def test_the_config_inside_passes_als_bridge_validate(rendered: Rendered, tmp_path: Path) -> None:
    """The real CLI, in a subprocess, with the environment the pod gets from the backend ConfigMap."""
    config_file = tmp_path / "config.yaml"
    config_file.write_text(rendered.one("ConfigMap", "als-bridge-config-")["data"]["config.yaml"])
    result = subprocess.run(
        [sys.executable, "-m", "bridge", "validate", "--config", str(config_file)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **backend_env(rendered)},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr
    assert load_config(config_file, environ=backend_env(rendered)).service.extensions == [
        ComponentID("health_check")
    ]


def test_the_config_uses_the_pods_ports_and_paths(rendered: Rendered) -> None:
    config = bridge_config(rendered)
    (receiver,) = config.receivers.values()
    assert receiver.endpoint == "0.0.0.0:11800"
    assert receiver.max_connection_age == 600.0  # recycled every 10 min so streams spread
    assert config.exporters[ComponentID("prometheus")].endpoint == "0.0.0.0:9464"
    for exporter in config.exporters.values():
        queue = getattr(exporter, "sending_queue", None)
        if queue is not None and queue.storage == "file":
            assert queue.directory.startswith("/var/lib/als-bridge/")


@pytest.mark.parametrize(
    ("overlay", "traces", "metrics"),
    [
        (
            "overlays/jaeger",
            "jaeger-collector.observability.svc.cluster.local:4317",
            "http://prometheus.monitoring.svc.cluster.local:9090/api/v1/otlp",
        ),
        (
            "overlays/tempo",
            "tempo-distributor.observability.svc.cluster.local:4317",
            "http://mimir-gateway.observability.svc.cluster.local/otlp",
        ),
    ],
)
def test_overlays_point_traces_and_metrics_at_their_backend(overlay: str, traces: str, metrics: str) -> None:
    config = bridge_config(render(overlay))
    assert config.exporters[ComponentID("otlp", "traces")].endpoint == traces
    assert config.exporters[ComponentID("otlphttp", "metrics")].endpoint == metrics
    # the overlay changes the endpoints only: the rest of the config is the base's
    base_text = render("base").one("ConfigMap", "als-bridge-config-")["data"]
    assert render(overlay).one("ConfigMap", "als-bridge-config-")["data"] == base_text


def test_skywalking_overlay_sends_both_signals_to_the_oap_grpc_port() -> None:
    rendered = render("overlays/skywalking")
    config = bridge_config(rendered)
    oap = config.exporters[ComponentID("otlp", "oap")]
    assert oap.endpoint == "skywalking-oap.observability.svc.cluster.local:11800"
    pipelines = config.service.pipelines
    assert ComponentID("otlp", "oap") in pipelines[ComponentID("traces")].exporters
    assert ComponentID("otlp", "oap") in pipelines[ComponentID("metrics")].exporters
    # the OAP's token comes from the Secret (unset: an empty header, which an OAP without
    # authentication ignores)
    assert oap.headers == {"authentication": ""}
    with_token = parse_config(
        rendered.one("ConfigMap", "als-bridge-config-")["data"]["config.yaml"],
        environ={**backend_env(rendered), "SW_AUTHENTICATION": "s3cret"},
    )
    assert with_token.exporters[ComponentID("otlp", "oap")].headers == {"authentication": "s3cret"}


def test_skywalking_overlay_sends_the_deltas_its_mal_rules_add_up() -> None:
    """The MAL rules sum each export's value per minute: with cumulative points the OAP's calls
    per minute would grow without end."""
    config = bridge_config(render("overlays/skywalking"))
    receiver = config.receivers[ComponentID("envoy_als")]
    assert receiver.metrics.temporality == "delta"
    assert bridge_config(render("base")).receivers[ComponentID("envoy_als")].metrics.temporality == "cumulative"


def test_an_overlay_with_the_dashboards_component_renders_and_validates(tmp_path: Path) -> None:
    """The walkthrough's last step: the tempo overlay plus the dashboards component, as the
    README tells a user to write it, renders; every object passes the Kubernetes schemas."""
    import shutil

    import kubernetes_validate

    from tests.deploy.kustomize import KUSTOMIZE, kubectl

    copy = tmp_path / "kustomize"
    shutil.copytree(KUSTOMIZE, copy)
    overlay = copy / "overlays" / "tempo" / "kustomization.yaml"
    overlay.write_text(overlay.read_text() + "components:\n  - ../../components/dashboards\n")
    out = subprocess.run(
        [kubectl(), "kustomize", str(overlay.parent)], capture_output=True, text=True, check=True
    )
    objects = [o for o in yaml.safe_load_all(out.stdout) if o]
    dashboards = [o for o in objects if o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    assert len(dashboards) == 2 and all(o["metadata"]["namespace"] == "observability" for o in dashboards)
    for obj in objects:
        kubernetes_validate.validate(obj, "1.30.0", strict=True)
    # the bridge's own objects are unchanged by the component
    assert [o for o in objects if o not in dashboards] == render("overlays/tempo").objects
