"""`debug` exporter: prints spans, data points and log records."""

from bridge.exporters.debug.config import DebugExporterConfig
from bridge.exporters.debug.exporter import DebugExporter
from bridge.exporters.debug.factory import factory

__all__ = ["DebugExporter", "DebugExporterConfig", "factory"]
