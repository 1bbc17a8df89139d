"""`otlphttp` exporter: OTLP over HTTP/protobuf."""

from bridge.exporters.otlphttp.exporter import OTLPHTTPExporter

__all__ = ["OTLPHTTPExporter"]
