"""The `otlphttp` exporter's factory: OTLP over HTTP/protobuf, every signal."""

from __future__ import annotations

from bridge.exporters.otlphttp.config import OTLPHTTPExporterConfig
from bridge.exporters.otlphttp.exporter import OTLPHTTPExporter
from bridge.factory import ExporterFactory, Settings


def _create(settings: Settings, config: OTLPHTTPExporterConfig) -> OTLPHTTPExporter:
    return OTLPHTTPExporter(str(settings.id), config)


factory = ExporterFactory(type="otlphttp", config_class=OTLPHTTPExporterConfig, create=_create)
