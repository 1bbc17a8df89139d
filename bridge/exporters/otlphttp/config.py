"""`otlphttp` exporter configuration: the Collector's `otlphttp` exporter keys and defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.config.fields import FieldError, http_url_problem
from bridge.config.types import Duration, Secret
from bridge.exporters.shared_config import QueueConfig, RetryConfig, TLSClientConfig


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
    sending_queue: QueueConfig = field(default_factory=QueueConfig)
    retry_on_failure: RetryConfig = field(default_factory=RetryConfig)

    def validate(self) -> None:
        for key in ("endpoint", "traces_endpoint", "metrics_endpoint", "logs_endpoint"):
            url: str = getattr(self, key)
            problem = (url or key == "endpoint") and http_url_problem(url)
            if problem:
                raise FieldError((key,), f"{problem}; got {url!r}")
