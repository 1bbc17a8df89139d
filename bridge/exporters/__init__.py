"""Exporters: the interface (`base`), the queue in front of each (`queue`), the config pieces they
embed (`shared_config`), and one folder per exporter with its config and factory.

`otlp` (OTLP/gRPC), `otlphttp` (OTLP/HTTP protobuf), `debug` (text lines) and `prometheus` (a
scrape endpoint). Each exporter sends one request and reports how it went; `QueuedExporter` adds
the bounded queue, the retries and the counts, so a slow or dead backend holds up nothing but its
own queue.
"""

from bridge.exporters.base import Exporter, ExportError, ExportRequest, Signal, count_items
from bridge.exporters.queue import QueuedExporter

__all__ = ["ExportError", "ExportRequest", "Exporter", "QueuedExporter", "Signal", "count_items"]
