"""`health_check`: liveness, readiness and a preStop drain over HTTP, the Collector's extension."""

from bridge.extensions.health_check.config import HealthCheckConfig
from bridge.extensions.health_check.extension import HealthCheckExtension, HealthCheckStartError
from bridge.extensions.health_check.factory import factory

__all__ = ["HealthCheckConfig", "HealthCheckExtension", "HealthCheckStartError", "factory"]
