"""The SkyWalking MAL rules of `deploy/skywalking/otel-rules/als-bridge/`: the shape the OAP's rule
loader binds (`Rule`: filter, expPrefix, expSuffix, metricPrefix, metricsRules of name/exp), and
only metric and label names the bridge exports, read from the bridge's own metric families and
metrics resource (no copied list), with dots made underscores as the OAP's OTLP receiver does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.metrics.config import MetricsConfig
from bridge.metrics.families import build_families
from bridge.metrics.families.spanmetrics import SPAN_KINDS, STATUS_CODES
from bridge.metrics.store import Instrument, MetricStore
from bridge.otlp import MetricResource, metric_resource

RULES = Path(__file__).parents[2] / "deploy/skywalking/otel-rules/als-bridge"
RULE_KEYS = {"filter", "expPrefix", "expSuffix", "metricPrefix", "metricsRules", "layerDefinitions"}
LEVELS = ("service(", "instance(", "endpoint(", "serviceRelation(", "serviceInstanceRelation(")


def _instruments() -> dict[str, Instrument]:
    store = MetricStore()
    build_families(store, MetricsConfig())
    return {i.name: i for i in store.instruments}


def _oap_families() -> dict[str, set[str]]:
    """The sample families the OAP builds from the bridge's OTLP metrics, with their labels:
    a histogram gives `<name>` (with `le`), `<name>_count` and `<name>_sum`."""
    resource_labels = {
        kv.key.replace(".", "_") for kv in metric_resource(MetricResource(None, "x")).attributes
    }
    resource_labels.add("job_name")  # the OAP copies service.name into job_name
    families: dict[str, set[str]] = {}
    for name, inst in _instruments().items():
        labels = set(inst.label_keys) | resource_labels
        if inst.kind == "histogram":
            families[name] = labels | {"le"}
            families[name + "_count"] = labels
            families[name + "_sum"] = labels
        else:
            families[name] = labels
    return families


def _bridge_service_name() -> str:
    attrs = metric_resource(MetricResource(None, "x")).attributes
    return next(kv.value.string_value for kv in attrs if kv.key == "service.name")


def _rule_files() -> list[Path]:
    files = sorted(RULES.glob("*.yaml"))
    assert {f.stem for f in files} == {"service", "instance", "endpoint", "service-relation"}
    return files


@pytest.fixture(scope="module")
def rules() -> dict[str, dict[str, Any]]:
    return {f.name: yaml.safe_load(f.read_text()) for f in _rule_files()}


def test_rule_files_have_the_shape_the_oap_loader_binds(rules: dict[str, dict[str, Any]]) -> None:
    names: set[str] = set()
    for file, rule in rules.items():
        assert set(rule) <= RULE_KEYS, file
        assert rule["metricPrefix"].startswith("meter_"), file
        assert rule["metricsRules"], file
        for entry in rule["metricsRules"]:
            assert set(entry) == {"name", "exp"}, (file, entry)
            assert re.fullmatch(r"[a-z][a-z0-9_]*", entry["name"]), entry
            full = f"{rule['metricPrefix']}_{entry['name']}"
            assert full not in names, f"{full} defined twice"
            names.add(full)
            exp = entry["exp"]
            assert exp.count("(") == exp.count(")") and exp.count("[") == exp.count("]"), exp
            assert any(level in exp for level in LEVELS), f"{exp}: no service/instance/endpoint level"
            assert "Layer.MESH" in exp, exp


def test_filter_selects_the_bridge_resource(rules: dict[str, dict[str, Any]]) -> None:
    for file, rule in rules.items():
        assert rule["filter"] == f"{{ tags -> tags.job_name == '{_bridge_service_name()}' }}", file


def _label_names(exp: str) -> set[str]:
    """Label names an expression reads: tag filters' keys, aggregation and level label lists, le."""
    names: set[str] = set()
    for args in re.findall(r"\.tag(?:Equal|NotEqual|Match|NotMatch)\(([^)]*)\)", exp):
        values = re.findall(r"'([^']*)'", args)
        names.update(values[0::2])
    for bracket in re.findall(r"\[([^\]]*)\]", exp):
        names.update(re.findall(r"'([^']*)'", bracket))
    names.update(re.findall(r"\.histogram\('([^']*)'", exp))
    return names


def test_rules_name_only_metrics_and_labels_the_bridge_exports(rules: dict[str, dict[str, Any]]) -> None:
    families = _oap_families()
    used = set()
    for file, rule in rules.items():
        for entry in rule["metricsRules"]:
            exp = entry["exp"]
            metric = re.match(r"([a-z_][a-z0-9_]*)\.", exp)
            assert metric, exp
            name = metric.group(1)
            assert name in families, f"{file}: {name} is not a metric the bridge exports"
            unknown = _label_names(exp) - families[name]
            assert not unknown, f"{file}: {entry['name']} reads labels {unknown} that {name} does not have"
            used.add(name)
    assert {"istio_requests_total", "istio_request_duration_milliseconds"} <= used


def test_label_values_the_rules_compare_with_are_values_the_bridge_writes(
    rules: dict[str, dict[str, Any]],
) -> None:
    allowed = {
        "reporter": {"source", "destination"},
        "span_kind": set(SPAN_KINDS.values()),
        "status_code": set(STATUS_CODES.values()),
    }
    for rule in rules.values():
        for entry in rule["metricsRules"]:
            for args in re.findall(r"\.tagEqual\(([^)]*)\)", entry["exp"]):
                values = re.findall(r"'([^']*)'", args)
                for key, value in zip(values[0::2], values[1::2], strict=True):
                    assert value in allowed[key], (entry["name"], key, value)


def test_oap_settings_enable_the_otlp_handlers_and_these_rules() -> None:
    env = dict(
        line.split("=", 1)
        for line in (RULES.parents[1] / "oap.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert env["SW_OTEL_RECEIVER"] == "default"
    assert {"otlp-traces", "otlp-metrics"} <= set(env["SW_OTEL_RECEIVER_ENABLED_HANDLERS"].split(","))
    assert "als-bridge/*" in env["SW_OTEL_RECEIVER_ENABLED_OTEL_METRICS_RULES"].split(",")
    assert env["SW_RECEIVER_ZIPKIN"] == env["SW_QUERY_ZIPKIN"] == "default"
