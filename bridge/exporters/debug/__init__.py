"""`debug` exporter: prints spans, data points and log records."""

from bridge.exporters.debug.exporter import DebugExporter

__all__ = ["DebugExporter"]
