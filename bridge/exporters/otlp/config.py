"""`otlp` exporter configuration: the Collector's `otlp` exporter keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.config.fields import check_host_port
from bridge.config.types import Duration, Secret
from bridge.exporters.shared_config import QueueConfig, RetryConfig, TLSClientConfig


@dataclass
class OTLPExporterConfig:
    """`otlp`: OTLP over gRPC."""

    endpoint: str = "localhost:4317"
    headers: dict[str, Secret] = field(default_factory=dict)
    tls: TLSClientConfig = field(default_factory=TLSClientConfig)
    compression: Literal["gzip", "none"] = "gzip"
    timeout: Duration = 5.0
    sending_queue: QueueConfig = field(default_factory=QueueConfig)
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)

    def validate(self) -> None:
        check_host_port(
            "endpoint", self.endpoint, " (the gRPC exporter takes host:port; use tls.insecure for plaintext)"
        )
