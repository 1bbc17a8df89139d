"""Configuration shared by the network exporters, and each exporter's config."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.config.types import Duration, Secret


@dataclass
class TLSClientConfig:
    insecure: bool = False  # plaintext (h2c / http); the Collector's `tls.insecure`
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    insecure_skip_verify: bool = False


@dataclass
class OTLPExporterConfig:
    """`otlp`: OTLP over gRPC."""

    endpoint: str = "localhost:4317"
    headers: dict[str, Secret] = field(default_factory=dict)
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)
    compression: Literal["gzip", "none"] = "gzip"
    timeout: Duration = 5.0


@dataclass
class OTLPHTTPExporterConfig:
    """`otlphttp`: OTLP over HTTP/protobuf. `endpoint` gets /v1/traces, /v1/metrics, /v1/logs."""

    endpoint: str = "http://localhost:4318"
    traces_endpoint: str = ""  # used as is when set
    metrics_endpoint: str = ""
    logs_endpoint: str = ""
    headers: dict[str, Secret] = field(default_factory=dict)
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)
    compression: Literal["gzip", "none"] = "gzip"
    timeout: Duration = 5.0


@dataclass
class DebugExporterConfig:
    """`debug`: one line per item on stderr; `detailed` prints every attribute."""

    verbosity: Literal["basic", "normal", "detailed"] = "normal"
