"""The last stage of a pipeline: encode the items once, hand the request to every exporter."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bridge.exporters.base import Signal
from bridge.exporters.queue import QueuedExporter
from bridge.otlp import encode_logs
from bridge.otlp_wire import encode_metrics, encode_traces
from bridge.pipeline.consumer import Item

_ENCODERS: dict[Signal, Callable[[list[Item]], Any]] = {
    Signal.TRACES: encode_traces,
    Signal.LOGS: encode_logs,
    Signal.METRICS: encode_metrics,
}


class ExportStage:
    def __init__(self, signal: Signal, exporters: Sequence[QueuedExporter]) -> None:
        self._signal = signal
        self._encode = _ENCODERS[signal]
        self._exporters = exporters

    def consume(self, items: list[Item]) -> None:
        if not items:
            return
        request = self._encode(items)
        for exporter in self._exporters:
            exporter.submit(self._signal, request)

    def flush(self) -> None:
        """Nothing held here; exporters drain their own queues."""

    def shutdown(self) -> None:
        """Exporters are shared between pipelines; the service shuts them down once."""
