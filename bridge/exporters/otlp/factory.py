"""The `otlp` exporter's factory: OTLP over gRPC, every signal."""

from __future__ import annotations

from bridge.exporters.otlp.config import OTLPExporterConfig
from bridge.exporters.otlp.exporter import OTLPExporter
from bridge.factory import ExporterFactory, Settings


def _create(settings: Settings, config: OTLPExporterConfig) -> OTLPExporter:
    return OTLPExporter(str(settings.id), config)


factory = ExporterFactory(type="otlp", config_class=OTLPExporterConfig, create=_create)
