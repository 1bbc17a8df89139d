"""One module per metric family; each records from (EntryView, Ends, SpanSet) into a MetricStore.

| family       | module           | metrics                                   | resource             |
|--------------|------------------|-------------------------------------------|----------------------|
| istio        | `istio`          | `istio_requests_total` and its siblings   | the bridge (None)    |
| servicegraph | `servicegraph`   | `traces_service_graph_*`                  | the bridge (None)    |
| spanmetrics  | `spanmetrics`    | `traces_span_metrics_*`                   | the bridge (None)    |
| semconv      | `semconv`        | `http.*.request.duration`, `rpc.*.call.duration` | the span's workload |

The first three describe calls between workloads in their labels, so they live on the bridge's
own resource: each bridge replica writes its own series and a PromQL `sum()` adds them up.
"""

from __future__ import annotations

from bridge.metrics.config import MetricsConfig
from bridge.metrics.families.base import MetricFamily
from bridge.metrics.families.istio import IstioFamily
from bridge.metrics.families.semconv import SemconvFamily
from bridge.metrics.families.servicegraph import ServiceGraphFamily
from bridge.metrics.families.spanmetrics import SpanMetricsFamily
from bridge.metrics.store import MetricStore

__all__ = [
    "IstioFamily",
    "MetricFamily",
    "SemconvFamily",
    "ServiceGraphFamily",
    "SpanMetricsFamily",
    "build_families",
]


def build_families(store: MetricStore, metrics_config: MetricsConfig) -> list[MetricFamily]:
    """The enabled families, their instruments created in `store`, in a fixed order."""
    families: list[MetricFamily] = []
    if metrics_config.istio.enabled:
        families.append(IstioFamily(store, metrics_config.istio))
    if metrics_config.servicegraph.enabled:
        families.append(ServiceGraphFamily(store, metrics_config.servicegraph))
    if metrics_config.spanmetrics.enabled:
        families.append(SpanMetricsFamily(store, metrics_config.spanmetrics))
    if metrics_config.semconv.enabled:
        families.append(SemconvFamily(store, metrics_config.semconv))
    return families
