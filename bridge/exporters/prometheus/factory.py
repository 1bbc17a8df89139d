"""The `prometheus` exporter's factory: a scrape endpoint, metrics only."""

from __future__ import annotations

from dataclasses import replace

from bridge.config import Signal
from bridge.exporters.prometheus.config import PrometheusExporterConfig
from bridge.exporters.prometheus.exporter import PrometheusExporter
from bridge.factory import ExporterFactory, Settings


def _create(settings: Settings, config: PrometheusExporterConfig) -> PrometheusExporter:
    return PrometheusExporter(str(settings.id), config)


def _for_worker(config: PrometheusExporterConfig, worker: int) -> PrometheusExporterConfig:
    """Worker i serves on the configured port + i (scrape each); port 0 stays any free port."""
    host, _, port = config.endpoint.rpartition(":")
    return replace(config, endpoint=f"{host}:{int(port) + worker}") if int(port) else config


factory = ExporterFactory(
    type="prometheus",
    config_class=PrometheusExporterConfig,
    create=_create,
    signals=frozenset({Signal.METRICS}),
    for_worker=_for_worker,
)
