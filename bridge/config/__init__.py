"""The bridge's configuration: the Collector's YAML shape read into typed dataclasses.

    config = load_config("config.yaml")          # raises ConfigError naming file, key path, problem
    config.exporters[ComponentID("otlp", "tempo")]  # an OTLPExporterConfig
    config.service.pipelines[ComponentID("traces")].exporters

Which component types exist, and their config classes, is `bridge.components`.
This module imports no component config, so those may import `bridge.config.types` freely.
"""

from bridge.config._errors import ConfigError, FieldError
from bridge.config._loader import load_config, parse_config
from bridge.config._redact import REDACTED, redacted
from bridge.config.model import (
    SIGNALS,
    ComponentID,
    Config,
    PipelineConfig,
    ServiceConfig,
    Signal,
    TelemetryConfig,
    TelemetryLogsConfig,
)

__all__ = [
    "REDACTED",
    "SIGNALS",
    "ComponentID",
    "Config",
    "ConfigError",
    "FieldError",
    "PipelineConfig",
    "ServiceConfig",
    "Signal",
    "TelemetryConfig",
    "TelemetryLogsConfig",
    "load_config",
    "parse_config",
    "redacted",
]
