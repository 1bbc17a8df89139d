"""`otlphttp` exporter: OTLP over HTTP/protobuf."""

from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig
from bridge.exporters.otlphttp.exporter import OTLPHTTPExporter
from bridge.exporters.otlphttp.factory import factory

__all__ = ["OTLPHTTPExporter", "OTLPHTTPExporterConfig", "factory"]
