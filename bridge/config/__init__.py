"""The bridge's configuration: the Collector's YAML shape read into typed dataclasses.

    config = load_config("config.yaml", FACTORIES)  # raises ConfigError naming file, key path, problem
    config.exporters[ComponentID("otlp", "tempo")]    # an OTLPExporterConfig
    config.service.pipelines[ComponentID("traces")].exporters

A leaf package: it imports nothing else of the bridge. Which component types exist is handed to
the loader (`bridge.components.FACTORIES`; `bridge.components.load_config` does it), so every
component config may import `bridge.config.fields` and `bridge.config.types` freely.
"""

from bridge.config._errors import ConfigError, FieldError
from bridge.config._loader import load_config, parse_config
from bridge.config._redact import REDACTED, redacted
from bridge.config.fields import (
    KeyPath,
    check_cert_key_pair,
    check_host_port,
    host_port_problem,
    http_url_problem,
)
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
from bridge.config.registry import ALL_SIGNALS, ComponentType, ComponentTypes, Kind

__all__ = [
    "ALL_SIGNALS",
    "REDACTED",
    "SIGNALS",
    "ComponentID",
    "ComponentType",
    "ComponentTypes",
    "Config",
    "ConfigError",
    "FieldError",
    "KeyPath",
    "Kind",
    "PipelineConfig",
    "ServiceConfig",
    "Signal",
    "TelemetryConfig",
    "TelemetryLogsConfig",
    "check_cert_key_pair",
    "check_host_port",
    "host_port_problem",
    "http_url_problem",
    "load_config",
    "parse_config",
    "redacted",
]
