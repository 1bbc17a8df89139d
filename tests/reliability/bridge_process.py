"""The bridge as users run it (`python -m bridge --config FILE`), for reliability tests and bench.

A subprocess, not the in-process `running_bridge`, because the reliability claims are about the
process: its RSS, its exit code after SIGTERM, what survives kill -9. Its stderr is read on a
thread the whole time (a full pipe would stall the bridge's logging and so the bridge), and the
ports it picked come from its start-up log lines.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

_ALS_PORT = re.compile(r"receiver \S+ listening on \S+ \(port (\d+)")
_PROM_PORT = re.compile(r"serving /metrics on \S+ \(port (\d+)\)")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def bridge_config(
    otlp_endpoint: str,
    *,
    queue: dict[str, Any] | None = None,
    retry: dict[str, Any] | None = None,
    receiver: dict[str, Any] | None = None,
    batch_timeout: str = "200ms",
) -> dict[str, Any]:
    """Traces to the sink over OTLP/gRPC, plus a metrics pipeline to a `prometheus` exporter on a
    free port: its scrape carries the `als_bridge_*` counters that account for every drop."""
    otlp: dict[str, Any] = {"endpoint": otlp_endpoint, "tls": {"insecure": True}}
    if queue:
        otlp["sending_queue"] = queue
    if retry:
        otlp["retry_on_failure"] = retry
    return {
        "receivers": {"envoy_als": {"endpoint": "127.0.0.1:0", **(receiver or {})}},
        "processors": {"batch": {"timeout": batch_timeout}},
        "exporters": {"otlp": otlp, "prometheus": {"endpoint": "127.0.0.1:0"}},
        "service": {
            "pipelines": {
                "traces": {"receivers": ["envoy_als"], "processors": ["batch"], "exporters": ["otlp"]},
                "metrics": {"receivers": ["envoy_als"], "exporters": ["prometheus"]},
            }
        },
    }


class BridgeProcess:
    """One running bridge process; `als_port` and `metrics_port` are known once `start` returns."""

    def __init__(self, config: dict[str, Any], workdir: Path) -> None:
        self.path = workdir / "bridge.yaml"
        self.path.write_text(yaml.safe_dump(config))
        self.proc: subprocess.Popen[str] | None = None
        self.als_port = 0
        self.metrics_port = 0
        self.lines: list[str] = []
        self._ready = threading.Event()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 30.0) -> BridgeProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge", "--config", str(self.path)], stderr=subprocess.PIPE, text=True
        )
        threading.Thread(target=self._read_stderr, name="bridge-stderr", daemon=True).start()
        if not self._ready.wait(timeout) or not self.als_port:
            self.kill()
            raise RuntimeError("the bridge did not start:\n" + "".join(self.lines[-20:]))
        return self

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)
            if match := _ALS_PORT.search(line):
                self.als_port = int(match.group(1))
            elif match := _PROM_PORT.search(line):
                self.metrics_port = int(match.group(1))
            if self.als_port and (self.metrics_port or "prometheus" not in self.path.read_text()):
                self._ready.set()
        self._ready.set()  # the process ended: let `start` see it

    def scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The bridge's live own counters from `GET /metrics`, keyed by (name, sorted labels).

        Series with a `job` label are left out: those are the same `als_bridge_*` counters as
        the metrics pipeline last flushed them (every `interval`), so they lag the live ones.
        """
        return {key: v for key, v in self.exposition().items() if not any(k == "job" for k, _ in key[1])}

    def exposition(self, timeout: float = 60.0) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of `GET /metrics`, keyed by (name, sorted labels)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=timeout) as resp:
            return parse_exposition(resp.read().decode())

    def counter(self, name: str, **labels: str) -> float:
        """The sum of `name` over the series whose labels include `labels`."""
        want = set(labels.items())
        return sum(v for (n, lbl), v in self.scrape().items() if n == name and want <= set(lbl))

    def rss_kib(self) -> int:
        """The process' resident set now (VmRSS)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def terminate(self, timeout: float = 20.0) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took to exit)."""
        assert self.proc is not None
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        """SIGKILL (kill -9) if it still runs; only our own child, by its PID."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@contextmanager
def bridge_process(config: dict[str, Any], workdir: Path) -> Iterator[BridgeProcess]:
    """A started bridge, killed on the way out if the body did not stop it."""
    bridge = BridgeProcess(config, workdir)
    try:
        yield bridge.start()
    finally:
        bridge.kill()


def parse_exposition(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text format -> {(name, labels): value}; comments and unparsable lines skipped."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            continue
        labels = tuple(sorted(_LABEL.findall(match.group(2) or "")))
        try:
            out[(match.group(1), labels)] = float(match.group(3))
        except ValueError:
            continue
    return out


def span_request_ids(spans: list[tuple[dict[str, Any], Any]]) -> list[str]:
    """The request id of each span (HTTP: envoy.request_id; TCP: the route name the loadgen set)."""
    ids = []
    for _resource, span in spans:
        attrs = {kv.key: kv.value.string_value for kv in span.attributes}
        ids.append(attrs.get("envoy.request_id") or attrs.get("envoy.route_name", ""))
    return ids
