"""Hand-built `ExportMetricsServiceRequest`s: for the prometheus exporter tests and the real-store tests."""

from __future__ import annotations

import time
from collections.abc import Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2

CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
Attrs = dict[str, str | bool | int | float]
RESOURCE: Attrs = {
    "service.name": "reviews",
    "service.namespace": "bookinfo",
    "service.instance.id": "reviews-v1-7f9.bookinfo",
    "k8s.pod.name": "reviews-v1-7f9",
}


def key_values(attributes: Attrs) -> list[KeyValue]:
    return [KeyValue(key=key, value=_any(value)) for key, value in attributes.items()]


def _any(value: str | bool | int | float) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=value)


def request(*metrics: metrics_pb2.Metric, resource: Attrs | None = None) -> ExportMetricsServiceRequest:
    """One resource, one scope, the given metrics."""
    req = ExportMetricsServiceRequest()
    resource_metrics = req.resource_metrics.add()
    resource_metrics.resource.attributes.extend(key_values(RESOURCE if resource is None else resource))
    resource_metrics.scope_metrics.add().metrics.extend(metrics)
    return req


def counter(
    name: str,
    points: Sequence[tuple[Attrs, float]],
    unit: str = "",
    temporality: int = CUMULATIVE,
    monotonic: bool = True,
    description: str = "",
    time_unix_nano: int | None = None,
) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit=unit, description=description)
    metric.sum.is_monotonic = monotonic
    metric.sum.aggregation_temporality = temporality  # type: ignore[assignment]
    when = time.time_ns() if time_unix_nano is None else time_unix_nano
    for attributes, value in points:
        point = metric.sum.data_points.add(time_unix_nano=when, as_double=value)
        point.attributes.extend(key_values(attributes))
    return metric


def gauge(name: str, points: Sequence[tuple[Attrs, float]], unit: str = "") -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit=unit)
    for attributes, value in points:
        point = metric.gauge.data_points.add(time_unix_nano=time.time_ns(), as_double=value)
        point.attributes.extend(key_values(attributes))
    return metric


def histogram(
    name: str,
    attributes: Attrs,
    bounds: Sequence[float],
    counts: Sequence[int],
    total: float,
    unit: str = "s",
    temporality: int = CUMULATIVE,
) -> metrics_pb2.Metric:
    metric = metrics_pb2.Metric(name=name, unit=unit)
    metric.histogram.aggregation_temporality = temporality  # type: ignore[assignment]
    point = metric.histogram.data_points.add(
        time_unix_nano=time.time_ns(),
        count=sum(counts),
        sum=total,
        explicit_bounds=list(bounds),
        bucket_counts=list(counts),
    )
    point.attributes.extend(key_values(attributes))
    return metric


def istio_request() -> ExportMetricsServiceRequest:
    """What the real-store tests feed both paths: an Istio-style counter and a duration histogram."""
    destination = {"reporter": "destination", "destination_service": "reviews"}
    return request(
        counter(
            "istio_requests_total",
            [
                ({**destination, "response_code": "200"}, 42.0),
                ({**destination, "response_code": "503"}, 3.0),
                ({"reporter": "source", "response_code": "200"}, 40.0),
            ],
            description="Requests",
        ),
        histogram(
            "istio_request_duration_milliseconds",
            {**destination, "response_code": "200"},
            bounds=[10, 50, 100, 500],
            counts=[10, 20, 10, 2, 0],
            total=2100.0,
            unit="ms",
        ),
    )
