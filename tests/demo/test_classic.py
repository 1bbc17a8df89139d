"""`als-bridge demo --classic`: the two-sidecar demo still prints spans and, with --metrics, series."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.demo.conftest import demo_env, processes_mentioning


@pytest.mark.envoy
def test_classic_demo_prints_spans_and_metrics(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bridge", "demo", "--classic", "--metrics", "--verbosity", "basic"]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env=demo_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "traces: " in result.stdout + result.stderr  # the debug exporter at basic verbosity
    assert 'traces_service_graph_request_total{client="a"' in result.stdout
    assert processes_mentioning(str(tmp_path)) == []
