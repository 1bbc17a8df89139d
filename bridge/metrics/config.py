"""Configuration of the metrics the `envoy_als` receiver computes (`receivers.envoy_als.metrics`).

Collector receivers switch their metrics on and off under `metrics:`; so does this one, per
family. The families are computed from every entry, before any span sampling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.config.types import Duration

# Envoy's default histogram buckets (HistogramSettingsImpl::defaultBuckets), which Istio's
# standard metrics use for durations (ms) and sizes (bytes) alike.
ENVOY_DEFAULT_BUCKETS = [
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
    30000, 60000, 300000, 600000, 1800000, 3600000,
]  # fmt: skip
# OTel HTTP/RPC semantic conventions' advice for *.duration histograms (seconds).
SEMCONV_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
# The Collector's servicegraph and spanmetrics connectors' default latency buckets (seconds).
CONNECTOR_LATENCY_BUCKETS = [0.002, 0.004, 0.006, 0.008, 0.01, 0.05, 0.1, 0.2, 0.4, 0.8, 1, 1.4, 2, 5, 10, 15]


@dataclass
class IstioMetricsConfig:
    """istio_requests_total and its siblings, with Istio's labels: what Istio's dashboards and Kiali read."""

    enabled: bool = True
    duration_buckets: list[float] = field(default_factory=lambda: list(ENVOY_DEFAULT_BUCKETS))  # ms
    size_buckets: list[float] = field(default_factory=lambda: list(ENVOY_DEFAULT_BUCKETS))  # bytes


@dataclass
class ServiceGraphMetricsConfig:
    """traces_service_graph_*: what Grafana's service graph (Tempo data source) reads."""

    enabled: bool = True
    latency_buckets: list[float] = field(default_factory=lambda: list(CONNECTOR_LATENCY_BUCKETS))  # s


@dataclass
class SpanMetricsConfig:
    """traces_span_metrics_*: what Jaeger's Monitor tab reads."""

    enabled: bool = True
    latency_buckets: list[float] = field(default_factory=lambda: list(CONNECTOR_LATENCY_BUCKETS))  # s


@dataclass
class SemconvMetricsConfig:
    """http.server.request.duration and friends (OTel semantic conventions), resource = the workload."""

    enabled: bool = True
    duration_buckets: list[float] = field(default_factory=lambda: list(SEMCONV_DURATION_BUCKETS))  # s


@dataclass
class ExemplarsConfig:
    """Exemplars (trace id, span id, value, time) of exported spans on the request counters and
    duration histograms, at most `max_per_data_point` per series per interval, errors first,
    then the slowest. The keys are the Collector's spanmetrics connector's."""

    enabled: bool = True
    max_per_data_point: int = 4

    def validate(self) -> None:
        if self.max_per_data_point < 1:
            raise ValueError("max_per_data_point must be at least 1 (enabled: false turns exemplars off)")


@dataclass
class MetricsConfig:
    interval: Duration = 15.0  # how often the aggregated metrics go to the metrics pipelines
    temporality: Literal["cumulative", "delta"] = "cumulative"
    max_series_per_metric: int = 10_000  # past it, new label sets fold into an overflow series
    max_series_total: int = 0  # the same over all metrics of the receiver together; 0 = no total cap
    istio: IstioMetricsConfig = field(default_factory=IstioMetricsConfig)
    servicegraph: ServiceGraphMetricsConfig = field(default_factory=ServiceGraphMetricsConfig)
    spanmetrics: SpanMetricsConfig = field(default_factory=SpanMetricsConfig)
    semconv: SemconvMetricsConfig = field(default_factory=SemconvMetricsConfig)
    exemplars: ExemplarsConfig = field(default_factory=ExemplarsConfig)
