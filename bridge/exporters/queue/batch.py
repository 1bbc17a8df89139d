"""`sending_queue.batch`: when a consumer sends, how much it takes, and how requests are merged.

Why merge in the queue: without a `batch` processor every ALS message becomes its own request,
and a backend answers each round trip at its own pace; merged, one round trip carries thousands
of items. Requests of one signal are merged by concatenating their wire bytes: an OTLP export
request is one repeated field (`resource_spans`, `resource_metrics`, `resource_logs`), so the
concatenation of two requests is the request holding the resources of both, as the Collector's
merge appends one request's resources to the other's. No item is re-encoded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bridge.exporters.base import EncodedRequest, ExportRequest, Signal
from bridge.exporters.queue.bounded import QueuedRequest
from bridge.exporters.shared_config import BatchConfig

# gRPC's default receive limit, kept by the Collector's OTLP receiver and most backends: a merged
# request stays under it (metrics requests are cut to it before they are queued).
MAX_MERGED_BYTES = 4 * 1024 * 1024

_MESSAGE_TYPES: dict[Signal, Any] = {
    Signal.TRACES: ExportTraceServiceRequest,
    Signal.METRICS: ExportMetricsServiceRequest,
    Signal.LOGS: ExportLogsServiceRequest,
}


class BatchPolicy:
    """When queued requests are ready to go, and the most one send takes (`batch: null`: one request)."""

    def __init__(self, config: BatchConfig | None) -> None:
        self.config = config
        if config is None:
            self.max_items: float = 0  # the first request is always taken: exactly one
            self.max_bytes: float = 0
        else:
            self.max_items = config.max_size or float("inf")
            self.max_bytes = MAX_MERGED_BYTES

    def wait(self, waiting_items: int, waiting_bytes: int, oldest: float | None) -> float:
        """Seconds until a send is due (0: now), given what waits and when the oldest was queued."""
        config = self.config
        if config is None or oldest is None:
            return 0.0
        if waiting_items >= config.min_size or waiting_bytes >= MAX_MERGED_BYTES:
            return 0.0
        return max(oldest + float(config.flush_timeout) - time.monotonic(), 0.0)


def merge(signal: Signal, entries: Sequence[QueuedRequest]) -> ExportRequest:
    """One request holding every item of `entries` (all of `signal`), in their order."""
    if len(entries) == 1:
        return entries[0].request
    payload = b"".join(entry.request.SerializeToString() for entry in entries)
    return EncodedRequest(payload, sum(entry.items for entry in entries), _MESSAGE_TYPES[signal])
