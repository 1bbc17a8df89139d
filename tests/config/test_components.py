"""The list of component factories, and the pipeline rules that depend on it: signals and connectors."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from bridge import components
from bridge.components import parse_config
from bridge.config import ComponentID, ConfigError, FieldError
from bridge.exporters.debug import DebugExporter
from bridge.exporters.debug.config import DebugExporterConfig
from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig
from bridge.exporters.prometheus.config import PrometheusExporterConfig
from bridge.factory import ConnectorFactory, ExporterFactory, Settings
from bridge.pipeline.consumer import Consumer
from bridge.processors.batch.config import BatchProcessorConfig
from bridge.processors.memory_limiter.config import MemoryLimiterConfig
from bridge.processors.probabilistic_sampler import ProbabilisticSamplerConfig
from bridge.processors.tail_sampling import TailSamplingConfig
from bridge.receivers.envoy_als.config import EnvoyALSReceiverConfig


@dataclass
class MetricsOnlyExporterConfig:
    endpoint: str = "0.0.0.0:9464"

    def validate(self) -> None:
        if not self.endpoint.endswith(":9464"):
            raise FieldError(("endpoint",), "this test exporter only listens on 9464")


@dataclass
class SpanMetricsConnectorConfig:
    namespace: str = "span"


def _metricsonly_exporter(settings: Settings, config: MetricsOnlyExporterConfig) -> DebugExporter:
    return DebugExporter(str(settings.id), DebugExporterConfig())


def _pass_through(settings: Settings, config: object, next_consumer: Consumer) -> Consumer:
    return next_consumer


METRICS_ONLY = ExporterFactory(
    type="metricsonly",
    config_class=MetricsOnlyExporterConfig,
    create=_metricsonly_exporter,
    signals=frozenset({"metrics"}),
)
SPAN_METRICS = ConnectorFactory(
    type="spanmetrics",
    config_class=SpanMetricsConnectorConfig,
    create=_pass_through,
    routes=frozenset({("traces", "metrics")}),
)
FORWARD = ConnectorFactory(
    type="forward",
    config_class=SpanMetricsConnectorConfig,
    create=_pass_through,
    routes=frozenset({("traces", "traces")}),
)


@pytest.fixture
def registered() -> Iterator[None]:
    """A metrics-only exporter and a traces->metrics connector, removed again afterwards."""
    components.register(METRICS_ONLY)
    components.register(SPAN_METRICS)
    try:
        yield
    finally:
        components.unregister(METRICS_ONLY)
        components.unregister(SPAN_METRICS)


def test_builtin_registry() -> None:
    assert components.types_of("receiver") == {"envoy_als": EnvoyALSReceiverConfig}
    assert components.types_of("processor") == {
        "batch": BatchProcessorConfig,
        "memory_limiter": MemoryLimiterConfig,
        "probabilistic_sampler": ProbabilisticSamplerConfig,
        "tail_sampling": TailSamplingConfig,
    }
    assert components.supported_signals("processor", "tail_sampling") == {"traces", "logs"}
    assert components.types_of("exporter") == {
        "otlp": OTLPExporterConfig,
        "otlphttp": OTLPHTTPExporterConfig,
        "debug": DebugExporterConfig,
        "prometheus": PrometheusExporterConfig,
    }
    assert components.supported_signals("exporter", "prometheus") == {"metrics"}
    assert components.types_of("connector") == {}
    for kind, type_name in [("receiver", "envoy_als"), ("processor", "batch"), ("exporter", "debug")]:
        assert components.supported_signals(kind, type_name) == {"traces", "metrics", "logs"}  # type: ignore[arg-type]


def test_register_twice_is_a_bug() -> None:
    with pytest.raises(ValueError, match="already registered"):
        components.register(
            ExporterFactory(type="debug", config_class=DebugExporterConfig, create=_metricsonly_exporter)
        )


def test_register_rejects_unknown_signals() -> None:
    with pytest.raises(ValueError, match="non-empty subset"):
        components.register(
            ExporterFactory(
                type="x",
                config_class=DebugExporterConfig,
                create=_metricsonly_exporter,
                signals=frozenset({"profiles"}),  # type: ignore[arg-type]
            )
        )
    assert "x" not in components.types_of("exporter")


def config(pipelines: dict[str, Any], **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "receivers": {"envoy_als": None},
        "exporters": {"debug": None, "metricsonly": None},
        "service": {"pipelines": pipelines},
    }
    data.update(sections)
    return data


@pytest.mark.usefixtures("registered")
def test_component_in_a_pipeline_of_a_signal_it_does_not_support() -> None:
    pipelines = {
        "metrics": {"receivers": ["envoy_als"], "exporters": ["metricsonly"]},
        "traces": {"receivers": ["envoy_als"], "exporters": ["debug", "metricsonly"]},
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(config(pipelines), "c.yaml")
    assert str(caught.value) == (
        "c.yaml: service.pipelines.traces.exporters[1]: exporter 'metricsonly' does not support traces; "
        "it handles metrics"
    )


@pytest.mark.usefixtures("registered")
def test_registered_type_is_known_and_its_validate_method_runs() -> None:
    pipelines = {"metrics": {"receivers": ["envoy_als"], "exporters": ["metricsonly/x"]}}
    exporters = {"metricsonly/x": {"endpoint": "0.0.0.0:1"}}
    with pytest.raises(
        ConfigError, match=r"^c\.yaml: exporters\.metricsonly/x\.endpoint: this test exporter only"
    ):
        parse_config(config(pipelines, exporters=exporters), "c.yaml")


@pytest.mark.usefixtures("registered")
def test_connector_joins_two_pipelines() -> None:
    pipelines = {
        "traces": {"receivers": ["envoy_als"], "exporters": ["spanmetrics"]},
        "metrics": {"receivers": ["spanmetrics"], "exporters": ["metricsonly"]},
    }
    loaded = parse_config(config(pipelines, connectors={"spanmetrics": None}), "c.yaml")
    assert loaded.connectors == {ComponentID("spanmetrics"): SpanMetricsConnectorConfig()}
    assert loaded.warnings == ["exporters.debug: defined but used by no pipeline; it will not run"]


@pytest.mark.usefixtures("registered")
def test_connector_used_on_one_side_only() -> None:
    pipelines = {"traces": {"receivers": ["envoy_als"], "exporters": ["spanmetrics", "debug"]}}
    with pytest.raises(ConfigError) as caught:
        parse_config(config(pipelines, connectors={"spanmetrics": None}), "c.yaml")
    assert str(caught.value) == (
        "c.yaml: service.pipelines.traces.exporters[0]: connector 'spanmetrics' is the receiver of no "
        "pipeline it can feed from traces (it joins traces -> metrics)"
    )


@pytest.mark.usefixtures("registered")
def test_connector_route_it_does_not_support() -> None:
    pipelines = {
        "traces": {"receivers": ["envoy_als"], "exporters": ["spanmetrics"]},
        "logs": {"receivers": ["spanmetrics"], "exporters": ["debug"]},
    }
    with pytest.raises(
        ConfigError, match=r"traces\.exporters\[0\]: connector 'spanmetrics' is the receiver of no"
    ):
        parse_config(config(pipelines, connectors={"spanmetrics": None}), "c.yaml")


@pytest.mark.usefixtures("registered")
def test_connector_id_must_not_shadow_an_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    shadow = ExporterFactory(
        type="spanmetrics", config_class=SpanMetricsConnectorConfig, create=_metricsonly_exporter
    )
    monkeypatch.setattr(components, "FACTORIES", [*components.FACTORIES, shadow])
    pipelines = {"traces": {"receivers": ["envoy_als"], "exporters": ["debug"]}}
    with pytest.raises(
        ConfigError, match=r"connectors\.spanmetrics: the id is also defined under 'exporters'"
    ):
        parse_config(
            config(
                pipelines, connectors={"spanmetrics": None}, exporters={"debug": None, "spanmetrics": None}
            ),
            "c.yaml",
        )


def test_unknown_connector_type_lists_none() -> None:
    pipelines = {"traces": {"receivers": ["envoy_als"], "exporters": ["debug"]}}
    with pytest.raises(ConfigError) as caught:
        parse_config(config(pipelines, exporters={"debug": None}, connectors={"forward": None}), "c.yaml")
    assert str(caught.value) == (
        "c.yaml: connectors.forward: unknown connector type 'forward' (known connector types: none yet)"
    )


def test_connector_cycle_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(components, "FACTORIES", [*components.FACTORIES, FORWARD])
    pipelines = {
        "traces/a": {"receivers": ["envoy_als", "forward/b"], "exporters": ["forward/a"]},
        "traces/b": {"receivers": ["forward/a"], "exporters": ["forward/b", "debug"]},
    }
    connectors = {"forward/a": None, "forward/b": None}
    with pytest.raises(
        ConfigError, match=r"service\.pipelines: connectors form a cycle: traces/a -> traces/b -> traces/a"
    ):
        parse_config(config(pipelines, exporters={"debug": None}, connectors=connectors), "c.yaml")
