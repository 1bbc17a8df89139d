"""The `debug` exporter's factory: text lines on stderr, every signal."""

from __future__ import annotations

from bridge.exporters.debug.config import DebugExporterConfig
from bridge.exporters.debug.exporter import DebugExporter
from bridge.factory import ExporterFactory, Settings


def _create(settings: Settings, config: DebugExporterConfig) -> DebugExporter:
    return DebugExporter(str(settings.id), config)


factory = ExporterFactory(type="debug", config_class=DebugExporterConfig, create=_create)
