"""Span metrics in the Collector `spanmetrics` connector's shape: what Jaeger's Monitor tab reads.

Why here: every span the bridge builds is known at this point, before any sampling, so the call
rates and latencies are exact even when the traces pipeline samples.

Metrics (OTLP name, unit -> Prometheus name after Prometheus' OTLP translation):

| OTLP name                              | kind      | unit | Prometheus                                    |
|----------------------------------------|-----------|------|-----------------------------------------------|
| `traces_span_metrics_calls_total`      | counter   | ""   | `traces_span_metrics_calls_total`             |
| `traces_span_metrics_duration_seconds` | histogram | s    | `traces_span_metrics_duration_seconds_bucket` |

Jaeger reads these with `metric_namespace: traces_span_metrics`, `normalize_calls: true`,
`normalize_duration: true` and `latency_unit: s` (its default unit is ms).

Labels, with the values the connector gives them after Prometheus' translation: `service_name`
(the span's resource `service.name`), `span_name`, `span_kind` (`SPAN_KIND_SERVER`,
`SPAN_KIND_CLIENT`), `status_code` (`STATUS_CODE_UNSET`, `STATUS_CODE_ERROR`, `STATUS_CODE_OK`).
One point per span of the entry (`SpanSet.spans`), so the synthesized CLIENT spans of
`reporters: server_side` count under their caller's name, as they appear in the traces.

Cost: `points` runs only when the recorder meets a new entry key (`bridge.metrics.plan`, whose
key holds each span's name, kind and status); a repeat costs one counter addition and one
histogram observation per span.
"""

from __future__ import annotations

from bridge.decode import EntryView
from bridge.identity import Ends, Workload, resource_attributes
from bridge.identity.by_identity import ByIdentity
from bridge.metrics.config import SpanMetricsConfig
from bridge.metrics.points import Point, Value, record_points
from bridge.metrics.store import MetricStore
from bridge.spans import Reporters, SpanSet

LABELS = ("service_name", "span_name", "span_kind", "status_code")
CACHE_SIZE = 10_000

# OTLP enum value -> the name the spanmetrics connector writes as a label value
SPAN_KINDS = {
    0: "SPAN_KIND_UNSPECIFIED",
    1: "SPAN_KIND_INTERNAL",
    2: "SPAN_KIND_SERVER",
    3: "SPAN_KIND_CLIENT",
}
STATUS_CODES = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}


def resource_service_name(w: Workload) -> str:
    """The `service.name` of the workload's resource, exactly as the spans carry it."""
    for key, value in resource_attributes(w):
        if key == "service.name":
            return str(value)
    return ""


class SpanMetricsFamily:
    """Records `traces_span_metrics_*`; resource: the bridge itself (None)."""

    def __init__(self, store: MetricStore, config: SpanMetricsConfig) -> None:
        self._calls = store.counter(
            "traces_span_metrics_calls_total", "Spans, by name, kind and status", "", LABELS
        )
        self._duration = store.histogram(
            "traces_span_metrics_duration_seconds", "Span duration", "s", LABELS, config.latency_buckets
        )
        self._names: ByIdentity[str] = ByIdentity(CACHE_SIZE)

    def record(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> None:
        """The reference path: find the series of every point of the entry and add to them."""
        record_points(self.points(view, ends, spans, reporters), view, spans.spans)

    def points(self, view: EntryView, ends: Ends, spans: SpanSet, reporters: Reporters) -> list[Point]:
        """A call and a duration for every span of the entry."""
        points = []
        for index, (workload, span) in enumerate(spans.spans):
            labels = (
                self._service_name(workload),
                span.name,
                SPAN_KINDS.get(span.kind, "SPAN_KIND_UNSPECIFIED"),
                STATUS_CODES.get(span.status_code, "STATUS_CODE_UNSET"),
            )
            points.append(Point(self._calls, None, labels, Value.ONE))
            points.append(Point(self._duration, None, labels, Value.SPAN_SECONDS, index))
        return points

    def _service_name(self, w: Workload) -> str:
        return self._names.get(w, None, None, lambda: resource_service_name(w))
