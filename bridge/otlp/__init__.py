"""Everything that writes OTLP: one encoder per signal, the resources, attributes and field tags.

    tags       named field tags of the OTLP messages written by hand
    wire       varints, length-delimited fields, attributes (cached per encoder)
    common     scope, schema URL, protobuf attribute values
    resources  a workload's resource and the bridge's own, made once per encoder
    traces     `TraceEncoder`: spans as bytes, from shapes encoded once
    logs       `LogEncoder`: log records (protobuf messages) into requests
    metrics    data points and `Metric`s as bytes, `MetricsEncoder` for requests

Each pipeline's export stage owns one encoder, so the caches belong to it. Reading protobuf is
not here: `bridge.protowire` reads framing for the receiver and the `prometheus` exporter.
"""

from bridge.otlp.common import BRIDGE_VERSION, SCHEMA_URL, SCOPE, any_value, key_values
from bridge.otlp.logs import LogEncoder
from bridge.otlp.metrics import MetricsEncoder
from bridge.otlp.resources import MetricResource, metric_resource, workload_resource
from bridge.otlp.traces import TraceEncoder

__all__ = [
    "BRIDGE_VERSION",
    "SCHEMA_URL",
    "SCOPE",
    "LogEncoder",
    "MetricResource",
    "MetricsEncoder",
    "TraceEncoder",
    "any_value",
    "key_values",
    "metric_resource",
    "workload_resource",
]
