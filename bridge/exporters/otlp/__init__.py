"""`otlp` exporter: OTLP over gRPC."""

from bridge.exporters.otlp.exporter import OTLPExporter

__all__ = ["OTLPExporter"]
