"""`prometheus` exporter configuration: the Collector's `prometheus` exporter keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config.fields import FieldError, check_host_port
from bridge.config.types import Duration


@dataclass
class PrometheusExporterConfig:
    """`prometheus`: serves the latest value of every metric series on `GET /metrics` for scraping."""

    endpoint: str = "0.0.0.0:8889"  # host:port to serve /metrics on; port 0 picks a free port
    namespace: str = ""  # prefix for every translated metric name: `<namespace>_<name>`
    # Copy every resource attribute onto every series (as labels), besides job/instance/target_info.
    resource_to_telemetry_conversion: bool = False
    enable_open_metrics: bool = False  # answer OpenMetrics 1.0.0 to scrapers that ask for it
    metric_expiration: Duration = 300.0  # a series not updated for this long disappears; 0 = never
    add_metric_suffixes: bool = True  # unit and `_total` suffixes, as Prometheus' OTLP translator

    def validate(self) -> None:
        """Called by the config loader; the endpoint is checked like every other listener's."""
        check_host_port("endpoint", self.endpoint)
        if self.metric_expiration < 0:
            raise FieldError(("metric_expiration",), "must not be negative (0 = never expire)")
