"""Resources: a workload's, and the bridge's own for aggregated metrics, made once and kept.

Each encoder owns a `Resources`: the encoded resource of a workload is made once and reused for
every span and log record of that workload, in every request.
"""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from bridge.attributes import AttrValue
from bridge.cache import BoundedCache
from bridge.identity import Workload, resource_attributes
from bridge.otlp.common import BRIDGE_VERSION, key_values
from bridge.otlp.wire import len_field

_MAX_RESOURCES = 20_000  # a churn of pods must not grow a cache forever


@dataclass(frozen=True, slots=True)
class MetricResource:
    """The resource of aggregated metrics: a workload (semconv family) or the bridge itself
    (None), always tagged with the bridge instance that aggregated it, so that no two bridge
    processes write the same series."""

    workload: Workload | None
    bridge_instance: str


def workload_resource(workload: Workload) -> Resource:
    return Resource(attributes=key_values(resource_attributes(workload)))


def metric_resource(key: MetricResource) -> Resource:
    if key.workload is None:
        attrs: list[tuple[str, AttrValue]] = [
            ("service.name", "als-bridge"),
            ("service.version", BRIDGE_VERSION),
            ("service.instance.id", key.bridge_instance),
        ]
    else:
        attrs = []
        own_instance = ""
        for k, v in resource_attributes(key.workload):
            if k == "service.instance.id":
                own_instance = str(v)
            else:
                attrs.append((k, v))
        attrs.append(
            ("service.instance.id", f"{own_instance or key.workload.workload}@{key.bridge_instance}")
        )
    return Resource(attributes=key_values(attrs))


class Resources:
    """Per workload (or metric resource): its `Resource` message and its encoded field under `tag`."""

    def __init__(self, tag: bytes, max_entries: int = _MAX_RESOURCES) -> None:
        self._tag = tag
        self._messages: BoundedCache[Workload, Resource] = BoundedCache(max_entries)
        self._fields: BoundedCache[Workload | MetricResource, bytes] = BoundedCache(max_entries)

    def message(self, workload: Workload) -> Resource:
        resource = self._messages.get(workload)
        if resource is None:
            resource = self._messages.put(workload, workload_resource(workload))
        return resource

    def field(self, workload: Workload) -> bytes:
        """The `resource` field of a ResourceSpans / ResourceLogs for `workload`."""
        block = self._fields.get(workload)
        if block is None:
            block = self._fields.put(
                workload, len_field(self._tag, self.message(workload).SerializeToString())
            )
        return block

    def metric_field(self, key: MetricResource) -> bytes:
        """The `resource` field of a ResourceMetrics for `key`."""
        block = self._fields.get(key)
        if block is None:
            block = self._fields.put(key, len_field(self._tag, metric_resource(key).SerializeToString()))
        return block
