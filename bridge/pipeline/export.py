"""The last stage of a pipeline: encode the items once, hand the request to every exporter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bridge.exporters.base import Signal
from bridge.exporters.queue import QueuedExporter
from bridge.otlp import LogEncoder, MetricsEncoder, TraceEncoder
from bridge.pipeline.consumer import Item

# One encoder per export stage: its caches are the stage's, shared by whichever thread flushes.
_ENCODERS: dict[Signal, Callable[[], TraceEncoder | LogEncoder | MetricsEncoder]] = {
    Signal.TRACES: TraceEncoder,
    Signal.LOGS: LogEncoder,
    Signal.METRICS: MetricsEncoder,
}


# gRPC's default receive limit, which the Collector's OTLP receiver and most others keep: a bigger
# request is refused whole. Metrics are the signal that gets there on its own: every interval
# exports every series, and ten thousand Istio series are over ten megabytes.
MAX_METRICS_REQUEST_BYTES = 4 * 1024 * 1024
_REQUEST_HEADROOM = 64 * 1024  # resources, scopes and length prefixes around the metrics


def metric_requests(items: list[Item], limit: int = MAX_METRICS_REQUEST_BYTES) -> list[list[Item]]:
    """Metric items grouped, in order, into requests that stay under `limit` bytes. A single
    `Metric` over the limit still goes alone (the store keeps them to a quarter of it)."""
    budget = limit - _REQUEST_HEADROOM
    parts: list[list[Item]] = [[]]
    size = 0
    for item in items:
        item_size = len(item[1][0]) + 8  # the Metric and its field's tag and length
        if parts[-1] and size + item_size > budget:
            parts.append([])
            size = 0
        parts[-1].append(item)
        size += item_size
    return parts


class ExportStage:
    def __init__(self, signal: Signal, exporters: Sequence[QueuedExporter]) -> None:
        self._signal = signal
        self._encode: Callable[[list[Item]], Any] = _ENCODERS[signal]().encode
        self._exporters = exporters

    def consume(self, items: list[Item]) -> None:
        if not items:
            return
        parts = metric_requests(items) if self._signal is Signal.METRICS else [items]
        for part in parts:
            request = self._encode(part)
            for exporter in self._exporters:
                exporter.submit(self._signal, request)

    def flush(self) -> None:
        """Nothing held here; exporters drain their own queues."""

    def shutdown(self) -> None:
        """Exporters are shared between pipelines; the service shuts them down once."""
