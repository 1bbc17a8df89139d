"""Real metric stores for tests: VictoriaMetrics (OTLP in, PromQL out) and Prometheus (scrape, PromQL).

`scripts/install-backends` installs both. Each class is a context manager that starts its binary on a
free 127.0.0.1 port with a temporary data directory, waits until it answers, and on exit stops
exactly the process it started. A missing binary skips the test with the install hint, unless
`ALS_BRIDGE_REQUIRE_BACKENDS=1` (for CI, where a skip would hide a broken install) makes it a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

REPO = Path(__file__).parents[2]
VICTORIA_METRICS_BIN = REPO / ".cache/backends/victoria-metrics/usr/bin/victoria-metrics"
PROMETHEUS_BIN = Path("/usr/bin/prometheus")
INSTALL_HINT = "run scripts/install-backends (as root) to install Prometheus and VictoriaMetrics"
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0

Result = list[tuple[dict[str, str], float]]


def find_binary(env_name: str, default: Path, command: str) -> Path:
    """The binary from `$env_name`, else `default`, else `command` on PATH; skips (or fails) if none."""
    candidates = [os.environ.get(env_name, ""), str(default), shutil.which(command) or ""]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return Path(candidate)
    message = f"{command} not found ({INSTALL_HINT})"
    if os.environ.get("ALS_BRIDGE_REQUIRE_BACKENDS") == "1":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class _Store:
    """A store process with an HTTP API on 127.0.0.1:`port` and the Prometheus query API."""

    name = "store"
    ready_path = "/"

    def __init__(self) -> None:
        self.port = free_port()
        self._tmp = tempfile.TemporaryDirectory(prefix=f"als-bridge-{self.name}-")
        self.data_dir = Path(self._tmp.name)
        self._log_path = self.data_dir / "process.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        raise NotImplementedError

    def __enter__(self) -> Self:
        command = self.command()
        with self._log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self.data_dir
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop our own process (by its PID, via Popen) and remove its data."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(_STOP_TIMEOUT)
        self._tmp.cleanup()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def query(self, promql: str) -> Result:
        """An instant PromQL query: [(labels including __name__ when kept, value)]."""
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        data = json.loads(body)
        if data.get("status") != "success":
            raise AssertionError(f"{self.name}: query {promql!r} failed: {body[:500]!r}")
        result = data["data"]["result"]
        if data["data"]["resultType"] == "scalar":
            return [({}, float(result[1]))]
        return [(dict(item["metric"]), float(item["value"][1])) for item in result]

    def wait_for_query(
        self, promql: str, predicate: Callable[[Result], bool] = bool, timeout: float = 20.0
    ) -> Result:
        """Query until `predicate(result)` holds (default: any result); fail with the last result."""
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            result = self.query(promql)
            if predicate(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: {promql!r} gave {result} for {timeout}s\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def flush(self) -> None:
        """Make what was just received queryable, where the store has a way to ask for that."""

    def _get(self, path: str, timeout: float = 5.0) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as response:
            body: bytes = response.read()
            return body

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self._process.returncode}:\n{self.log_tail()}")
            try:
                self._get(self.ready_path, timeout=1.0)
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {_START_TIMEOUT}s:\n{self.log_tail()}")


class VictoriaMetrics(_Store):
    """Single-node VictoriaMetrics ingesting OTLP/HTTP with Prometheus naming.

    `-search.latencyOffset=0s` and `-search.disableCache` keep fresh samples from being hidden or cached,
    and `flush()` (its `/internal/force_flush`) makes them searchable at once: left alone, a new series
    takes about ten seconds to show up.
    """

    name = "victoria-metrics"
    ready_path = "/health"

    def __init__(self) -> None:
        self.binary = find_binary("ALS_BRIDGE_VICTORIA_METRICS", VICTORIA_METRICS_BIN, "victoria-metrics")
        super().__init__()

    @property
    def otlp_metrics_url(self) -> str:
        """The full URL for OTLP/HTTP metrics: give it to `otlphttp` as `metrics_endpoint`."""
        return f"{self.url}/opentelemetry/v1/metrics"

    def flush(self) -> None:
        self._get("/internal/force_flush")

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"-httpListenAddr=127.0.0.1:{self.port}",
            f"-storageDataPath={self.data_dir / 'data'}",
            "-opentelemetry.usePrometheusNaming",
            "-search.latencyOffset=0s",
            "-search.disableCache",
            "-loggerLevel=WARN",
        ]


class Prometheus(_Store):
    """Prometheus scraping `targets` (host:port, path /metrics) every `scrape_interval`.

    `honor_labels: true` as the Collector's docs advise for its `prometheus` exporter: the `job` and
    `instance` on our series are the producers', not the scrape target's.
    """

    name = "prometheus"
    ready_path = "/-/ready"

    def __init__(
        self, targets: list[str], scrape_interval: str = "1s", features: tuple[str, ...] = ()
    ) -> None:
        """`features`: `--enable-feature` flags, e.g. `exemplar-storage` (then it keeps the
        exemplars of OpenMetrics scrapes, for `query_exemplars`)."""
        self.binary = find_binary("ALS_BRIDGE_PROMETHEUS", PROMETHEUS_BIN, "prometheus")
        super().__init__()
        self.targets = targets
        self.scrape_interval = scrape_interval
        self.features = features

    def command(self) -> list[str]:
        config = self.data_dir / "prometheus.yml"
        config.write_text(
            json.dumps(  # JSON is YAML
                {
                    "global": {
                        "scrape_interval": self.scrape_interval,
                        "scrape_timeout": self.scrape_interval,
                    },
                    "scrape_configs": [
                        {
                            "job_name": "als-bridge",
                            "honor_labels": True,
                            "static_configs": [{"targets": self.targets}],
                        }
                    ],
                },
                indent=2,
            )
        )
        return [
            str(self.binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
            *(f"--enable-feature={feature}" for feature in self.features),
        ]

    def query_exemplars(
        self, promql: str, start: float, end: float
    ) -> list[tuple[dict[str, str], dict[str, str], float]]:
        """`/api/v1/query_exemplars`: (series labels, exemplar labels, exemplar value) of each."""
        query = urllib.parse.urlencode({"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}"})
        data = json.loads(self._get("/api/v1/query_exemplars?" + query))
        if data.get("status") != "success":
            raise AssertionError(f"{self.name}: exemplars of {promql!r}: {data}")
        return [
            (dict(item["seriesLabels"]), dict(exemplar["labels"]), float(exemplar["value"]))
            for item in data["data"]
            for exemplar in item["exemplars"]
        ]

    def wait_for_scrape(self, timeout: float = 20.0) -> None:
        """Until every target has been scraped successfully at least once."""
        self.wait_for_query(
            "up", lambda result: len(result) == len(self.targets) and all(v == 1 for _, v in result), timeout
        )
