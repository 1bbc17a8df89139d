"""The metrics of an encoded `ExportMetricsServiceRequest`, one `Metric` at a time.

Why not parse the request whole: with tens of thousands of series a cumulative export is tens of
megabytes, and a parsed protobuf of it several times that, all alive at once while the store
takes it in. Walking the wire format to each `Metric` and parsing only that keeps the peak at
one metric's size. Only the framing is read here (three levels of length-delimited fields, with
`bridge.protowire`); every message that is used is parsed by protobuf itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from bridge.protowire import LEN, fields

# Field numbers (opentelemetry/proto/metrics/v1/metrics.proto and the collector service).
_REQUEST_RESOURCE_METRICS = 1
_RESOURCE_METRICS_RESOURCE = 1
_RESOURCE_METRICS_SCOPE_METRICS = 2
_SCOPE_METRICS_METRICS = 2


@dataclass(slots=True)
class ResourceBlock:
    """One `ResourceMetrics`: its resource, and its metrics still encoded."""

    resource: Resource
    metrics: list[memoryview]

    def parsed(self) -> Iterator[Metric]:
        for raw in self.metrics:
            yield Metric.FromString(raw.tobytes())


def length_delimited(buf: memoryview, wanted: int) -> Iterator[memoryview]:
    """The values of field `wanted` (length-delimited) of one message; other fields are skipped."""
    for number, wire_type, start, end in fields(buf):
        if number == wanted and wire_type == LEN:
            yield buf[start:end]


def resource_blocks(payload: bytes) -> list[ResourceBlock]:
    """Each `ResourceMetrics` of the request, its resource parsed and its metrics framed.

    The whole request is framed before anything is returned, so a truncated request is refused
    before any of it reaches the store."""
    return list(_blocks(memoryview(payload)))


def _blocks(request: memoryview) -> Iterator[ResourceBlock]:
    for resource_metrics in length_delimited(request, _REQUEST_RESOURCE_METRICS):
        resource = Resource()
        for raw in length_delimited(resource_metrics, _RESOURCE_METRICS_RESOURCE):
            resource.MergeFromString(raw.tobytes())  # protobuf merges a repeated occurrence
        metrics = [
            metric
            for scope_metrics in length_delimited(resource_metrics, _RESOURCE_METRICS_SCOPE_METRICS)
            for metric in length_delimited(scope_metrics, _SCOPE_METRICS_METRICS)
        ]
        yield ResourceBlock(resource, metrics)
