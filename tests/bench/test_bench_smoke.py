"""The benchmark runs end to end and accounts for every entry (structure only, no timing).

Runs `bench.bench --quick` with a small load: the sink, the bridge and the load generator
as separate processes, the SDK baseline, and the JSON report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("opentelemetry.sdk.trace", reason="the SDK baseline needs the bench extra")


def test_quick_run_reports_and_accounts_for_every_entry(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "bench.bench", "--quick", "--entries", "3000", "--streams", "4"]
    cmd += ["--duration", "10", "--timeout", "20", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())

    bridge = report["bridge"]
    for key in (
        "entries_per_second",
        "cpu_seconds_per_1k_entries",
        "entries_per_cpu_second",
        "delay_ms_p50",
        "delay_ms_p99",
        "peak_rss_mib",
    ):
        assert isinstance(bridge[key], (int, float)), key
    assert bridge["entries_sent"] > 0
    assert bridge["streams_failed"] == 0
    dropped = sum(bridge["entries_dropped"].values())
    assert bridge["spans_exported"] + dropped == bridge["entries_sent"]
    assert bridge["accounted"] is True
    assert bridge["delay_samples"] > 0
    assert bridge["bridge_exit_code"] == 0
    assert report["baseline"]["entries"] > 0
    assert report["ratio_vs_sdk"] > 0
    assert "bridge entries per CPU-second" in done.stdout


def test_minimal_config_run_reports_delivered_and_lost(tmp_path: Path) -> None:
    """`--minimal`: no batch processor; the report says what was delivered, dropped and lost."""
    out = tmp_path / "bench.json"
    cmd = [sys.executable, "-m", "bench.bench", "--quick", "--minimal", "--entries", "2000", "--streams", "8"]
    cmd += ["--batch", "16", "--duration", "10", "--timeout", "20", "--no-baseline", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    bridge = json.loads(out.read_text())["bridge"]
    assert bridge["entries_sent"] == 2000
    assert bridge["entries_lost"] == 0
    assert bridge["spans_exported"] + sum(bridge["entries_dropped"].values()) == bridge["entries_sent"]
    assert bridge["accepted_per_cpu_second"] >= bridge["entries_per_cpu_second"] > 0
    assert "bridge entries per CPU-second (delivered)" in done.stdout


def test_sampling_runs_side_by_side_and_account_for_sampled_out_entries(tmp_path: Path) -> None:
    """`--sampling off,10`: two bridge runs in one invocation; at 10% about a tenth of the
    spans are exported and the rest are counted as sampled out, none lost."""
    out = tmp_path / "sampling.json"
    cmd = [sys.executable, "-m", "bench.bench", "--quick", "--entries", "3000", "--streams", "4"]
    cmd += ["--duration", "10", "--timeout", "20", "--sampling", "off,10", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    runs = json.loads(out.read_text())["sampling"]
    assert set(runs) == {"no sampler", "10%"}
    full, tenth = runs["no sampler"], runs["10%"]
    assert full["spans_sampled_out"] == 0
    assert full["entries_delivered"] == full["spans_exported"] >= full["entries_acked"] > 0
    assert tenth["entries_delivered"] >= tenth["entries_acked"] > 0
    assert 0.05 < tenth["spans_exported"] / tenth["entries_delivered"] < 0.15
    assert "delivered entries per CPU-s" in done.stdout
