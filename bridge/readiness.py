"""What must be up before the bridge takes traffic, and whether it is on its way out.

Kept by the service (`Host.readiness`), read by the `health_check` extension's `/readyz`.

The service declares every component readiness waits for (`expect`), marks each one `up` once
it serves (the receiver listens, the exporter started), and calls `stopping` first thing on
SIGTERM or on a preStop drain: from then on the bridge answers "not ready" for good, so Kubernetes
takes the pod out of the Service's endpoints before the receiver closes its streams and the
pipelines flush. Thread-safe: the HTTP server reads it from its own threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass(frozen=True)
class ReadinessReport:
    """One answer of `/readyz`: ready, or the components that are not and why."""

    ready: bool
    not_ready: dict[str, str]  # component -> why it is not ready
    stopping: str  # why the bridge is shutting down; empty while it is not

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {"status": "ready" if self.ready else "not ready"}
        if self.not_ready:
            body["not_ready"] = dict(self.not_ready)
        if self.stopping:
            body["stopping"] = self.stopping
        return body


class Readiness:
    """Components expected up, the ones not up yet, and the shutdown flag (which never clears)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._not_ready: dict[str, str] = {}
        self._stopping = ""

    def expect(self, component: str, why: str = "not started yet") -> None:
        """Readiness waits for `component` until `up(component)`."""
        with self._lock:
            self._not_ready[component] = why

    def up(self, component: str) -> None:
        with self._lock:
            self._not_ready.pop(component, None)

    def down(self, component: str, why: str) -> None:
        """A component that served stopped serving (readiness waits for it again)."""
        self.expect(component, why)

    def stopping(self, why: str) -> None:
        """The bridge is shutting down: not ready from now on. The first reason given is kept."""
        with self._lock:
            if not self._stopping:
                self._stopping = why

    @property
    def is_stopping(self) -> bool:
        with self._lock:
            return bool(self._stopping)

    def report(self) -> ReadinessReport:
        with self._lock:
            not_ready = dict(self._not_ready)
            stopping = self._stopping
        return ReadinessReport(not not_ready and not stopping, not_ready, stopping)
