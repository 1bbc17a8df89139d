"""The shipped Grafana dashboards: generated (not hand-edited), schema-level sound, packaged for
Grafana's sidecar; and the data source examples name the keys Grafana and Jaeger read."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.models.dashboard import Dashboard

REPO = Path(__file__).parents[2]
COMPONENT = REPO / "deploy/kustomize/components/dashboards"
FILES = ["mesh-from-access-logs.json", "als-bridge-health.json"]
# panel types the dashboards may use: Grafana's built-in panels the SDK has builders for
PANEL_TYPES = {"row", "timeseries", "table", "bargauge", "nodeGraph", "stat"}


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((COMPONENT / name).read_text())
    return data


def test_committed_json_is_what_the_generator_writes() -> None:
    check = subprocess.run(
        [sys.executable, str(REPO / "scripts/generate_dashboards.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize("name", FILES)
def test_dashboard_schema(name: str) -> None:
    data = _load(name)
    # Grafana's own schema types (grafana-foundation-sdk) read it back without loss
    assert json.loads(json.dumps(Dashboard.from_json(data).to_json(), default=lambda o: o.to_json())) == data
    for key in ("uid", "title", "panels", "templating", "schemaVersion", "time"):
        assert key in data, key
    ids = [p["id"] for p in data["panels"]]
    assert len(ids) == len(set(ids)), f"duplicate panel ids {ids}"
    variables = {v["name"] for v in data["templating"]["list"]}
    assert "datasource" in variables
    cells: set[tuple[int, int]] = set()
    for panel in data["panels"]:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24 and grid["h"] > 0, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()
    uids = {_load(f)["uid"] for f in FILES}
    assert len(uids) == len(FILES)


def test_mesh_dashboard_has_the_panels_users_look_for() -> None:
    panels = {p["title"]: p for p in _load("mesh-from-access-logs.json")["panels"]}
    graph = panels["Service graph"]
    assert graph["type"] == "nodeGraph"
    exprs = {t["refId"]: t["expr"] for t in graph["targets"]}
    assert '"id", "->", "source", "target"' in exprs["edges"] and '"id", "$1", "title"' in exprs["nodes"]
    assert all(t["format"] == "table" and t["instant"] for t in graph["targets"])
    assert "Top response flags" in panels and "gRPC status" in panels
    assert "grpc_response_status" in panels["gRPC status"]["targets"][0]["expr"]
    assert 'request_protocol="grpc"' in panels["gRPC status"]["targets"][0]["expr"]


def test_component_renders_configmaps_for_the_grafana_sidecar() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed")
    with tempfile.TemporaryDirectory(dir=REPO / "deploy/kustomize") as tmp:
        Path(tmp, "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: monitoring\n"
            "components:\n  - ../components/dashboards\n"
        )
        out = subprocess.run([kubectl, "kustomize", tmp], capture_output=True, text=True, check=True).stdout
    maps = {d["metadata"]["name"]: d for d in yaml.safe_load_all(out)}
    assert set(maps) == {"als-bridge-dashboard-mesh", "als-bridge-dashboard-health"}
    for cm in maps.values():
        assert cm["kind"] == "ConfigMap" and cm["metadata"]["namespace"] == "monitoring"
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
        ((name, text),) = cm["data"].items()
        assert json.loads(text) == _load(name)


def test_datasource_examples() -> None:
    sources = {
        d["type"]: d
        for d in yaml.safe_load((REPO / "deploy/grafana/datasources.yaml").read_text())["datasources"]
    }
    assert sources["tempo"]["jsonData"]["serviceMap"]["datasourceUid"] == sources["prometheus"]["uid"]
    assert sources["tempo"]["jsonData"]["nodeGraph"]["enabled"] is True
    spm = yaml.safe_load((REPO / "deploy/grafana/jaeger-spm.yaml").read_text())
    backend = spm["extensions"]["jaeger_storage"]["metric_backends"]["bridge_metrics"]["prometheus"]
    assert backend["metric_namespace"] == "traces_span_metrics" and backend["latency_unit"] == "s"
    assert backend["normalize_calls"] is True and backend["normalize_duration"] is True
    assert spm["extensions"]["jaeger_query"]["storage"]["metrics"] == "bridge_metrics"
