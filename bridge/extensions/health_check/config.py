"""Configuration of the `health_check` extension (the Collector's keys where they exist)."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.config.fields import FieldError, check_host_port
from bridge.config.types import Duration


@dataclass
class HealthCheckConfig:
    """`health_check`: liveness on `path` (and `/healthz`), readiness on `/readyz`, drain on `/drain`."""

    endpoint: str = "0.0.0.0:13133"  # the Collector's port; 0 picks a free one
    path: str = "/"  # the liveness path (the Collector's key); `/healthz` answers the same
    # GET /drain (a Kubernetes preStop hook) flips readiness to 503, then answers after this long,
    # so the kubelet sends SIGTERM only once the pod has left every endpoint list. 0 = at once.
    drain_delay: Duration = 5.0

    def validate(self) -> None:
        """Called by the config loader: a bad endpoint or path is an error before anything starts."""
        check_host_port("endpoint", self.endpoint)
        if not self.path.startswith("/"):
            raise FieldError(("path",), f"must start with '/'; got {self.path!r}")
        if self.path in (READY_PATH, DRAIN_PATH):
            raise FieldError(("path",), f"{self.path} is taken by the extension itself; choose another")
        if not 0 <= self.drain_delay <= 120:
            raise FieldError(("drain_delay",), f"must be between 0s and 120s; got {self.drain_delay}s")


LIVE_PATH = "/healthz"
READY_PATH = "/readyz"
DRAIN_PATH = "/drain"
