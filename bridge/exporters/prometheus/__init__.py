"""`prometheus` exporter: a `/metrics` endpoint for Prometheus to scrape (metrics only).

`naming` and `labels` translate OTLP names as Prometheus' OTLP translator does, `store` keeps the
latest cumulative value per series, `exposition` writes text 0.0.4 or OpenMetrics, `exporter` serves it.
"""

from bridge.exporters.prometheus.config import PrometheusExporterConfig
from bridge.exporters.prometheus.exporter import PrometheusExporter
from bridge.exporters.prometheus.factory import factory

__all__ = ["PrometheusExporter", "PrometheusExporterConfig", "factory"]
