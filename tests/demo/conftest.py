"""One real run of `als-bridge demo`, shared by the tests of its output, its report and its exports.

It runs as a user runs it (a subprocess, stdout a pipe, so the view must print plain lines), with
a short `--duration`, `--logs`, and `--otlp-endpoint` / `--otlp-http` pointed at a test OTLP sink.
TMPDIR is the test's own directory, so every process the demo started can be found by the
paths in its command line afterwards.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.otlp_sink import OTLPSink

ROOT = Path(__file__).resolve().parents[2]
DURATION_S = 10


@dataclass
class DemoRun:
    returncode: int
    stdout: str
    stderr: str
    workdir: Path
    report: Path
    sink: OTLPSink

    @property
    def envoy_pids(self) -> list[int]:
        found = re.search(r"Envoy PIDs ([\d ]+)\)", self.stderr)
        assert found, self.stderr
        return [int(pid) for pid in found.group(1).split()]


def demo_env(workdir: Path) -> dict[str, str]:
    return {**os.environ, "TMPDIR": str(workdir), "PYTHONPATH": str(ROOT), "COLUMNS": "160"}


def processes_mentioning(text: str) -> list[int]:
    """PIDs of live processes whose command line contains `text`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    workdir = tmp_path_factory.mktemp("demo-run")
    report = workdir / "demo-report.html"
    with OTLPSink() as sink:
        command = [
            sys.executable, "-m", "bridge", "demo",
            "--duration", str(DURATION_S), "--rate", "6", "--logs", "--report", str(report),
            "--otlp-endpoint", sink.grpc_endpoint, "--otlp-http", sink.http_endpoint,
        ]  # fmt: skip
        result = subprocess.run(
            command,
            cwd=workdir,
            env=demo_env(workdir),
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        yield DemoRun(result.returncode, result.stdout, result.stderr, workdir, report, sink)
