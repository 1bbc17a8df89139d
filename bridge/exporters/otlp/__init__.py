"""`otlp` exporter: OTLP over gRPC."""

from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.otlp.exporter import OTLPExporter
from bridge.exporters.otlp.factory import factory

__all__ = ["OTLPExporter", "OTLPExporterConfig", "factory"]
