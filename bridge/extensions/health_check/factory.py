"""The `health_check` extension's factory: its type, config and how it is built."""

from __future__ import annotations

from dataclasses import replace

from bridge.extensions.health_check.config import HealthCheckConfig
from bridge.extensions.health_check.extension import HealthCheckExtension
from bridge.factory import ExtensionFactory, Settings


def _create(settings: Settings, config: HealthCheckConfig) -> HealthCheckExtension:
    return HealthCheckExtension(str(settings.id), config, settings.host.readiness)


def _for_worker(config: HealthCheckConfig, worker: int) -> HealthCheckConfig:
    """Worker i serves on the configured port + i (as the prometheus exporter does); probe worker 0's."""
    host, _, port = config.endpoint.rpartition(":")
    return replace(config, endpoint=f"{host}:{int(port) + worker}") if int(port) else config


factory = ExtensionFactory(
    type="health_check", config_class=HealthCheckConfig, create=_create, for_worker=_for_worker
)
