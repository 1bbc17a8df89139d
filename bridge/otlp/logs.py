"""OTLP log requests, built as protobuf messages (log records are built as messages by
`bridge.logs`; a request of them is assembled here, one ResourceLogs per workload)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs

from bridge.identity import Workload
from bridge.otlp.common import SCHEMA_URL, SCOPE
from bridge.otlp.resources import Resources
from bridge.otlp.tags import RESOURCE_LOGS_RESOURCE


def group(items: Iterable[tuple[Any, Any]]) -> dict[Any, list[Any]]:
    """Items by their resource key, in order of first appearance."""
    grouped: dict[Any, list[Any]] = {}
    for key, item in items:
        bucket = grouped.get(key)
        if bucket is None:
            grouped[key] = [item]
        else:
            bucket.append(item)
    return grouped


class LogEncoder:
    """Builds `ExportLogsServiceRequest`s; owns its resource cache."""

    def __init__(self) -> None:
        self._resources = Resources(RESOURCE_LOGS_RESOURCE)

    def encode(self, items: Iterable[tuple[Workload, LogRecord]]) -> ExportLogsServiceRequest:
        request = ExportLogsServiceRequest()
        for workload, records in group(items).items():
            rl: ResourceLogs = request.resource_logs.add()
            rl.resource.CopyFrom(self._resources.message(workload))
            rl.schema_url = SCHEMA_URL
            sl: ScopeLogs = rl.scope_logs.add()
            sl.scope.CopyFrom(SCOPE)
            sl.log_records.extend(records)
        return request
